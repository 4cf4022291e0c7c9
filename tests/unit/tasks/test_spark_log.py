"""Reading a Spark driver log: the Python exception out of the JVM's chatter."""

from __future__ import annotations

from lockgate.tasks.spark import python_exception

LOG = """\
26/11/25 06:21:18 INFO Executor: Starting executor ID driver on host localhost
lockgate: application_id=local-1795587678707
Traceback (most recent call last):
  File "/x/lockgate/tasks/_spark_driver.py", line 42, in <module>
    main()
  File "<frozen runpy>", line 291, in run_path
  File "/jobs/app.py", line 7, in <module>
    raise ValueError("boom\\nsecond line")
ValueError: boom
second line
26/11/25 06:21:22 INFO SparkContext: Invoking stop() from shutdown hook
"""


def test_the_last_traceback_without_lockgates_frames_up_to_the_next_log_line() -> None:
    assert python_exception(LOG.splitlines()) == [
        "Traceback (most recent call last):",
        '  File "/jobs/app.py", line 7, in <module>',
        '    raise ValueError("boom\\nsecond line")',
        "ValueError: boom",
        "second line",
    ]


def test_no_traceback_gives_nothing() -> None:
    assert python_exception(["26/11/25 06:21:18 INFO Executor: fine"]) == []
