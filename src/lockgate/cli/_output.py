"""How commands print: JSON for scripts, rich tables for people, exit codes by convention."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

from lockgate import _json
from lockgate.config import mask_url

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# Optional packages and the extra (pyproject.toml) that installs each.
_EXTRAS = {
    "fastapi": "server",
    "uvicorn": "server",
    "jinja2": "server",
    "prometheus_client": "server",
    "multipart": "server",
    "pyarrow": "lake",
    "duckdb": "lake",
    "frictionless": "lake",
    "jsonschema": "lake",
    "s3fs": "s3",
    "fsspec": "s3",
    "boto3": "s3",
    "cronsim": "triggers",
    "watchdog": "triggers",
    "jsonpath_ng": "asl",
    "jsonata": "asl",
    "yaml": "asl",
    "pyspark": "spark",
    "psycopg": "postgres",
    "pymysql": "mysql",
    "httpx": "http",
    "celery": "celery",
    "kombu": "celery",
    "redis": "celery",
}


class Exit(Exception):
    """Leave the command with this exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def emit_json(value: Any) -> None:
    sys.stdout.write(_json.dumps(value) + "\n")
    sys.stdout.flush()


def console() -> Any:
    from rich.console import Console

    # Piped into a file or another program, tables keep a readable width instead of 80 columns.
    return Console(highlight=False, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 140)


def error_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def fail(exc: BaseException) -> int:
    """Print an exception the way its kind deserves and return the exit code."""
    import typer

    from lockgate.core.errors import LockgateError, UsageError

    if isinstance(exc, typer.Exit):
        return int(exc.exit_code)
    if isinstance(exc, typer.Abort):
        print("aborted", file=sys.stderr)
        return 130
    # Typer raises usage errors (unknown option, missing argument) from its own copy of click:
    # recognise them by what they can do rather than by class.
    if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
        exc.show(file=sys.stderr)  # type: ignore[attr-defined]
        return EXIT_USAGE
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        top = exc.name.split(".")[0]
        extra = _EXTRAS.get(top)
        if extra is not None:
            print(f"error: this needs the optional package {top!r}: pip install 'lockgate[{extra}]'", file=sys.stderr)
            return EXIT_USAGE
    if isinstance(exc, (UsageError, LockgateError)):
        print(f"error: {mask_url(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    traceback.print_exception(exc, file=sys.stderr)
    return EXIT_FAILED


def print_value(out: Any, prefix: str, value: Any, *, more: str = "", max_lines: int = 40) -> None:
    """`prefix` (rich markup) then a JSON value: on the same line when it fits, else below it,
    indented, so it folds between items rather than inside a word. A value longer than
    `max_lines` lines stops at a line's end, saying how many more and `more` (where it is whole).
    """
    import json

    from rich.text import Text

    compact = json.dumps(value, default=_json_default, ensure_ascii=False)
    head = Text.from_markup(prefix)
    if head.cell_len + 1 + len(compact) <= out.width:
        out.print(head + Text(" " + compact), soft_wrap=True)
        return
    lines = json.dumps(value, default=_json_default, ensure_ascii=False, indent=2).splitlines()
    out.print(head)
    for line in lines[:max_lines]:
        out.print(Text("  " + line), soft_wrap=True)  # a long string wraps on the terminal, never cut
    if len(lines) > max_lines:
        out.print(Text(f"  ({len(lines) - max_lines} more lines{'; ' + more if more else ''})", style="dim"))


def fold_json(value: Any, limit: int = 400) -> str:
    """JSON for a table cell: spaced after commas so the cell wraps between items, and at most
    `limit` characters, ending at an item's boundary with `…` when it is longer."""
    import json

    text = json.dumps(value, default=_json_default, ensure_ascii=False, separators=(", ", ": "))
    if len(text) <= limit:
        return text
    cut = text.rfind(", ", 0, limit)
    return (text[:cut] if cut > 0 else text[:limit]) + ", …"


def _json_default(value: Any) -> Any:
    return _json.loads(_json.dumps(value))


def require_home() -> None:
    """Stop a command that only reads when there is no lockgate home here (or not lockgate's).

    Called before such a command opens the store, which would otherwise create an empty home
    wherever the user happened to look; commands that run something create it as before.
    """
    from lockgate.config import load

    load().check_home()


def parse_params(pairs: list[str]) -> dict[str, str]:
    """`--param NAME=VALUE` options as a dict; raises UsageError naming a malformed one."""
    from lockgate.core.errors import UsageError

    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {pair!r}: expected NAME=VALUE")
        params[key] = value
    return params


def status_code(status: str) -> int:
    return EXIT_OK if status == "SUCCEEDED" else EXIT_FAILED
