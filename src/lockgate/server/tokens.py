"""API tokens: who may call the HTTP server, with which role.

A token is `lgt_<id>_<secret>`: `id` (16 hex digits) is not secret and is the lookup key; the
secret is 32 random bytes. The store keeps a per-token random salt and SHA-256(salt + secret),
never the secret. Because the secret is 256 random bits, a fast hash is enough: nobody can
guess it, so a slow password hash (scrypt, PBKDF2) would only add tens of milliseconds to every
request (docs/architecture.md, "API tokens").

A token made with `--aws-key` also has an AWS access key id; its secret access key is derived
from the key id and the server secret (HMAC-SHA256), so SigV4 signatures can be checked without
storing the secret access key anywhere.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lockgate import _json
from lockgate.core.errors import UsageError
from lockgate.store.schema import api_tokens

ROLES = ("viewer", "operator", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}
PREFIX = "lgt_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
CACHE_SECONDS = 2.0  # a revocation made by another process is seen within this long
SECRET_FILE = "server.secret"
_KEY_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def parse_duration(text: str) -> float:
    """Seconds of `30d`, `12h`, `90m`, `2w`, `45s`; raises UsageError."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) <= 0:
        raise UsageError(f"--expires {text!r}: expected a duration such as 30d, 12h, 90m or 2w")
    return int(match.group(1)) * _UNITS[match.group(2)]


def server_secret(settings: Any) -> bytes:
    """The key that signs UI sessions and derives AWS secret keys: `[server] secret`, else
    `$LOCKGATE_HOME/server.secret` (made on first use, mode 0600). Every server of one store
    must share it."""
    configured = str(settings.get("server", "secret", "") or "")
    if configured:
        return configured.encode()
    path = Path(settings.home) / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text().strip())


