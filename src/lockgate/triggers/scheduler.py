"""The scheduler: one tick evaluates every trigger, then starts queued runs.

A tick (1) queues due schedule slots, (2) queues complete files and objects (inotify events,
settling scans of folders, S3 listings), (3) queues runs after upstream runs that succeeded and
datasets that were written, then (4) claims queued runs within the limits and starts them.
Every queued run carries an idempotency key, so a tick repeated, a restart or a second
scheduler never queues a run twice. The clock is injected; nothing here sleeps.
"""

from __future__ import annotations

import heapq
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from lockgate.store.base import RunRequest
from lockgate.triggers import buckets
from lockgate.triggers.dispatch import Dispatcher
from lockgate.triggers.files import FileArrival, ObjectSeen, local_path
from lockgate.triggers.folders import FolderWatch, Settler, seen_file, walk_files
from lockgate.triggers.ledger import Ledger, kind_of, observe_latency, params_for, slot_key, trigger_label
from lockgate.triggers.schedule import Cron, Interval, slot_params
from lockgate.triggers.upstream_scan import UpstreamScan

log = logging.getLogger(__name__)

SLOTS_PER_TICK = 1000  # catch-up after a long outage queues in chunks, not all in one tick
_ATTACHED: dict[int, Scheduler] = {}


@dataclass(frozen=True, slots=True)
class Options:
    """How the scheduler runs; `from_settings` reads the `[triggers]` table of lockgate.toml."""

    max_concurrent_runs: int = 16
    tick_seconds: float = 1.0
    rescan_seconds: float = 30.0
    inotify: bool = True
    lookback_seconds: float = 60.0
    park_after_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Any) -> Options:
        table = settings.table("triggers")
        default = cls()
        return cls(
            max_concurrent_runs=int(table.get("max_concurrent_runs", default.max_concurrent_runs)),
            tick_seconds=float(table.get("tick_seconds", default.tick_seconds)),
            rescan_seconds=float(table.get("rescan_seconds", default.rescan_seconds)),
            inotify=str(table.get("folder_events", "inotify")).lower() != "poll",
            lookback_seconds=float(table.get("lookback_seconds", default.lookback_seconds)),
            park_after_seconds=float(table.get("park_after_seconds", default.park_after_seconds)),
        )


@dataclass(frozen=True, slots=True)
class TickReport:
    slots: int = 0
    objects: int = 0
    upstream: int = 0
    started: int = 0


@dataclass(eq=False)
class _Slotted:
    pipeline: Any
    schedule: Cron | Interval
    base: float  # slots after this instant are still to run
    due: float = 0.0


@dataclass(eq=False)
class _Root:
    uri: str
    triggers: list[tuple[Any, FileArrival]] = field(default_factory=list)
    next_scan: float = 0.0
    settler: Settler = field(default_factory=Settler)
    watched: bool = False
    lister: threading.Thread | None = None  # lists this bucket off the loop, in `run()` only

    @property
    def interval(self) -> float:
        return min(t.poll_interval for _, t in self.triggers)

    @property
    def settle(self) -> float:
        return max(t.settle_seconds for _, t in self.triggers)


def attached(runtime: Any) -> Scheduler | None:
    """The scheduler running in this process for `runtime`, if any (the HTTP API hands it events)."""
    return _ATTACHED.get(id(runtime))


