"""Configuration: relaylane.toml loaded into frozen, validated pydantic models."""

from relaylane.config.durations import (
    ACCEPTED_FORMS,
    Duration,
    DurationError,
    format_duration,
    parse_duration,
)
from relaylane.config.load import (
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG_NAME,
    load_config,
    load_config_data,
    resolve_config_path,
)
from relaylane.config.models import (
    DEFAULT_MAX_AGE,
    DEFAULT_RETRY_CAP,
    DEFAULT_RETRY_FIRST,
    DEFAULT_STORE_URL,
    Config,
    LaneConfig,
    RelayConfig,
    RelayRef,
    RetrySchedule,
    StoreConfig,
    Timeouts,
    WorkerConfig,
    cross_check,
    is_loopback_host,
)
from relaylane.config.starter import STARTER_TOML, write_starter

__all__ = [
    "ACCEPTED_FORMS",
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_NAME",
    "DEFAULT_MAX_AGE",
    "DEFAULT_RETRY_CAP",
    "DEFAULT_RETRY_FIRST",
    "DEFAULT_STORE_URL",
    "STARTER_TOML",
    "Config",
    "Duration",
    "DurationError",
    "LaneConfig",
    "RelayConfig",
    "RelayRef",
    "RetrySchedule",
    "StoreConfig",
    "Timeouts",
    "WorkerConfig",
    "cross_check",
    "format_duration",
    "is_loopback_host",
    "load_config",
    "load_config_data",
    "parse_duration",
    "resolve_config_path",
    "write_starter",
]
