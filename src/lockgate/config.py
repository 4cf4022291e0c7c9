"""Settings from one place: `lockgate.toml` (or $LOCKGATE_CONFIG), overridden by environment.

Every key `k` of table `t` is overridden by `LOCKGATE_T__K` (`LOCKGATE_SMTP__HOST`); top-level
keys by `LOCKGATE_K` (`LOCKGATE_HOME`, `LOCKGATE_DATABASE_URL`). Environment values are
converted to the type of the default (int, float, bool); tables without defaults keep strings.
"""

from __future__ import annotations

import copy
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from lockgate.core.errors import UsageError

DEFAULTS: dict[str, Any] = {
    "home": ".lockgate",
    "database_url": "",
    "engine": {
        "executor": "threads",
        "max_workers": 8,
        "result_max_bytes": 262144,
        "spill_cache_bytes": 67108864,
        "sqlite_synchronous": "NORMAL",
        "heartbeat_seconds": 5.0,
        "stale_after_seconds": 30.0,
        "queues": ["default"],
    },
    # The celery executor: `broker_url`, `queues`, and any of Celery's own settings by their names.
    "celery": {"broker_url": ""},
    # Where every machine writes attempt logs: a folder or s3://bucket/prefix/ ("": $LOCKGATE_HOME/logs).
    "logs": {"url": "", "upload_seconds": 3.0},
    "triggers": {
        "max_concurrent_runs": 16,
        "tick_seconds": 1.0,
        "rescan_seconds": 30.0,
        "folder_events": "inotify",
        "lookback_seconds": 60.0,
        "park_after_seconds": 30.0,
    },
    "smtp": {
        "host": "localhost",
        "port": 25,
        "starttls": False,
        "ssl": False,
        "username": "",
        "password": "",
        "sender": "lockgate@localhost",
    },
    "notify": {
        "sender": "process",
        "flush_seconds": 5.0,
        "timeout_seconds": 10.0,
        "retry_interval_seconds": 30.0,
        "retry_backoff_rate": 2.0,
        "retry_max_delay_seconds": 3600.0,
        "max_attempts": 10,
        "deliver_every_seconds": 5.0,
        "alarm_every_seconds": 15.0,
    },
    "logging": {"format": "text", "level": "INFO"},
    "lineage": {"file": "", "url": "", "namespace": "lockgate"},
    # the bounds of state machines (lockgate.asl.limits says what each one bounds)
    "limits": {
        "state_data_bytes": 262144,
        "history_events": 25000,
        "map_inline_items": 10000,
        "definition_bytes": 1048576,
        "definition_nesting": 100,
        "json_depth": 256,
        "expression_seconds": 1.0,
        "expression_depth": 200,
        "variable_bytes": 262144,
        "assign_bytes": 262144,
        "variables_bytes": 10485760,
    },
}

_SECRET_KEY = re.compile(r"password|passwd|secret|token|api_key|apikey|credential|private_key", re.I)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]*):(?P<password>[^@/\s]+)@", re.I)
# `?password=...`, `&token=...`, `access_token`, `X-Amz-Signature`...: a query value that is a secret
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&;](?:[a-z0-9_.-]*(?:password|passwd|secret|token|api_key|apikey|signature|sig|credential)"
    r"[a-z0-9_.-]*))=(?P<value>[^&#\s\"']+)",
    re.I,
)
# Slack: incoming webhook URLs carry their token in the path; API tokens start with xox?-
_SLACK_HOOK = re.compile(r"(?P<base>https?://hooks\.slack\.com/(?:services|workflows|triggers)/)[^\s\"'<>]+", re.I)
_SLACK_TOKEN = re.compile(r"\bxox[abeoprs]-[A-Za-z0-9-]+")
_LOCKGATE_TOKEN = re.compile(r"\b(?P<id>lgt_[0-9a-f]{16})_[A-Za-z0-9_-]+")
_BEARER = re.compile(r"(?P<scheme>\b(?:Bearer|Basic|token)\s+)(?P<value>[A-Za-z0-9._~+/=-]{8,})", re.I)
# Keys whose every value is a secret when they are tables: a connection's `headers`
_SECRET_TABLES = ("headers",)

