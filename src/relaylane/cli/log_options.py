"""`--log-format` for the long-running commands (`serve`, `worker`)."""

from __future__ import annotations

import typer

from relaylane.config import Config
from relaylane.config.logs import LogFormat
from relaylane.monitor.logs import configure_logging

LogFormatOption = typer.Option(
    None,
    "--log-format",
    help="text or json (one JSON object per line). Default: format in \\[log], else text.",
    show_default=False,
)


def setup_logging(config: Config, flag: LogFormat | None) -> None:
    """Log to stderr as `--log-format` says, else as [log] says."""
    configure_logging(flag or config.log.format, config.log.level)
