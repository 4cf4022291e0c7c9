import subprocess
import sys
from pathlib import Path

import lockgate


def test_all_lists_exactly_the_public_names() -> None:
    assert sorted(lockgate.__all__) == sorted(
        [
            "CycleError", "DataQualityError", "HTTPStatusError", "LockgateError", "Pipeline", "Retry",
            "RetryPolicy", "Run", "RunFailed", "Runtime", "StepContext", "StepTimeout", "StepView", "Task",
            "TaskError", "UsageError", "__version__", "context", "group", "pipeline", "run", "short_circuit", "task",
        ]
    )  # fmt: skip
    for name in lockgate.__all__:
        assert hasattr(lockgate, name), name


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(out.split())


def test_the_core_imports_no_io_adapters() -> None:
    loaded = _modules_after("import lockgate.core.engine, lockgate.core.retry, lockgate.core.model")
    forbidden = {"sqlalchemy", "lockgate.store", "lockgate.runtime", "lockgate.executors", "socket", "sqlite3"}
    assert not forbidden & loaded


def test_the_core_never_reads_the_clock_or_draws_randomness() -> None:
    core = Path(lockgate.__file__).parent / "core"
    for path in core.glob("*.py"):
        text = path.read_text()
        for banned in ("import random", "time.time(", "datetime.now(", "time.sleep(", "open("):
            assert banned not in text, f"{path.name} uses {banned}"


def test_importing_lockgate_stays_light() -> None:
    loaded = _modules_after("import lockgate")
    heavy = {"sqlalchemy", "pyarrow", "duckdb", "fastapi", "pyspark", "boto3", "s3fs", "httpx"}
    assert not heavy & loaded
