"""`lockgate serve` killed with SIGKILL at seeded random moments, and restarted, while Python
pipelines and state machines run; afterwards every run is as it would have been without the kills.

The runs: Python pipelines with a `.map`, retries and a pipeline started by another's success;
state machines with a Wait, Retry, an inline Map, a Catch and a child execution
(`startExecution.sync:2`). They are started by files dropped in a watched folder, by the API
and by `lockgate trigger`, while the service is up or down (API triggers are sent again with
their idempotency key until the service answers). Every task writes a side-effect ledger.

Size: LOCKGATE_CHAOS_RUNS runs (CI 40, full 200), LOCKGATE_CHAOS_KILLS kills (CI 5, full 20),
LOCKGATE_CHAOS_SEED (13); LOCKGATE_CHAOS_FULL=1 for the full size.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from tests.chaos import _harness as hx

RUNS = hx.size("runs", 40, 200)
KILLS = hx.size("kills", 5, 20)
SEED = hx.size("seed", 13, 13)

PIPELINES = (
    hx.LEDGER_CODE
    + '''
import lockgate
from lockgate import Retry, pipeline, task
from lockgate.triggers import FileArrival, PipelineSucceeded

ROOT = Path(__file__).resolve().parent.parent


def mark(what):
    """Ledger entry of this attempt; returns which try of the step it is (1 for the first)."""
    ctx = lockgate.context()
    tries = ctx.attempt - ctx.interruptions
    token = f"{ctx.run_id}:{ctx.step}:{ctx.attempt}"
    note({"kind": "python", "key": [ctx.run_id, ctx.step], "what": what, "token": token, "try": tries,
          "idempotency_key": ctx.idempotency_key})
    return tries


@task
def split(event: dict) -> list[int]:
    mark("start")
    time.sleep(0.05)
    count = int(Path(event["key"]).stem.split("_")[1])
    mark("done")
    return list(range(count))


@task(retry=Retry(interval=0.1, max_attempts=3))
def work(item: int) -> int:
    tries = mark("start")
    time.sleep(0.1)
    if item % 2 and tries == 1:
        raise RuntimeError("odd items fail their first try")
    mark("done")
    return item * 2


@task
def total(values: list[int]) -> int:
    mark("start")
    mark("done")
    return sum(values)


@pipeline(triggers=[FileArrival(str(ROOT / "landing"), pattern="*.fan", settle_seconds=1)])
def fan(event: dict):
    return total(work.map(split(event)))


@task
def slow(n: int) -> int:
    mark("start")
    time.sleep(1.0)  # long enough for a kill to catch it in flight now and then
    mark("done")
    return n


@task(retry=Retry(interval=0.1, max_attempts=2))
def once_flaky(x: int) -> int:
    if mark("start") == 1:
        raise RuntimeError("fails its first try")
    mark("done")
    return x + 1


@task(retry=Retry(interval=0.1, max_attempts=2))
def finish(x: int, fail: bool) -> int:
    mark("start")
    if fail:
        raise ValueError("asked to fail")
    mark("done")
    return x * 10


@pipeline
def chain(n: int, fail: bool = False, tag: str = ""):
    return finish(once_flaky(slow(n)), fail)


@task
def echo(event: dict) -> int:
    mark("start")
    mark("done")
    return event["output"] + 1


@pipeline(triggers=[PipelineSucceeded("fan")])
def follow(event: dict):
    return echo(event)
'''
)

TASKS = (
    hx.LEDGER_CODE
    + """

class Flaky(Exception):
    pass


def _task(run, state, retry, index, fn):
    key = [run, state, index]
    token = uuid.uuid4().hex
    note({"kind": "asl", "key": key, "what": "start", "token": token, "try": retry})
    value = fn()
    note({"kind": "asl", "key": key, "what": "done", "token": token, "try": retry})
    return {"value": value, "token": token}


def prep(key, run, state, retry):
    def go():
        time.sleep(0.05)
        if retry == 0:
            raise Flaky("the first try fails")
        return list(range(int(key.split(".")[0].split("_")[1])))
    return _task(run, state, retry, -1, go)


def square(x, index, run, state, retry):
    def go():
        time.sleep(0.1)
        return x * x
    return _task(run, state, retry, index, go)