EXECUTORS = ("inline", "threads", "processes", "celery")


class NoHome(UsageError):
    """There is no lockgate home where the settings say (a command that only reads stops)."""


class Settings:
    """The effective settings: defaults, then the file, then the environment."""

    def __init__(self, data: dict[str, Any], source: Path | None, home_from: str = "") -> None:
        self.data = data
        self.source = source
        # What chose the home, for messages: "LOCKGATE_HOME", "home in PATH", or "" (the default)
        self.home_from = home_from

    def table(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        return value if isinstance(value, dict) else {}

    def get(self, table: str, key: str, default: Any = None) -> Any:
        return self.table(table).get(key, default)

    @property
    def home(self) -> Path:
        return Path(self.data["home"])

    @property
    def database_url(self) -> str:
        from lockgate.store.sql import sqlite_url

        return self.data["database_url"] or sqlite_url(self.home)

    def check_home(self) -> None:
        """Refuse, in one line, settings whose home does not exist or is not lockgate's.

        For commands that only read: they must not create an empty home where the user merely
        looked (an empty `./.lockgate` answers every question with nothing).
        """
        url = self.data["database_url"]
        if url and (not url.startswith("sqlite") or ":memory:" in url):
            return  # the runs are in that database; the home folder only holds logs
        home = self.home.absolute()
        if url:
            chosen = "named by database_url (LOCKGATE_DATABASE_URL)"
        elif self.home_from:
            chosen = f"set by {self.home_from}"
        else:
            chosen = "the default; set LOCKGATE_HOME or home in lockgate.toml to look elsewhere"
        database = Path(re.sub(r"^sqlite[^:]*:///", "", url).partition("?")[0]) if url else home / "lockgate.db"
        if not url and not home.exists():
            raise NoHome(
                f"no lockgate home here: {home} does not exist ({chosen}); `lockgate run` or `lockgate serve` makes one"
            )
        if not database.is_file():
            raise NoHome(f"no lockgate home here: {database} does not exist ({chosen})")
        problem = _not_lockgate(database)
        if problem == _EMPTY:  # made this instant by a first run whose tables are not committed yet
            raise NoHome(f"no lockgate home here yet: {database} has no tables ({chosen})")
        if problem:
            raise UsageError(f"{database} is not a lockgate database: {problem} ({chosen})")

    def queues(self) -> list[str]:
        """The queue names tasks may route to: `[celery] queues`, else `[engine] queues`."""
        names = self.get("celery", "queues") or self.get("engine", "queues") or ["default"]
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",") if n.strip()]
        return list(names)

    def masked(self) -> dict[str, Any]:
        """A copy fit to print: secrets replaced by '***'."""
        out: dict[str, Any] = mask(self.data)
        out["database_url"] = mask_url(self.database_url)
        out["config_file"] = str(self.source) if self.source else None
        return out


def mask(value: Any, key: str = "") -> Any:
    """A copy of settings (or any JSON-like value) fit to show: the value of a key that names a
    secret, every value of a `headers` table, and the secrets inside strings (mask_url) are `***`;
    so is any other occurrence of such a value in the document (a `password` parameter passed on
    to a step as a positional argument)."""
    found: set[str] = set()
    _collect(value, key, found)
    return _mask(value, key, sorted((s for s in found if len(s) >= 4), key=len, reverse=True))


def _collect(value: Any, key: str, found: set[str]) -> None:
    if isinstance(value, dict):
        secret_table = key.lower() in _SECRET_TABLES
        for k, v in value.items():
            if secret_table and isinstance(v, str):
                found.add(v)
            else:
                _collect(v, k, found)
    elif isinstance(value, list):
        for v in value:
            _collect(v, key, found)
    elif isinstance(value, str) and value and _SECRET_KEY.search(key):
        found.add(value)


