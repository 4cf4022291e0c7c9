"""The ARNs lockgate gives state machines, executions, Map Runs and activities.

Code written for Step Functions often splits an ARN (`arn.split(":")[3]` for the region), so the
ARNs look like the service's: `arn:aws:states:REGION:ACCOUNT:stateMachine:NAME`. The region and
account come from `[asl] region` and `account` of lockgate.toml (`LOCKGATE_ASL__REGION`, ...),
defaulting to `us-east-1` and `123456789012`; `configure` sets them for one process (tests, the
server), else they are read from the settings once, when first needed.
"""

from __future__ import annotations

import re

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
_ACCOUNT = re.compile(r"\d{12}")

_where: tuple[str, str] | None = None


def configure(region: str | None = None, account: str | None = None) -> None:
    """Use `region` and `account` in every ARN made from now on (None: the default)."""
    global _where
    region = region or DEFAULT_REGION
    account = str(account or DEFAULT_ACCOUNT)
    if not _REGION.fullmatch(region):
        raise ValueError(f"[asl] region {region!r} is not a region name like us-east-1")
    if not _ACCOUNT.fullmatch(account):
        raise ValueError(f"[asl] account {account!r} is not a 12-digit account id")
    _where = (region, account)


def configure_from(settings: object) -> None:
    """Take the region and account from lockgate settings (`[asl] region`, `account`)."""
    get = getattr(settings, "get", None)
    region = get("asl", "region") if get else None
    account = get("asl", "account") if get else None
    configure(str(region) if region else None, str(account) if account else None)


def where() -> tuple[str, str]:
    """The (region, account) of lockgate's ARNs."""
    if _where is None:
        from lockgate import config

        try:
            configure_from(config.load())
        except Exception:  # a broken settings file is reported by the command that reads it
            configure()
    assert _where is not None
    return _where


def states(kind: str, *names: str) -> str:
    """`arn:aws:states:REGION:ACCOUNT:KIND:NAME[:NAME...]`."""
    region, account = where()
    return ":".join(("arn:aws:states", region, account, kind, *names))


def state_machine(name: str) -> str:
    return states("stateMachine", name)


def execution(machine: str, name: str) -> str:
    return states("execution", machine, name)


def activity(name: str) -> str:
    return states("activity", name)


def role() -> str:
    return f"arn:aws:iam::{where()[1]}:role/lockgate"


def reset() -> None:
    """Forget the region and account: the next ARN reads the settings again."""
    global _where
    _where = None