def boom(run, state, retry):
    def go():
        raise ValueError("caught by the Catch")
    return _task(run, state, retry, -1, go)


def double(n, run, state, retry):
    return _task(run, state, retry, -1, lambda: 2 * n)


def work(n, fail, run, state, retry):
    def go():
        time.sleep(0.2)
        if retry == 0:
            raise Flaky("the first try fails")
        if fail:
            raise ValueError("asked to fail")
        return {"n": n + 1, "items": [1, 2]}
    return _task(run, state, retry, -1, go)
"""
)

CHILD_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:child"


def _ctx(**more: str) -> dict[str, str]:
    return {"run.$": "$$.Execution.Name", "state.$": "$$.State.Name", "retry.$": "$$.State.RetryCount", **more}


FLOW = {
    "StartAt": "Start",
    "States": {
        "Start": {"Type": "Pass", "Parameters": {"key.$": "$.key"}, "Next": "Hold"},
        "Hold": {"Type": "Wait", "Seconds": 1, "Next": "Prep"},
        "Prep": {"Type": "Task", "Resource": "python:_chaos_tasks:prep", "Parameters": _ctx(**{"key.$": "$.key"}),
                 "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                 "ResultSelector": {"items.$": "$.value"}, "ResultPath": "$.prep", "Next": "Fan"},
        "Fan": {"Type": "Map", "ItemsPath": "$.prep.items", "MaxConcurrency": 2,
                "ItemSelector": {"x.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index",
                                 "run.$": "$$.Execution.Name"},
                "ItemProcessor": {"StartAt": "Square", "States": {"Square": {
                    "Type": "Task", "Resource": "python:_chaos_tasks:square",
                    "Parameters": {"x.$": "$.x", "index.$": "$.index", "run.$": "$.run", "state.$": "$$.State.Name",
                                   "retry.$": "$$.State.RetryCount"},
                    "ResultSelector": {"v.$": "$.value"}, "OutputPath": "$.v", "End": True}}},
                "ResultPath": "$.squares", "Next": "Risky"},
        "Risky": {"Type": "Task", "Resource": "python:_chaos_tasks:boom", "Parameters": _ctx(),
                  "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Child"}],
                  "Next": "Child"},
        "Child": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                  "Parameters": {"StateMachineArn": CHILD_ARN,
                                 "Input": {"n.$": "States.ArrayLength($.squares)", "parent.$": "$$.Execution.Name"}},
                  "ResultSelector": {"out.$": "$.Output"}, "ResultPath": "$.child", "Next": "Done"},
        "Done": {"Type": "Pass", "Parameters": {"squares.$": "$.squares", "caught.$": "$.caught.Error",
                                                "child.$": "$.child.out"}, "End": True},
    },
}  # fmt: skip

CHILD = {
    "StartAt": "Hold",
    "States": {"Hold": {"Type": "Wait", "Seconds": 1, "Next": "Double"},
               "Double": {"Type": "Task", "Resource": "python:_chaos_tasks:double",
                          "Parameters": _ctx(**{"n.$": "$.n"}),
                          "ResultSelector": {"doubled.$": "$.value"}, "End": True}},
}  # fmt: skip

ASK = {
    "StartAt": "Hold",
    "States": {
        "Hold": {"Type": "Wait", "Seconds": 1, "Next": "Work"},
        "Work": {"Type": "Task", "Resource": "python:_chaos_tasks:work",
                 "Parameters": _ctx(**{"n.$": "$.n", "fail.$": "$.fail"}),
                 "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 1}],
                 "ResultSelector": {"n.$": "$.value.n", "n_items.$": "$.value.items"}, "Next": "Spread"},
        "Spread": {"Type": "Map", "ItemsPath": "$.n_items", "ResultPath": "$.spread",
                   "ItemSelector": {"x.$": "$$.Map.Item.Value"},
                   "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                                     "StartAt": "Pause", "States": {
                       "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Square"},
                       "Square": {"Type": "Task", "Resource": "python:_chaos_tasks:square",
                                  "Parameters": {"x.$": "$.x", "index": -1, "run.$": "$$.Execution.Name",
                                                 "state.$": "$$.State.Name", "retry.$": "$$.State.RetryCount"},
                                  "ResultSelector": {"v.$": "$.value"}, "OutputPath": "$.v", "End": True}}},
                   "End": True},
    },
}  # fmt: skip


def project(root: Path) -> Path:
    folder = root / "pipelines"
    folder.mkdir()
    (root / "landing").mkdir()
    (folder / "flows.py").write_text(PIPELINES)
    (folder / "_chaos_tasks.py").write_text(TASKS)
    for name, definition in (("flow", FLOW), ("child", CHILD), ("ask", ASK)):
        (folder / f"{name}.asl.json").write_text(json.dumps(definition))
    (folder / "lockgate.toml").write_text(
        f"""
