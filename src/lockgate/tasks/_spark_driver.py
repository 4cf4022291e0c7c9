"""Runs a PySpark application under spark-submit, printing its application id once known.

spark-submit runs this file with the application's path and arguments after it; local mode
logs no application id, so this writes `lockgate: application_id=ID` to the driver log when
the application's SparkContext starts, then runs the application as `__main__`.
"""

from __future__ import annotations

import os
import sys

# Python put this file's folder first on sys.path; its modules (http.py, ...) would hide the
# standard library's from the application, so the application's own folder takes its place.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import runpy  # noqa: E402


def main() -> None:
    application = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(application)))
    try:
        from pyspark import SparkContext
    except ImportError:  # not PySpark after all: just run it
        SparkContext = None  # noqa: N806
    if SparkContext is not None:
        original = SparkContext.__init__

        def init(self: SparkContext, *args: object, **kwargs: object) -> None:
            original(self, *args, **kwargs)
            sys.stderr.write(f"lockgate: application_id={self.applicationId}\n")
            sys.stderr.flush()

        SparkContext.__init__ = init  # type: ignore[method-assign]
    runpy.run_path(application, run_name="__main__")


if __name__ == "__main__":
    main()
