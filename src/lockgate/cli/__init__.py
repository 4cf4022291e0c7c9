"""The `lockgate` command. Each area's commands live in a module of this package."""

from __future__ import annotations

import sys

import typer

from lockgate.cli import _output

app = typer.Typer(
    name="lockgate",
    help="Durable data pipelines: Python DAGs and Amazon States Language state machines on one engine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from lockgate import __version__

        typer.echo(f"lockgate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    pass


def _register() -> None:
    # One line per area; each module adds its commands to `app`.
    from lockgate.cli import (
        asl,  # noqa: F401
        catalog,  # noqa: F401
        notify,  # noqa: F401
        runs,  # noqa: F401
        service,  # noqa: F401
        tokens,  # noqa: F401
        workers,  # noqa: F401
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the command and returns its exit code (2 for bad input, never a traceback)."""
    _register()
    try:
        code = app(args=argv, prog_name="lockgate", standalone_mode=False)
    except _output.Exit as exc:
        return exc.code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        return _output.fail(exc)
    finally:
        if "lockgate.runtime" in sys.modules:
            sys.modules["lockgate.runtime"].close_default()
    return code if isinstance(code, int) else 0


def run_main() -> None:
    sys.exit(main())