[asl.state_machines.flow]
definition = "flow.asl.json"
file_arrival = {{uri = "../landing", pattern = "*.sm", settle_seconds = 1}}

[asl.state_machines.child]
definition = "child.asl.json"

[asl.state_machines.ask]
definition = "ask.asl.json"

[asl.resources]
"{CHILD_ARN}" = "asl:{folder / "child.asl.json"}"
"""
    )
    return folder


# -- what each run should end as --------------------------------------------------------------------


def expected_fan(count: int) -> int:
    return sum(2 * i for i in range(count))


def expected_flow(count: int) -> dict[str, Any]:
    return {"squares": [i * i for i in range(count)], "caught": "ValueError", "child": {"doubled": 2 * count}}


def plan(rng: random.Random, runs: int) -> list[dict[str, Any]]:
    """The runs to start: their kind, how they are triggered, their parameters."""
    out = []
    for i in range(runs):
        kind = ("fan", "flow", "chain", "ask")[i % 4]
        via = "file" if kind in ("fan", "flow") else rng.choice(["api", "api", "cli"])
        fail = kind in ("chain", "ask") and rng.random() < 0.25
        out.append({"i": i, "kind": kind, "via": via, "n": rng.randint(1, 4), "fail": fail, "tag": f"t{i:04d}"})
    return out


def send(item: dict[str, Any], root: Path, folder: Path, service: hx.Service, token: str, answers: list[str]) -> None:
    tag, n = item["tag"], item["n"]
    if item["via"] == "file":
        suffix = "fan" if item["kind"] == "fan" else "sm"
        (root / "landing" / f"{tag}_{n}.{suffix}").write_text(tag)
        return
    params = {"n": n, "fail": item["fail"], "tag": tag}
    key = f"chaos-{tag}"
    if item["via"] == "api":
        hx.trigger_until_answered(service, token, item["kind"], params, key, answers, time.monotonic() + 300)
        return
    args = ["trigger", item["kind"], "--pipelines", str(folder), "--idempotency-key", key]
    for name, value in params.items():
        args += ["-p", f"{name}={json.dumps(value) if not isinstance(value, str) else value}"]
    done = hx.lockgate_cli(*args)
    assert done.returncode == 0, f"lockgate {' '.join(args)}: {done.stderr}"


@pytest.mark.slow
@pytest.mark.timeout(1800 if hx.full() else 420)
@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_serve_killed_at_random_moments_loses_nothing_and_reruns_no_success(
    tmp_path: Path, home: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKGATE_ENGINE__MAX_WORKERS", "4")
    monkeypatch.setenv("LOCKGATE_TRIGGERS__MAX_CONCURRENT_RUNS", "12")
    rng = random.Random(SEED)
    with ExitStack() as stack:
        hx.use_store(store, monkeypatch, stack)
        folder = project(tmp_path)
        service = hx.Service(folder, tmp_path / "serve.log")
        service.start()
        stack.callback(service.stop)
        token = service.token(home)
        items = plan(rng, RUNS)
        answers: list[str] = []
        span = max(10.0, KILLS * 2.5)  # triggers spread over the time the kills take
        actions = [
            (rng.uniform(0, span), lambda item=item: send(item, tmp_path, folder, service, token, answers))
            for item in items
        ]
        feeder = hx.Feeder(actions)
        feeder.start()
        for k in range(KILLS):
            time.sleep(rng.uniform(0.3, 2.0))
            service.kill()
            time.sleep(rng.uniform(0.0, 0.5))
            if k < KILLS - 1 and rng.random() < 0.3:  # now and then, a kill while it starts (adopting runs)
                service.start(wait=False)
                time.sleep(rng.uniform(0.3, 1.5))
                service.kill()
            service.start()
        feeder.join(timeout=600)
        assert not feeder.is_alive(), "the triggers never all went through"
        assert not feeder.errors, feeder.errors

        fans = sum(i["kind"] == "fan" for i in items)
        flows = sum(i["kind"] == "flow" for i in items)
        asks = sum(i["kind"] == "ask" and not i["fail"] for i in items)
        # + a follow run per fan run, a child per flow run, two Map children per ask that succeeds
        wanted = len(items) + fans + flows + 2 * asks

        seen: list[int] = []

        def finished() -> list[Any]:
            """All runs ended, at least as many as wanted, and no new one for 3 s (extra runs are
            counted as problems; follow runs are queued after their upstream ends)."""
            runs = hx.store_runs()
            done = len(runs) >= wanted and all(r.status not in ("QUEUED", "RUNNING") for r in runs)
            seen.append(len(runs) if done else -1)
            return runs if len(seen) >= 4 and len(set(seen[-4:])) == 1 and seen[-1] >= 0 else []

        try:
            runs = hx.wait_until_or_report(finished, timeout=600 if hx.full() else 240, every=1.0)
        finally:
            service.stop()
        problems = verify(runs, items, tmp_path, store)
        from lockgate.runtime import close_default

        close_default()
    output = service.output()
    assert "database is locked" not in output
    assert "Traceback" not in output, output[output.index("Traceback") - 2000 :][:6000]
    ledger = hx.read_ledger(tmp_path / "ledger.jsonl")
    pids: dict[tuple[Any, ...], set[int]] = {}
    for entry in ledger:
        pids.setdefault(tuple(entry["key"]), set()).add(entry["pid"])
    hit = sum(len(p) > 1 for p in pids.values())  # tasks a kill caught in flight, run again by the next serve
    hx.summary(
        "crash",
        [f"{store}: {len(items)} runs triggered, {len(runs)} runs in all, {KILLS} kills (seed {SEED}), "
         f"{len(ledger)} ledger entries, {hit} tasks caught in flight by a kill, {len(problems)} problems"],
    )  # fmt: skip
    assert not problems, "\n".join(problems[:60])


def input_of(run: Any) -> Any:
    """A state machine run's input: the trigger's event or params when queued, `input` once created."""
    params = run.params
    return params.get("input", params.get("event", params))


def verify(runs: list[Any], items: list[dict[str, Any]], root: Path, store: str) -> list[str]:
    """Everything the kills must not have changed; a list of what is wrong."""
    from lockgate.asl import durable
    from lockgate.runtime import default_runtime

    runtime = default_runtime()
    problems: list[str] = []
    by_kind: dict[str, list[Any]] = {}
    for run in runs:
        by_kind.setdefault(run.pipeline, []).append(run)
    wanted = {item["tag"]: item for item in items}

    def one_per(kind: str, ident: Any, what: str) -> dict[Any, Any]:
        found: dict[Any, Any] = {}
        for run in by_kind.get(kind, []):
            key = ident(run)
            if key in found:
                problems.append(f"{kind}: two runs for {what} {key}: {found[key].run_id} {run.run_id}")
            found[key] = run
        return found

    def outcome(run: Any, want_status: str, want_output: Any = None, want_error: str | None = None) -> None:
        got = (run.status, run.output if want_status == "SUCCEEDED" else run.error)
        want = (want_status, want_output if want_status == "SUCCEEDED" else want_error)
        if got != want:
            problems.append(f"{run.pipeline} {run.run_id}: {got}, wanted {want} ({run.cause})")

    # one run per file, per API/CLI trigger, per succeeded upstream run, per parent execution
    fan = one_per("fan", lambda r: r.params["event"]["key"], "file")
    flow = one_per("flow", lambda r: input_of(r)["key"], "file")
    chain = one_per("chain", lambda r: r.params["tag"], "trigger")
    ask = one_per("ask", lambda r: input_of(r)["tag"], "trigger")
    follow = one_per("follow", lambda r: r.params["event"]["run_id"], "upstream run")
    child = one_per("child", lambda r: input_of(r)["parent"], "parent")
    files = {f"{i['tag']}_{i['n']}.{'fan' if i['kind'] == 'fan' else 'sm'}": i for i in items if i["via"] == "file"}
    for kind, found in (("fan", fan), ("flow", flow)):
        want = {k for k, i in files.items() if i["kind"] == kind}
        if set(found) != want:
            problems.append(f"{kind}: files without a run {sorted(want - set(found))}, runs without a file "
                            f"{sorted(set(found) - want)}")  # fmt: skip
    for kind, found in (("chain", chain), ("ask", ask)):
        want = {t for t, i in wanted.items() if i["kind"] == kind}
        if set(found) != want:
            problems.append(
                f"{kind}: triggers without a run {sorted(want - set(found))}, extra {sorted(set(found) - want)}"
            )
    # a Distributed Map's children: one per item of each ask run that got there, never two
    spread = one_per("ask/Spread", lambda r: (r.parent_run_id, r.params.get("index")), "item")
    reached = {r.run_id for r in ask.values() if r.status == "SUCCEEDED"}
    if {p for p, _ in spread} != reached or len(spread) != 2 * len(reached):
        problems.append(f"ask/Spread: {len(spread)} children for {len(reached)} parents that ran the Map")
    for run in spread.values():
        outcome(run, "SUCCEEDED", {1: 1, 2: 4}.get(input_of(run).get("x")))
    extra = set(by_kind) - {"fan", "flow", "chain", "ask", "follow", "child", "ask/Spread"}
    if extra:
        problems.append(f"runs of unexpected pipelines: {extra}")

    # each ends as it would have without the kills
    for key, run in fan.items():
        outcome(run, "SUCCEEDED", expected_fan(int(key.split(".")[0].split("_")[1])))
    for key, run in flow.items():
        outcome(run, "SUCCEEDED", expected_flow(int(key.split(".")[0].split("_")[1])))
    for tag, run in chain.items():
        item = wanted[tag]
        outcome(run, "FAILED" if item["fail"] else "SUCCEEDED", (item["n"] + 1) * 10, "ValueError")
    for tag, run in ask.items():
        item = wanted[tag]
        want = {"n": item["n"] + 1, "n_items": [1, 2], "spread": [1, 4]}
        outcome(run, "FAILED" if item["fail"] else "SUCCEEDED", want, "ValueError")
    succeeded_fans = {r.run_id: r for r in fan.values() if r.status == "SUCCEEDED"}
    if set(follow) != set(succeeded_fans):
        problems.append(f"follow: upstream runs without one {sorted(set(succeeded_fans) - set(follow))}, "
                        f"extra {sorted(set(follow) - set(succeeded_fans))}")  # fmt: skip
    for up, run in follow.items():
        if up in succeeded_fans:
            outcome(run, "SUCCEEDED", succeeded_fans[up].output + 1)
    flow_names = {r.run_id for r in flow.values()}
    if set(child) != flow_names:
        problems.append(f"child: parents without one {sorted(flow_names - set(child))}, "
                        f"extra {sorted(set(child) - flow_names)}")  # fmt: skip
    for run in child.values():
        outcome(run, "SUCCEEDED", {"doubled": input_of(run)["n"] * 2})

    # histories, and the ledger against them
    ledger = hx.read_ledger(root / "ledger.jsonl")
    committed: dict[tuple[Any, ...], str] = {}
    key_of = {e["token"]: tuple(e["key"]) for e in ledger}
    for run in runs:
        if run.kind == "python":
            _, _, events = runtime.state(run.run_id)
            history = [{"id": i, "type": e.type, **e.body()} for i, e in enumerate(events, 1)]
            problems += hx.check_python_history(run.run_id, history)
            for e in history:
                if e["type"] == "StepSucceeded":
                    key = (run.run_id, e["step"])
                    if key in committed:
                        problems.append(f"{key} succeeded twice")
                    committed[key] = f"{run.run_id}:{e['step']}:{e['attempt']}"
        else:
            history = durable.service_history(run.run_id, runtime)
            problems += hx.check_asl_history(run.run_id, history)
            for e in history:
                if e["type"] != "TaskSucceeded":
                    continue
                out = json.loads(e["taskSucceededEventDetails"]["output"])
                token = out.get("token") if isinstance(out, dict) else None
                if token is None:
                    continue
                key = key_of.get(token, ("no ledger entry", token))
                if key in committed:
                    problems.append(f"{key} succeeded twice: {committed[key]} {token}")
                committed[key] = token
    problems += hx.check_ledger(ledger, committed)
    # an attempt run again after a kill keeps its idempotency key: steps that never fail use one key
    for entry in ledger:
        step = entry["key"][1] if entry["kind"] == "python" else ""
        if step in ("split", "total", "slow", "echo") and not entry["idempotency_key"].endswith(f":{step}:1"):
            problems.append(f"{entry['key']}: idempotency key {entry['idempotency_key']}, wanted one ending :{step}:1")
    return [f"[{store}] {p}" for p in problems]


BURST = """
from pathlib import Path

