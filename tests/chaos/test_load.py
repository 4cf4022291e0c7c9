"""Load on `lockgate serve`: many API triggers at once and a burst of files in a watched folder,
on SQLite and PostgreSQL. No run is lost or made twice, no "database is locked" reaches a user,
and the trigger-to-first-step latency is printed (p50, p99).

Size: LOCKGATE_CHAOS_CONCURRENT API triggers at once (200), LOCKGATE_CHAOS_FILES files in the
burst (CI 2,000, full 10,000 with LOCKGATE_CHAOS_FULL=1).
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from tests.chaos import _harness as hx

CONCURRENT = hx.size("concurrent", 200, 200)
FILES = hx.size("files", 2000, 10_000)
LOCKED = "database is locked"

PIPELINES = """
from pathlib import Path

from lockgate import pipeline, task
from lockgate.triggers import FileArrival

ROOT = Path(__file__).resolve().parent.parent


@task
def touch(what: str) -> str:
    return what


@pipeline
def quick(tag: str = ""):
    return touch(tag)


@pipeline(triggers=[FileArrival(str(ROOT / "burst"), pattern="*.evt", settle_seconds=1)])
def onfile(event: dict):
    return touch(event["key"])
"""


def project(root: Path) -> Path:
    folder = root / "pipelines"
    folder.mkdir()
    (root / "burst").mkdir()
    (folder / "load.py").write_text(PIPELINES)
    return folder


def all_done(pipeline: str, count: int) -> Any:
    def check() -> list[Any]:
        runs = [r for r in hx.store_runs() if r.pipeline == pipeline]
        ended = len(runs) >= count and all(r.status not in ("QUEUED", "RUNNING") for r in runs)
        return runs if ended else []

    check.__name__ = f"{count} {pipeline} runs ended"
    return check


@pytest.mark.slow
@pytest.mark.timeout(3600 if hx.full() else 600)
@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_concurrent_triggers_and_a_burst_of_files_lose_nothing(
    tmp_path: Path, home: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ExitStack() as stack:
        hx.use_store(store, monkeypatch, stack)
        folder = project(tmp_path)
        service = hx.Service(folder, tmp_path / "serve.log")
        service.start()
        stack.callback(service.stop)
        token = service.token(home)

        # 1. CONCURRENT API triggers at once, from as many threads
        barrier = threading.Barrier(CONCURRENT)
        sent: dict[str, float] = {}
        answers: dict[str, tuple[int, str]] = {}

        def trigger(i: int) -> None:
            tag = f"q{i:04d}"
            barrier.wait()
            sent[tag] = time.time()
            answers[tag] = hx.post_json(
                f"{service.url}/api/pipelines/quick/trigger", {"params": {"tag": tag}}, token, 120
            )

        threads = [threading.Thread(target=trigger, args=(i,)) for i in range(CONCURRENT)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        refused = {tag: answer for tag, answer in answers.items() if answer[0] != 200}
        assert len(answers) == CONCURRENT and not refused, refused
        assert not [a for a in answers.values() if LOCKED in a[1]]
        made = {json.loads(text)["run_id"]: tag for tag, (_, text) in answers.items()}
        assert len(made) == CONCURRENT  # each answer a run of its own
        quick = hx.wait_until_or_report(all_done("quick", CONCURRENT), timeout=600 if hx.full() else 300)
        assert sorted(r.params["tag"] for r in quick) == sorted(sent), "a trigger without its run, or one twice"
        assert all(r.status == "SUCCEEDED" for r in quick), [(r.run_id, r.status, r.error) for r in quick]
        first = hx.first_step_times()
        api_latency = [first[r.run_id] - sent[r.params["tag"]] for r in quick]

        # 2. FILES files dropped as fast as possible
        written: dict[str, float] = {}
        burst = tmp_path / "burst"
        began = time.time()
        for i in range(FILES):
            name = f"e{i:05d}.evt"
            (burst / name).write_text(name)
            written[name] = time.time()
        wrote_for = time.time() - began
        onfile = hx.wait_until_or_report(all_done("onfile", FILES), timeout=3000 if hx.full() else 420, every=2.0)
        time.sleep(3)  # a duplicate made late would show now
        onfile = [r for r in hx.store_runs() if r.pipeline == "onfile"]
        took = max(r.ended_at or 0 for r in onfile) - began
        keys = [r.params["event"]["key"] for r in onfile]
        assert len(keys) == FILES and set(keys) == set(written), (
            f"{len(keys)} runs for {FILES} files; {len(set(written) - set(keys))} files without a run, "
            f"{len(keys) - len(set(keys))} made twice"
        )
        assert all(r.status == "SUCCEEDED" for r in onfile), [(r.run_id, r.status, r.error) for r in onfile][:20]
        first = hx.first_step_times()
        file_latency = [first[r.run_id] - written[r.params["event"]["key"]] for r in onfile]
        service.stop()
        output = service.output()
        assert LOCKED not in output, output[output.index(LOCKED) - 2000 :][:4000]
        assert "Traceback" not in output, output[output.index("Traceback") - 2000 :][:6000]
        from lockgate.runtime import close_default

        close_default()
    hx.summary(
        "load",
        [
            f"{store}: {CONCURRENT} concurrent API triggers, all answered 200 and ran once; "
            + hx.latency_line("trigger to first step", api_latency),
            f"{store}: {FILES} files written in {wrote_for:.1f} s, {FILES} runs, all done {took:.1f} s after the "
            f"first file ({FILES / took:.0f} runs/s); " + hx.latency_line("file to first step", file_latency),
        ],
    )
