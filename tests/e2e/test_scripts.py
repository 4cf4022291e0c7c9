"""scripts/_venv.sh, which scripts/demo and scripts/test share: the project's .venv, reused, quiet.

The real install takes minutes, so these tests give it a venv without pip: the up-to-date case
must not touch pip at all, and a stale one must fail loudly with pip's whole output.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the files _venv.sh reads, a venv without pip, and a PATH with only system tools."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "_venv.sh", tmp_path / "scripts" / "_venv.sh")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / ".venv")], check=True)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "python3").symlink_to(sys.executable)
    return tmp_path, {"PATH": f"{tools}:/usr/bin:/bin", "HOME": str(tmp_path)}


def use_venv(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = '. scripts/_venv.sh && use_venv dev && echo "PATH=$PATH"'
    return subprocess.run(["bash", "-c", script], cwd=folder, env=env, capture_output=True, text=True, timeout=60)


def stamp_for(folder: Path, extra: str) -> str:
    digest = subprocess.run(
        "cat pyproject.toml scripts/_venv.sh | cksum", shell=True, cwd=folder, capture_output=True, text=True
    ).stdout.strip()
    return f"{extra} {digest}\n"


def test_an_up_to_date_venv_is_reused_without_installing(tmp_path: Path) -> None:
    folder, env = project(tmp_path)
    (folder / ".venv" / ".lockgate-installed").write_text(stamp_for(folder, "dev"))
    done = use_venv(folder, env)
    assert done.returncode == 0, done.stderr
    assert "Installing" not in done.stdout and not (folder / ".venv" / "install.log").exists()
    assert done.stdout.strip().splitlines()[-1].startswith(f"PATH={folder / '.venv' / 'bin'}:")


def test_a_stale_venv_installs_and_a_failed_install_shows_the_whole_log(tmp_path: Path) -> None:
    folder, env = project(tmp_path)
    (folder / ".venv" / ".lockgate-installed").write_text(stamp_for(folder, "dev"))
    (folder / "pyproject.toml").write_text((folder / "pyproject.toml").read_text() + "\n# changed\n")
    done = use_venv(folder, env)
    assert done.returncode == 1
    assert "Installing lockgate[dev] into .venv" in done.stdout
    log = (folder / ".venv" / "install.log").read_text()
    assert "No module named pip" in log and log.strip() in done.stderr  # the log, whole
    assert "installing lockgate[dev] into" in done.stderr
    assert stamp_for(folder, "dev") not in (folder / ".venv" / ".lockgate-installed").read_text()  # not marked done


def test_a_broken_venv_is_named_not_replaced(tmp_path: Path) -> None:
    folder, env = project(tmp_path)
    shutil.rmtree(folder / ".venv" / "bin")
    done = use_venv(folder, env)
    assert done.returncode == 1 and "its Python does not run; remove it" in done.stderr
    assert (folder / ".venv").is_dir()
