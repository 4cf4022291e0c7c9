"""How the service logs: plain text, or one JSON object per line (`[logging] format = "json"`)."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from lockgate import _json
from lockgate.config import Settings, mask_url
from lockgate.core.errors import UsageError

FORMATS = ("text", "json")
# Attributes every LogRecord has; anything else came from `extra=` and is kept as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the `extra` fields, any traceback.

    Secrets are masked in the message and the traceback (lockgate.config.mask_url).
    """

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _json.iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_url(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exception"] = mask_url(self.formatException(record.exc_info))
        return json.dumps(document, default=str, separators=(",", ":"))


class MaskingFormatter(logging.Formatter):
    """The text format, with the secrets of each line masked (lockgate.config.mask_url)."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_url(super().format(record))


def configure_logging(settings: Settings) -> None:
    """Set the root logger from `[logging]`: `format` ("text" or "json") and `level`; raises UsageError."""
    cfg = settings.table("logging")
    fmt = str(cfg.get("format", "text"))
    if fmt not in FORMATS:
        raise UsageError(f"{settings.source or 'settings'}: logging.format {fmt!r} is not one of {', '.join(FORMATS)}")
    level = str(cfg.get("level", "INFO")).upper()
    if not isinstance(logging.getLevelName(level), int):
        raise UsageError(f"{settings.source or 'settings'}: logging.level {level!r} is not a logging level")
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_lockgate", False)]:
        root.removeHandler(old)
    handler._lockgate = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