def derive_aws_secret(key: bytes, access_key_id: str) -> str:
    """The secret access key of `access_key_id` (40 characters, as AWS's are)."""
    digest = hmac.new(key, b"aws-secret-access-key:" + access_key_id.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()[:40].replace("+", "A").replace("/", "B")


def _hash(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Token:
    """A stored token (never its secret)."""

    name: str
    token_id: str
    role: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    aws_access_key_id: str | None

    def status(self, now: float) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "prefix": PREFIX + self.token_id,
            "status": self.status(now),
            "created_at": _json.iso(self.created_at),
            "expires_at": _json.iso(self.expires_at),
            "revoked_at": _json.iso(self.revoked_at),
            "aws_access_key_id": self.aws_access_key_id,
        }


@dataclass(frozen=True, slots=True)
class Created:
    """A new token, with the secrets shown this once."""

    token: Token
    secret: str
    aws_secret_access_key: str | None

    def to_json(self, now: float) -> dict[str, Any]:
        out = {**self.token.to_json(now), "token": self.secret}
        if self.aws_secret_access_key is not None:
            out["aws_secret_access_key"] = self.aws_secret_access_key
        return out


def _row(row: Any) -> Token:
    return Token(row.name, row.token_id, row.role, row.created_at, row.expires_at, row.revoked_at,
                 row.aws_access_key_id)  # fmt: skip


class TokenStore:
    """Tokens in the store's `api_tokens` table; `check` is what every request calls."""

    def __init__(self, engine: sa.Engine, key: bytes, clock: Any = time.time) -> None:
        self.engine = engine
        self.key = key
        self.clock = clock
        self._cache: dict[str, tuple[float, Any]] = {}  # token_id or key id -> (fetched at, row or None)
        self._lock = threading.Lock()

    @classmethod
    def of(cls, runtime: Any) -> TokenStore:
        engine = getattr(runtime.store, "engine", None)
        if engine is None:
            raise UsageError("API tokens need the SQL store")
        return cls(engine, server_secret(runtime.settings), runtime.clock)

    # -- managing ---------------------------------------------------------------------------

    def create(self, name: str, role: str, expires_in: float | None = None, aws_key: bool = False) -> Created:
        if not _NAME.match(name):
            raise UsageError(f"token name {name!r}: use letters, digits and . _ @ - (at most 100)")
        if role not in ROLES:
            raise UsageError(f"--role {role!r} is not one of {', '.join(ROLES)}")
        now = self.clock()
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        key_id = "AKLG" + "".join(secrets.choice(_KEY_CHARS) for _ in range(16)) if aws_key else None
        values = {"name": name, "token_id": token_id, "role": role, "salt": salt, "hash": _hash(salt, secret),
                  "created_at": now, "expires_at": now + expires_in if expires_in else None, "revoked_at": None,
                  "aws_access_key_id": key_id}  # fmt: skip
        with self.engine.begin() as conn:
            if conn.execute(sa.select(api_tokens.c.name).where(api_tokens.c.name == name)).first() is not None:
                raise UsageError(f"a token named {name!r} exists already (lockgate tokens list)")
            conn.execute(api_tokens.insert(), values)
        token = Token(name, token_id, role, now, values["expires_at"], None, key_id)
        aws_secret = derive_aws_secret(self.key, key_id) if key_id else None
        return Created(token, f"{PREFIX}{token_id}_{secret}", aws_secret)

    def list(self) -> list[Token]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(api_tokens).order_by(api_tokens.c.created_at)).all()
        return [_row(r) for r in rows]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(api_tokens)).scalar() or 0)

    def revoke(self, name: str) -> Token:
        now = self.clock()
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(api_tokens).where(api_tokens.c.name == name)).first()
            if row is None:
                raise UsageError(f"no token named {name!r} (lockgate tokens list)")
            if row.revoked_at is None:
                conn.execute(sa.update(api_tokens).where(api_tokens.c.name == name).values(revoked_at=now))
        with self._lock:
            self._cache.clear()
        token = _row(row)
        return token if token.revoked_at is not None else dataclasses.replace(token, revoked_at=now)

    # -- checking ---------------------------------------------------------------------------

    def warm(self, kind: str, value: str) -> bool:
        """Whether the row of `value` (kind "token_id" or "aws_access_key_id") is in the cache,
        so a check needs no database round trip."""
        hit = self._cache.get(f"{kind}:{value}")
        return hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS

    def fetch(self, kind: str, value: str) -> None:
        """Read the row of `value` into the cache (the server does this on a worker thread, so a
        slow database never stalls its event loop)."""
        self._lookup(api_tokens.c[kind], value)

    def _lookup(self, column: Any, value: str) -> Any:
        now = time.monotonic()
        cache_key = f"{column.name}:{value}"
        hit = self._cache.get(cache_key)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_tokens).where(column == value)).first()
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[cache_key] = (now, row)
        return row

    def _usable(self, row: Any) -> Token | None:
        if row is None:
            return None
        token = _row(row)
        return token if token.status(self.clock()) == "active" else None

    def check(self, presented: str) -> Token | None:
        """The active token `presented` is, or None (unknown, wrong secret, expired or revoked)."""
        if not presented.startswith(PREFIX):
            return None
        token_id, sep, secret = presented[len(PREFIX) :].partition("_")
        if not sep or len(token_id) != 16 or not secret:
            return None
        row = self._lookup(api_tokens.c.token_id, token_id)
        if row is None or not hmac.compare_digest(_hash(row.salt, secret), row.hash):
            return None
        return self._usable(row)

    def by_id(self, token_id: str) -> Token | None:
        """The active token of a (non-secret) id, for a signed session cookie that names it."""
        return self._usable(self._lookup(api_tokens.c.token_id, token_id))

    def by_access_key(self, access_key_id: str) -> tuple[Token, str] | None:
        """The active token of an AWS access key id and its secret access key, or None."""
        token = self._usable(self._lookup(api_tokens.c.aws_access_key_id, access_key_id))
        if token is None:
            return None
        return token, derive_aws_secret(self.key, access_key_id)
