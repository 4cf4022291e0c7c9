"""The demos `scripts/demo` runs, in order, and the test suite runs too (tests/e2e/test_examples.py).

Each demo is a short story: commands run one after the other in one folder, where `examples/`
is this folder (scripts/demo links it into ./demo-home). A command is a `lockgate` or `python3`
command line without quotes or spaces inside arguments; beside it, the status it ends with.
`python3 examples/demo_targets.py` prints one `STATUS COMMAND` a line.
"""

SUCCEEDED, FAILED = "SUCCEEDED", "FAILED"

DEMOS: list[list[tuple[str, str]]] = [
    [("lockgate run examples/hello.py:hello", SUCCEEDED)],
    # 1. the feedback pipelines
    [("lockgate run examples/feedback.py:feedback", SUCCEEDED)],
    [("lockgate run examples/feedback_lake.py:feedback_lake", SUCCEEDED)],
    [("lockgate run examples/feedback_manifest.py:feedback_batch", SUCCEEDED)],
    [
        ("lockgate run examples/feedback_daily.py:feedback_daily", SUCCEEDED),
        (
            "lockgate run examples/warehouse_load.py:warehouse_load"
            " --param lake=lake/daily/enriched --param stand_in=false --param warehouse=sqlite:///daily.db",
            SUCCEEDED,
        ),
    ],
    [("lockgate run examples/warehouse_load.py:warehouse_load", SUCCEEDED)],
    # 2. a Spark job submitted and polled by a state machine
    [
        (
            "lockgate asl run --definition examples/spark_poll.asl.json --input examples/spark_poll.input.json",
            SUCCEEDED,
        )
    ],
    # 3. the Glue-style workflow, as a pipeline and as a state machine
    [("lockgate run examples/glue_workflow.py:glue_workflow", SUCCEEDED)],
    [
        (
            "lockgate asl run --definition examples/glue_workflow.asl.json --input examples/glue_workflow.input.json",
            SUCCEEDED,
        )
    ],
    # 4. retries with a backoff rate (the pipeline with 1 s for 10 s: waits of 1, 1.5, 2.25 s)
    [("lockgate run examples/retry_backoff.py:retry_backoff --param interval=1", SUCCEEDED)],
    [("python3 examples/retry_backoff_asl.py", SUCCEEDED)],
    # 5. a hard failure (not retried) beside a soft one (retried): the run fails, on purpose
    [("lockgate run examples/failures.py:hard_and_soft", FAILED)],
]

for _story in DEMOS:
    for _command, _status in _story:
        assert "'" not in _command and '"' not in _command and _status in (SUCCEEDED, FAILED), _command

if __name__ == "__main__":
    for story in DEMOS:
        for command, status in story:
            print(status, command)
