"""`python -m lockgate` is the `lockgate` command."""

from lockgate.cli import run_main

run_main()
