"""[log]: how `relaylane serve` and `relaylane worker` write their log (stderr).

`--log-format` on the command line wins over `format` here.
"""

from __future__ import annotations

from enum import StrEnum

from relaylane.config.base import Model

__all__ = ["LogConfig", "LogFormat", "LogLevel"]


class LogFormat(StrEnum):
    """How each log record is written."""

    TEXT = "text"  # "TIME LEVEL LOGGER: message [delivery_id=.. lane=.. relay=..]"
    JSON = "json"  # one JSON object per line (ts, level, logger, message, context keys)


class LogLevel(StrEnum):
    """The least severe level written."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LogConfig(Model):
    """[log]"""

    format: LogFormat = LogFormat.TEXT
    level: LogLevel = LogLevel.INFO
