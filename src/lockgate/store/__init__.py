"""Where runs live: the RunStore protocol and its SQL (SQLite, PostgreSQL) and memory forms."""

from lockgate.store.base import NewRun, RunRecord, RunStore, RunUpdate

__all__ = ["NewRun", "RunRecord", "RunStore", "RunUpdate"]