def _mask(value: Any, key: str, known: list[str]) -> Any:
    if isinstance(value, dict):
        if key.lower() in _SECRET_TABLES:
            return {k: "***" if isinstance(v, str) and v else _mask(v, k, known) for k, v in value.items()}
        return {k: _mask(v, k, known) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key, known) for v in value]
    if isinstance(value, str):
        if value and _SECRET_KEY.search(key):
            return "***"
        for secret in known:
            if secret in value:
                value = value.replace(secret, "***")
        return mask_url(value)
    return value


def mask_url(text: str) -> str:
    """Hide the secrets a text may hold: URL passwords (`postgresql://u:***@host/db`), secret
    query values (`?password=***`, `&token=***`), Slack webhook paths and tokens, lockgate API
    tokens (their non-secret prefix stays) and `Bearer ...` values. Every output path (settings,
    logs, errors, API answers) masks through this one function."""
    if not text:
        return text
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('scheme')}:***@", text)
    if "=" in text:
        text = _QUERY_SECRET.sub(lambda m: f"{m.group('key')}=***", text)
    if "slack" in text:
        text = _SLACK_HOOK.sub(lambda m: f"{m.group('base')}***", text)
    if "xox" in text:
        text = _SLACK_TOKEN.sub("xox?-***", text)
    if "lgt_" in text:
        text = _LOCKGATE_TOKEN.sub(lambda m: f"{m.group('id')}_***", text)
    return _BEARER.sub(lambda m: f"{m.group('scheme')}***", text)


mask_text = mask_url  # the same function, by the name that says what it takes


def load(environ: dict[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """Read the settings; raises UsageError naming the file and its fault."""
    env = dict(os.environ) if environ is None else environ
    data = copy.deepcopy(DEFAULTS)
    named = env.get("LOCKGATE_CONFIG")
    path = Path(named) if named else (cwd or Path.cwd()) / "lockgate.toml"
    source = None
    loaded: dict[str, Any] = {}
    if named and not path.is_file():
        raise UsageError(f"LOCKGATE_CONFIG names {path}, which is not a file")
    if path.is_file():
        source = path
        try:
            loaded = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{path}: {exc}") from None
        _merge(data, loaded)
    for name, raw in env.items():
        if not name.startswith("LOCKGATE_") or name == "LOCKGATE_CONFIG":
            continue
        key = name.removeprefix("LOCKGATE_").lower()
        if "__" in key:
            table, _, field = key.partition("__")
            section = data.setdefault(table, {})
            if not isinstance(section, dict):
                continue
            section[field] = _typed(raw, DEFAULTS.get(table, {}).get(field), name)
        elif key in DEFAULTS:
            data[key] = _typed(raw, DEFAULTS[key], name)
    home_from = ""
    if "LOCKGATE_HOME" in env:
        home_from = "LOCKGATE_HOME"
    elif source is not None and "home" in loaded:
        home_from = f"home in {source}"
    home = Path(data["home"])
    if home.exists() and not home.is_dir():
        chosen = f"set by {home_from}" if home_from else "the default"
        raise UsageError(f"the lockgate home {home.absolute()} is a file, not a folder ({chosen})")
    executor = data["engine"]["executor"]
    if executor not in EXECUTORS:
        raise UsageError(f"{source or 'settings'}: engine.executor {executor!r} is not one of {', '.join(EXECUTORS)}")
    if executor == "celery" and not data["celery"].get("broker_url"):
        raise UsageError(f"{source or 'settings'}: engine.executor 'celery' needs [celery] broker_url")
    return Settings(data, source, home_from)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _typed(raw: str, default: Any, name: str) -> Any:
    try:
        if isinstance(default, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise UsageError(f"environment variable {name}={raw!r} is not a valid {type(default).__name__}") from None
    return raw


_EMPTY = "it is empty"


def _not_lockgate(database: Path) -> str:
    """Why a SQLite file is not a lockgate database, or "" when it is one."""
    import sqlite3

    try:
        conn = sqlite3.connect(f"{database.absolute().as_uri()}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return str(exc)
    if "alembic_version" not in tables or "runs" not in tables:
        return "it has no runs table" if tables else _EMPTY
    return ""