class Scheduler:
    """Evaluates the triggers of `pipelines` and runs what they queue."""

    def __init__(
        self,
        runtime: Any,
        pipelines: Iterable[Any],
        *,
        options: Options | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.runtime = runtime
        self.options = options or Options.from_settings(runtime.settings)
        self.clock = clock or runtime.clock
        self.pipelines = {p.name: p for p in pipelines}
        self.ledger = Ledger(runtime)
        self._wake = threading.Event()
        self.dispatcher = Dispatcher(
            runtime, self.pipelines, self.options.max_concurrent_runs, self.wake, self.options.park_after_seconds
        )
        self.watch = FolderWatch(self.wake) if self.options.inotify else None
        self.paused: set[str] = set()
        self._slotted: list[_Slotted] = []
        self._heap: list[tuple[float, int, _Slotted]] = []
        self._local: dict[str, _Root] = {}
        self._listed: queue.SimpleQueue[list[tuple[Any, FileArrival, ObjectSeen]]] = queue.SimpleQueue()
        self._s3: dict[str, _Root] = {}
        self.upstream = UpstreamScan(
            self.ledger, list(self.pipelines.values()), self.options.lookback_seconds, self.options.tick_seconds
        )
        self._started = False
        self.reloader: Any = None  # a served.FolderReloader: the folder is loaded again when it changes
        self._adopted_at = self.clock()  # start() adopts once; tick() every heartbeat after
        from lockgate.server import metrics

        self._metrics = metrics.available()
        self._index_roots()

    def _index_roots(self) -> None:
        """Group the file and object triggers by the folder or bucket they watch; a root kept
        across a reload keeps its settling state and its watch."""
        for root in [*self._local.values(), *self._s3.values()]:
            root.triggers = []
        for pipeline in self.pipelines.values():
            for trigger in pipeline.triggers:
                if isinstance(trigger, FileArrival):
                    roots = self._s3 if trigger.is_s3 else self._local
                    roots.setdefault(trigger.root, _Root(trigger.root)).triggers.append((pipeline, trigger))
        for roots in (self._local, self._s3):
            for uri in [uri for uri, root in roots.items() if not root.triggers and root.lister is None]:
                del roots[uri]  # a bucket with a lister thread keeps its (now empty) root: it matches nothing

    def wake(self) -> None:
        self._wake.set()

    # -- starting and stopping ------------------------------------------------------------------

    def start(self) -> None:
        """Register schedules, start watching folders, resume orphaned runs. Idempotent."""
        if self._started:
            return
        self._started = True
        self._slot_schedules()
        for root in self._local.values():
            folder = local_path(root.uri)
            if not os.path.isdir(folder):
                log.warning("watched folder %s does not exist yet; it is looked for every %g s", folder, root.interval)
            elif self.watch is not None:
                root.watched = self.watch.watch(folder)
        _ATTACHED[id(self.runtime)] = self
        resumed = self.dispatcher.resume_orphans()
        if resumed:
            log.info("resuming %d runs left by a process that stopped", resumed)
        self._publish()

    def _slot_schedules(self) -> None:
        """Put every schedule on the heap at its next slot after its last one (from the ledger)."""
        now = self.clock()
        known = self.ledger.schedules()
        fresh = []
        self._slotted = []
        self._heap = []
        for pipeline in self.pipelines.values():
            for trigger in pipeline.triggers:
                if not isinstance(trigger, (Cron, Interval)):
                    continue
                row = known.get((pipeline.name, trigger.key))
                if row is None:
                    fresh.append((pipeline.name, trigger.key, now))
                    row = (now, None)
                registered, last = row
                if last is not None:
                    base = last
                elif trigger.catchup and trigger.start is not None:
                    base = trigger.start - 1e-6
                else:
                    base = max(registered, trigger.start - 1e-6) if trigger.start is not None else registered
                self._slotted.append(_Slotted(pipeline, trigger, base))
        self.ledger.register_schedules(fresh)
        self.paused = self.ledger.paused()
        for entry in self._slotted:
            self._push(entry)

    def next_runs(self) -> dict[str, float]:
        """Each scheduled pipeline's next slot."""
        out: dict[str, float] = {}
        for due, _, entry in self._heap:
            name = entry.pipeline.name
            out[name] = min(due, out.get(name, due))
        return out

    def _publish(self) -> None:
        if self.reloader is not None:
            try:
                self.reloader.publish(self.next_runs(), self.paused)
            except Exception:
                log.exception("recording what this service serves failed")

    def replace(self, pipelines: Iterable[Any]) -> None:
        """Serve `pipelines` from now on (a reload): schedules keep their last slots, watched
        folders their settling state; runs in flight go on with the workflow they started with."""
        fresh = {p.name: p for p in pipelines}
        # The dispatcher's threads read this same mapping: a kept name is never missing from it.
        for gone in set(self.pipelines) - set(fresh):
            del self.pipelines[gone]
        self.pipelines.update(fresh)
        self._index_roots()
        self.upstream = UpstreamScan(
            self.ledger, list(self.pipelines.values()), self.options.lookback_seconds, self.options.tick_seconds
        )
        if not self._started:
            return
        self._slot_schedules()
        for root in self._local.values():
            folder = local_path(root.uri)
            if self.watch is not None and not root.watched and os.path.isdir(folder):
                root.watched = self.watch.watch(folder)
            root.next_scan = min(root.next_scan, self.clock())

    def reload_if_changed(self) -> bool:
        """Load the served folder again when a file of it changed; True when it did."""
        if self.reloader is None or not self.reloader.changed():
            return False
        loaded = self.reloader.load()
        before = set(self.pipelines)
        self.replace(loaded.items)
        after = set(self.pipelines)
        log.info(
            "reloaded %s: serving %d (added %s, removed %s), %d import errors",
            self.reloader.folder,
            len(after),
            ", ".join(sorted(after - before)) or "none",
            ", ".join(sorted(before - after)) or "none",
            len(loaded.errors),
        )
        self._publish()
        return True

    def close(self) -> None:
        if self.reloader is not None:
            self.reloader.stop()
        if self.watch is not None:
            self.watch.stop()
        self.dispatcher.stop()
        if _ATTACHED.get(id(self.runtime)) is self:
            del _ATTACHED[id(self.runtime)]

    def run(self, stop: threading.Event) -> None:
        """Tick until `stop` is set, waking early for file events, pushed objects and ended runs."""
        self.start()
        for root in self._s3.values():
            root.lister = threading.Thread(
                target=self._list_forever, args=(root, stop), name="lockgate-s3-list", daemon=True
            )
            root.lister.start()
        planned: float | None = None  # when the loop meant to tick next
        store_down = False  # the last tick found the database unreachable (logged once per outage)
        try:
            while not stop.is_set():
                self._wake.clear()
                if planned is not None and self._metrics:
                    from lockgate.server import metrics

                    metrics.observe_tick_lag(max(0.0, self.clock() - planned))  # woken early: no lag
                try:
                    self.tick()
                except Exception as exc:  # a store or network hiccup: log it, try again next tick
                    from lockgate.store.sql import describe_unreachable, unreachable

                    if not unreachable(exc):
                        log.exception("scheduler tick failed")
                    elif not store_down:
                        log.warning("the store is unreachable (%s); scheduling waits for it", describe_unreachable(exc))
                    store_down = store_down or unreachable(exc)
                else:
                    if store_down:
                        log.info("the store answers again; scheduling goes on")
                    store_down = False
                idle = self._idle_seconds()
                planned = self.clock() + idle
                self._wake.wait(idle)
        finally:
            self.close()

    def _idle_seconds(self) -> float:
        now = self.clock()
        wait = self.options.tick_seconds
        if self._heap:
            wait = min(wait, self._heap[0][0] - now)
        parked = self.dispatcher.next_parked()
        if parked is not None:
            wait = min(wait, parked - now)
        for root in self._local.values():
            wait = min(wait, root.next_scan - now)
        return max(0.0, wait)

    def _list_forever(self, root: _Root, stop: threading.Event) -> None:
        """List one bucket every poll interval, so a slow listing never delays the loop."""
        while not stop.wait(max(0.0, root.next_scan - self.clock())):
            self._listed.put(self._list_due(root, self.clock()))
            self.wake()

    # -- one tick -----------------------------------------------------------------------------

    def tick(self) -> TickReport:
        self.start()
        self.reload_if_changed()
        now = self.clock()
        paused = self.ledger.paused()
        for name in self.paused - paused:  # unpaused: find what arrived meanwhile
            self._unpark(name, now)
        self.paused = paused
        slots = self._queue_slots(now)
        objects = self._queue_objects(now)
        upstream = self.upstream.queue(now, self.dispatcher.finished, self.paused)
        if now - self._adopted_at >= self.runtime.heartbeat_seconds:
            # All schedulers are active: each adopts, every heartbeat, the runs of one that died.
            self._adopted_at = now
            adopted = self.dispatcher.resume_orphans()
            if adopted:
                log.info("adopting %d runs whose process stopped", adopted)
        started = self.dispatcher.dispatch(self.paused)
        if self._metrics and (slots or objects or upstream or started):
            from lockgate.server import metrics

            metrics.observe_queue_depth(self.runtime.store.count_runs("QUEUED"))
        return TickReport(slots, objects, upstream, started)

    # -- schedules ------------------------------------------------------------------------------

    def _push(self, entry: _Slotted) -> None:
        entry.due = next(iter(entry.schedule.slots_after(entry.base)))
        heapq.heappush(self._heap, (entry.due, id(entry), entry))

    def _unpark(self, name: str, now: float) -> None:
        for entry in self._slotted:
            if entry.pipeline.name == name and not any(e is entry for _, _, e in self._heap):
                self._push(entry)
        for root in self._local.values():
            if any(p.name == name for p, _ in root.triggers):
                root.next_scan = now
        for root in self._s3.values():
            if any(p.name == name for p, _ in root.triggers):
                root.next_scan = now

    def _queue_slots(self, now: float) -> int:
        requests: list[RunRequest] = []
        fired: list[tuple[str, float]] = []
        moved = []
        while self._heap and self._heap[0][0] <= now:
            _, _, entry = heapq.heappop(self._heap)
            if entry.pipeline.name in self.paused:
                continue  # parked; _unpark puts it back, its last slot unchanged
            schedule = entry.schedule
            slots: list[float] = []
            if schedule.catchup:
                for at in schedule.slots_after(entry.base):
                    if at > now or len(slots) == SLOTS_PER_TICK:
                        break
                    slots.append(at)
            else:
                latest = schedule.last_slot_at_or_before(now)
                slots = [latest] if latest is not None and latest > entry.base else []
            for at in slots:
                params = params_for(entry.pipeline, slot_params(schedule, at))
                requests.append(
                    RunRequest(
                        entry.pipeline.name,
                        params,
                        slot_key(entry.pipeline.name, at),
                        kind_of(entry.pipeline),
                        created_by="schedule",
                    )
                )
                fired.append((trigger_label(schedule), at))
            if slots:
                entry.base = slots[-1]
                moved.append((entry.pipeline.name, schedule.key, entry.base))
            self._push(entry)
        made = self.ledger.request_many(requests)  # one transaction for every slot of this tick
        self.ledger.set_last_slots(moved)
        if moved and self.reloader is not None:
            names = {name for name, _, _ in moved}
            upcoming = self.next_runs()
            self.reloader.registry.set_next_runs({name: upcoming.get(name) for name in names})
        queued = 0
        for (label, at), run_id in zip(fired, made, strict=True):
            if run_id is not None:
                queued += 1
                observe_latency(label, now - at)
        return queued

    # -- files and objects ------------------------------------------------------------------------

    def _queue_objects(self, now: float) -> int:
        pairs: list[tuple[Any, FileArrival, ObjectSeen]] = []
        if self.watch is not None:
            paths = self.watch.drain()
            for path in dict.fromkeys(paths):
                pairs += self._closed(path)
            burst = len(paths) >= 1000  # a burst: the kernel's event queue may overflow soon
            if burst or self.watch.folder_created.is_set():
                self.watch.folder_created.clear()
                for root in self._local.values():
                    root.next_scan = min(root.next_scan, now + root.settle)
        for root in self._local.values():
            if now >= root.next_scan:
                root.next_scan = now + (self.options.rescan_seconds if root.watched else root.interval)
                pairs += self._scan_folder(root, now)
        for root in self._s3.values():
            if root.lister is None and now >= root.next_scan:
                pairs += self._list_due(root, now)
        while True:
            try:
                pairs += self._listed.get_nowait()
            except queue.Empty:
                break
        return len(self.ledger.fire_objects(pairs))

    def _matches(self, root: _Root, obj: ObjectSeen) -> list[tuple[Any, FileArrival, ObjectSeen]]:
        out = []
        for pipeline, trigger in root.triggers:
            if (
                pipeline.name not in self.paused
                and trigger.matches(obj.uri)
                and not self.ledger.is_seen(pipeline.name, obj.uri, obj.etag)
            ):
                out.append((pipeline, trigger, obj))
        return out

    def _closed(self, path: str) -> list[tuple[Any, FileArrival, ObjectSeen]]:
        out = []
        for root in self._local.values():
            folder = local_path(root.uri)
            if not path.startswith(folder):
                continue
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                continue  # moved on or deleted before we looked: nothing to run for
            out += self._matches(root, seen_file(path, folder, stat))
        return out

    def _scan_folder(self, root: _Root, now: float) -> list[tuple[Any, FileArrival, ObjectSeen]]:
        folder = local_path(root.uri)
        if self.watch is not None and not root.watched:
            root.watched = self.watch.watch(folder)
        out = []
        present = set()
        for path, stat in walk_files(folder):
            present.add(path)
            obj = seen_file(path, folder, stat)
            candidates = self._matches(root, obj)
            if candidates and root.settler.settled(path, stat, now, root.settle):
                out += candidates
        root.settler.forget_missing(present)
        return out

    def _list_due(self, root: _Root, now: float) -> list[tuple[Any, FileArrival, ObjectSeen]]:
        found = self._poll_bucket(root)
        # The next listing starts early by this one's duration, so an object put just after a
        # listing is found about poll_interval later, not poll_interval + the listing's time.
        took = max(0.0, self.clock() - now)
        root.next_scan = now + max(root.interval - took, root.interval / 2)
        return found

    def _poll_bucket(self, root: _Root) -> list[tuple[Any, FileArrival, ObjectSeen]]:
        if all(p.name in self.paused for p, _ in root.triggers):
            return []
        try:
            objects = buckets.list_objects(root.uri)
        except Exception as exc:  # the endpoint is down or refuses us: try again next interval
            log.warning("listing %s failed: %s: %s", root.uri, type(exc).__name__, exc)
            return []
        out = []
        for obj in objects:
            out += self._matches(root, obj)
        return out

    def accept_objects(self, objects: Iterable[ObjectSeen]) -> list[str]:
        """Queue runs for pushed object notifications (any thread); returns the new run ids."""
        pairs = []
        for obj in objects:
            for root in self._s3.values():
                pairs += self._matches(root, obj)
        queued = self.ledger.fire_objects(pairs)
        if queued:
            self.wake()
        return queued