from lockgate import pipeline, task
from lockgate.triggers import FileArrival

ROOT = Path(__file__).resolve().parent.parent


@task
def touch(key: str) -> str:
    return key


@pipeline(triggers=[FileArrival(str(ROOT / "burst"), pattern="*.evt", settle_seconds=1)])
def onfile(event: dict):
    return touch(event["key"])
"""

BURST_FILES = hx.size("burst_files", 600, 3000)
BURST_KILLS = hx.size("burst_kills", 3, 10)


@pytest.mark.slow
@pytest.mark.timeout(1800 if hx.full() else 420)
@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_files_dropped_while_serve_is_killed_make_exactly_one_run_each(
    tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files land in bursts, some while the service is dead; kills land while it queues and runs
    them. Afterwards: one run per file, every one SUCCEEDED (LOCKGATE_CHAOS_BURST_FILES, CI 600,
    full 3,000; LOCKGATE_CHAOS_BURST_KILLS, CI 3, full 10)."""
    rng = random.Random(SEED)
    with ExitStack() as stack:
        hx.use_store(store, monkeypatch, stack)
        folder = tmp_path / "pipelines"
        folder.mkdir()
        burst = tmp_path / "burst"
        burst.mkdir()
        (folder / "burst.py").write_text(BURST)
        service = hx.Service(folder, tmp_path / "serve.log")
        service.start()
        stack.callback(service.stop)
        names = [f"e{i:05d}.evt" for i in range(BURST_FILES)]
        chunks = [names[i :: BURST_KILLS + 1] for i in range(BURST_KILLS + 1)]
        written: set[str] = set()

        def drop(some: list[str]) -> None:
            for name in some:
                if name not in written:  # each file written once: a file written again is a new version
                    (burst / name).write_text(name)
                    written.add(name)

        for k, chunk in enumerate(chunks):
            drop(chunk)
            if k == len(chunks) - 1:
                break
            time.sleep(rng.uniform(0.2, 2.0))
            service.kill()
            if rng.random() < 0.5:  # more files land while nothing watches
                drop(chunks[k + 1][: len(chunks[k + 1]) // 2])
            service.start()

        seen: list[int] = []

        def finished() -> list[Any]:
            runs = hx.store_runs()
            done = len(runs) >= BURST_FILES and all(r.status not in ("QUEUED", "RUNNING") for r in runs)
            seen.append(len(runs) if done else -1)
            return runs if len(seen) >= 4 and len(set(seen[-4:])) == 1 and seen[-1] >= 0 else []

        try:
            runs = hx.wait_until_or_report(finished, timeout=1200 if hx.full() else 300, every=1.0)
        finally:
            service.stop()
        output = service.output()
        from lockgate.runtime import close_default

        close_default()
    keys = Counter(r.params["event"]["key"] for r in runs)
    twice = sorted(k for k, n in keys.items() if n > 1)
    assert not twice, f"{len(twice)} files made two runs or more: {twice[:10]}"
    assert set(keys) == set(names), f"{len(set(names) - set(keys))} files made no run"
    assert all(r.status == "SUCCEEDED" for r in runs), [(r.run_id, r.status, r.error) for r in runs][:20]
    assert "database is locked" not in output
    assert "Traceback" not in output, output[output.index("Traceback") - 2000 :][:6000]
    hx.summary("crash-burst", [f"{store}: {BURST_FILES} files, {BURST_KILLS} kills, {len(runs)} runs, one per file"])
