# shellcheck shell=bash
# The project's virtual environment, for scripts/demo and scripts/test (sourced, not run).
#
# `use_venv EXTRA` makes ./.venv when it is missing (with uv where it is installed, else
# `python3 -m venv`; $PYTHON chooses another interpreter), installs lockgate[EXTRA] into it
# editable, and puts .venv/bin first on PATH. Nothing is ever installed into the interpreter
# that started the script, so a Python that refuses installs outside a venv (PEP 668) is fine.
# pip's output goes to .venv/install.log and is shown whole only when the install fails. A
# stamp holding a hash of pyproject.toml skips the install when nothing changed since the last.

VENV="$PWD/.venv"

_venv_python() {
  local python="${PYTHON:-python3}"
  if ! command -v "$python" >/dev/null 2>&1; then
    echo "error: $python not found: lockgate needs Python 3.11 or newer (set PYTHON=/path/to/python3)" >&2
    return 2
  fi
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "error: $python is Python $("$python" -c 'import platform; print(platform.python_version())'):" \
      "lockgate needs 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    return 2
  fi
  echo "$python"
}

_venv_create() {
  local python
  python=$(_venv_python) || return 2
  echo "Creating the virtual environment .venv (with $python)"
  if command -v uv >/dev/null 2>&1; then
    uv venv --quiet --python "$python" "$VENV" || return 1
  elif ! "$python" -m venv "$VENV" >/dev/null 2>"$VENV.err"; then
    cat "$VENV.err" >&2
    rm -rf "$VENV" "$VENV.err"
    echo "error: '$python -m venv' failed; on Debian or Ubuntu, install python3-venv (apt-get install python3-venv)" >&2
    return 1
  fi
  rm -f "$VENV.err"
}

use_venv() {
  local extra="$1" stamp want
  if [ -e "$VENV" ] && ! "$VENV/bin/python" -c pass >/dev/null 2>&1; then
    echo "error: $VENV exists but its Python does not run; remove it and run this again" >&2
    return 1
  fi
  [ -e "$VENV" ] || _venv_create || return $?
  want="$(cat pyproject.toml "${BASH_SOURCE[0]}" | cksum)"
  stamp="$VENV/.lockgate-installed"
  # dev includes all: an environment made for the tests also serves the demo
  if [ -f "$stamp" ] && { grep -qxF "$extra $want" "$stamp" || grep -qxF "dev $want" "$stamp"; }; then
    export PATH="$VENV/bin:$PATH"
    return 0
  fi
  echo "Installing lockgate[$extra] into .venv (the first time takes a few minutes; log: .venv/install.log)"
  local status=0
  if [ -x "$VENV/bin/pip" ] || ! command -v uv >/dev/null 2>&1; then
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -e ".[$extra]" \
      >"$VENV/install.log" 2>&1 || status=$?
  else
    uv pip install --python "$VENV/bin/python" -e ".[$extra]" >"$VENV/install.log" 2>&1 || status=$?
  fi
  if [ "$status" -ne 0 ]; then
    cat "$VENV/install.log" >&2
    echo "error: installing lockgate[$extra] into $VENV failed (above, also in .venv/install.log)" >&2
    return 1
  fi
  if [ -f "$stamp" ] && grep -qF " $want" "$stamp"; then
    echo "$extra $want" >>"$stamp"
  else
    echo "$extra $want" >"$stamp"  # pyproject.toml changed: earlier installs no longer count
  fi
  export PATH="$VENV/bin:$PATH"
}
