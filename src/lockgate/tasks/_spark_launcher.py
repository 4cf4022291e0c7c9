"""Runs one spark-submit detached from the step that started it, and records how it ended.

Started as a script (`python _spark_launcher.py FOLDER`, standard library only) in its own
session. It writes its pid to FOLDER/launcher.pid, reads FOLDER/command.json, runs the
command with its output in FOLDER/driver.log, and on exit writes FOLDER/status.json
atomically: {"exit_code", "ended_at", "stopped"}.
The status file is how a later process, even after a restart, learns the outcome.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


def main(folder: str) -> int:
    with open(os.path.join(folder, "command.json"), encoding="utf-8") as handle:
        command = json.load(handle)
    temp = os.path.join(folder, "launcher.pid.tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(str(os.getpid()))
    os.replace(temp, os.path.join(folder, "launcher.pid"))
    stopped = False
    with open(os.path.join(folder, "driver.log"), "ab") as log:
        child = subprocess.Popen(
            command["argv"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **command["env"]},
            cwd=command.get("cwd") or None,
        )

        def stop(signum: int, _frame: object) -> None:
            nonlocal stopped
            stopped = True
            try:
                child.send_signal(signum)
            except ProcessLookupError:
                pass

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while True:
            try:
                code = child.wait()
                break
            except InterruptedError:
                continue
    status = {"exit_code": code, "ended_at": time.time(), "stopped": stopped}
    temp = os.path.join(folder, "status.json.tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump(status, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, os.path.join(folder, "status.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
