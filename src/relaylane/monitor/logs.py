"""Structured logs: text or JSON lines on stderr, context keys, secrets redacted.

A record may carry context through `extra=`: any of `CONTEXT_KEYS`, e.g.

    log.info("delivery %d sent", d, extra={"delivery_id": d, "lane": "tx", "relay": "r1"})

The JSON format writes one object per line: `ts` (ISO 8601, UTC, milliseconds), `level`,
`logger`, `message`, the context keys given, and `exception` (the formatted traceback)
when there is one. The text format appends the context as `[delivery_id=41 lane=tx]`.
Both pass through `RedactFilter` first (see `monitor.redact`).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from relaylane.config.logs import LogFormat, LogLevel
from relaylane.monitor.redact import redact

__all__ = [
    "CONTEXT_KEYS",
    "JsonFormatter",
    "RedactFilter",
    "TextFormatter",
    "configure_logging",
    "log_handler",
]

# What a log record may carry through `extra=`, in the order they are written.
CONTEXT_KEYS: tuple[str, ...] = ("delivery_id", "lane", "relay", "provider", "message_ref")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def context_of(record: logging.LogRecord) -> dict[str, Any]:
    """The context keys a record carries (None values left out)."""
    found = {key: getattr(record, key, None) for key in CONTEXT_KEYS}
    return {key: value for key, value in found.items() if value is not None}


class RedactFilter(logging.Filter):
    """Masks secrets in the message, the traceback and string context values.

    The message is rendered (`msg % args`) and replaced by its redacted text, so every
    handler and formatter after this one sees only the redacted form."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            if isinstance(value, str):
                setattr(record, key, redact(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update({key: _plain(value) for key, value in context_of(record).items()})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """The classic line, with the record's context appended in brackets."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        context = context_of(record)
        if not context:
            return line
        return line + " [" + " ".join(f"{k}={v}" for k, v in context.items()) + "]"


def _iso(created: float) -> str:
    stamp = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _plain(value: object) -> object:
    """A JSON-ready context value: numbers, strings and booleans as they are."""
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def log_handler(fmt: LogFormat, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler (stderr by default) writing `fmt`, redacting secrets."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt is LogFormat.JSON else TextFormatter())
    handler.addFilter(RedactFilter())
    return handler


def configure_logging(fmt: LogFormat, level: LogLevel) -> logging.Handler | None:
    """Log to stderr in `fmt` from `level` up, like `logging.basicConfig`: when the root
    logger already has handlers (a host program or a test runner configured logging)
    nothing is changed and None is returned."""
    root = logging.getLogger()
    if root.handlers:
        return None
    handler = log_handler(fmt)
    root.addHandler(handler)
    root.setLevel(level.value.upper())
    return handler
