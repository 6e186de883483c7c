"""The `serve` sections: [http] (API and later tracking, webhooks, dashboard),
[submission] (the SMTP submission listener) and [intake] (what both ways in share).

Every default is named here and documented in docs/configuration.md.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from relaylane.config.base import Model, is_loopback_host
from relaylane.config.durations import Duration
from relaylane.config.sizes import Size

DEFAULT_HTTP_LISTEN = "127.0.0.1:8025"
DEFAULT_SUBMISSION_LISTEN = "127.0.0.1:2587"
DEFAULT_MAX_MESSAGE_SIZE = 25_000_000  # bytes, as composed (SMTP SIZE, API body limit)
DEFAULT_MAX_REQUEST_SIZE = 50_000_000  # bytes of one HTTP request body
DEFAULT_MAX_RECIPIENTS = 1_000  # per message, SMTP and API alike
DEFAULT_BATCH_LIMIT = 1_000  # messages per POST /v1/messages/batch
LISTEN_FORMS = 'write it as "HOST:PORT", e.g. "127.0.0.1:2587" or "[::1]:2587"'


def parse_listen(value: str) -> tuple[str, int]:
    """("host", port) from "host:port" or "[v6]:port"; raises ValueError."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{value!r} is not HOST:PORT; {LISTEN_FORMS}")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(f"{value!r} is not HOST:PORT; {LISTEN_FORMS}")
        host = host[1:-1]
        ipaddress.IPv6Address(host)
    return host, int(port)


def _listen(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parse_listen(value)
        except ValueError as exc:
            raise PydanticCustomError(
                "relaylane_value", "{msg}", {"msg": f"is not HOST:PORT; {LISTEN_FORMS}"}
            ) from exc
    return value


Listen = Annotated[str, BeforeValidator(_listen)]


def existing_file(path: Path | None, info: ValidationInfo) -> Path | None:
    """A configured file path, resolved against the config file's directory; it must exist."""
    if path is None:
        return None
    ctx = info.context if isinstance(info.context, dict) else {}
    base = ctx.get("base_dir")
    path = path.expanduser()
    if not path.is_absolute() and isinstance(base, Path):
        path = base / path
    if not path.is_file():
        raise PydanticCustomError(
            "relaylane_value", "{msg}", {"msg": "does not exist or is not a file; fix the path"}
        )
    return path


def _pair_problem(section: str, cert: Path | None, key: Path | None) -> str | None:
    if (cert is None) != (key is None):
        given, missing = ("tls_cert", "tls_key") if key is None else ("tls_key", "tls_cert")
        return (
            f"[{section}] sets {given} without {missing}; a certificate needs its private "
            f"key: set both, or neither"
        )
    return None


class _Section:
    """Mixin: the `host`/`port` of `listen`."""

    listen: str

    @property
    def host(self) -> str:
        return parse_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return parse_listen(self.listen)[1]


class MetricsAccess(StrEnum):
    """Who may read the API's /metrics (the Prometheus exposition)."""

    OPEN = "open"  # anyone who reaches the listener (the default on a loopback listen)
    KEY = "key"  # an API key with the read scope (the default on any other listen)
    OFF = "off"  # no /metrics on the API (404)


class HttpConfig(_Section, Model):
    """[http]: the HTTP API (and, later, tracking, webhooks and the dashboard)."""

    listen: Listen = DEFAULT_HTTP_LISTEN
    public_url: str | None = None  # base of links in messages; default http://LISTEN
    tls_cert: Path | None = None  # serve HTTPS with this certificate chain (PEM)
    tls_key: Path | None = None
    max_request_size: Size = DEFAULT_MAX_REQUEST_SIZE
    batch_limit: StrictInt = Field(default=DEFAULT_BATCH_LIMIT, ge=1, le=10_000)
    metrics: MetricsAccess | None = None  # /metrics; default: open on loopback, else key

    @field_validator("tls_cert", "tls_key")
    @classmethod
    def _files(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return existing_file(value, info)

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PydanticCustomError(
                "relaylane_value",
                "{msg}",
                {"msg": 'is not an http(s) URL; write it like "https://mail.example.com"'},
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _pair(self) -> Self:
        problem = _pair_problem("http", self.tls_cert, self.tls_key)
        if problem:
            raise PydanticCustomError("relaylane", "{msg}", {"msg": problem})
        return self

    @property
    def metrics_access(self) -> MetricsAccess:
        """`metrics`, or its default: open when the API listens on loopback only."""
        if self.metrics is not None:
            return self.metrics
        return MetricsAccess.OPEN if is_loopback_host(self.host) else MetricsAccess.KEY

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{self.listen}"


class SubmissionConfig(_Section, Model):
    """[submission]: the SMTP submission listener (STARTTLS; implicit TLS optional)."""

    listen: Listen = DEFAULT_SUBMISSION_LISTEN
    tls_listen: Listen | None = None  # implicit TLS (like port 465), off by default
    tls_cert: Path | None = None  # absent: a self-signed pair is made at start (loopback only)
    tls_key: Path | None = None
    hostname: str | None = None  # the name in the greeting and EHLO reply; default: FQDN
    max_message_size: Size = DEFAULT_MAX_MESSAGE_SIZE
    max_recipients: StrictInt = Field(default=DEFAULT_MAX_RECIPIENTS, ge=1)
    allow_plain_auth_on_loopback: StrictBool = False
    auth_max_failures: StrictInt = Field(default=5, ge=1)  # per client IP within the window
    auth_failure_window: Duration = Field(default=600.0, gt=0)
    auth_lockout: Duration = Field(default=900.0, gt=0)  # refuse AUTH from that IP this long
    timeout: Duration = Field(default=300.0, gt=0)  # idle client connection

    @field_validator("tls_cert", "tls_key")
    @classmethod
    def _files(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return existing_file(value, info)

    @model_validator(mode="after")
    def _tls(self) -> Self:
        problem = _pair_problem("submission", self.tls_cert, self.tls_key)
        if problem is None and self.tls_cert is None:
            public = [
                x
                for x in (self.listen, self.tls_listen)
                if x and not is_loopback_host(parse_listen(x)[0])
            ]
            if public:
                problem = (
                    f"[submission] listens on {public[0]} without tls_cert/tls_key; a "
                    "self-signed pair is made only for loopback listeners: set tls_cert and "
                    "tls_key to your certificate, or listen on 127.0.0.1"
                )
        if problem:
            raise PydanticCustomError("relaylane", "{msg}", {"msg": problem})
        return self

    @property
    def tls_host(self) -> str | None:
        return parse_listen(self.tls_listen)[0] if self.tls_listen else None

    @property
    def tls_port(self) -> int | None:
        return parse_listen(self.tls_listen)[1] if self.tls_listen else None


class IntakeConfig(Model):
    """[intake]: what the HTTP API and SMTP submission share."""

    max_queued: StrictInt | None = Field(default=None, ge=1)  # back-pressure; None: no limit
    commit_window: Duration = Field(default=0.002, ge=0)  # group commit: wait this long
    commit_batch: StrictInt = Field(default=512, ge=1)  # ...or until this many messages
