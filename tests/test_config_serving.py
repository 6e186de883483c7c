"""[http], [submission] and [intake]: named defaults, sizes, listen addresses, TLS pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from relaylane.config import load_config_data
from relaylane.config.serving import DEFAULT_MAX_MESSAGE_SIZE, parse_listen
from relaylane.config.sizes import format_size, parse_size
from relaylane.errors import ConfigError

BASE: dict[str, Any] = {
    "relay": [{"name": "r1", "host": "127.0.0.1", "port": 2525, "tls": "none"}],
    "lane": [{"name": "tx", "purpose": "transactional", "relays": ["r1"]}],
}


def load(tmp_path: Path, **sections: Any):  # type: ignore[no-untyped-def]
    return load_config_data({**BASE, **sections}, source="t.toml", base_dir=tmp_path, env={})


def problems(tmp_path: Path, **sections: Any) -> str:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, **sections)
    return err.value.render()


def test_defaults(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    assert (cfg.http.host, cfg.http.port) == ("127.0.0.1", 8025)
    assert cfg.http.base_url == "http://127.0.0.1:8025"
    assert (cfg.submission.host, cfg.submission.port, cfg.submission.tls_port) == (
        "127.0.0.1",
        2587,
        None,
    )
    assert cfg.submission.max_message_size == DEFAULT_MAX_MESSAGE_SIZE == 25_000_000
    assert cfg.intake.max_queued is None and cfg.intake.commit_batch == 512


def test_values(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    cfg = load(
        tmp_path,
        http={"listen": "[::1]:9000", "public_url": "https://mail.acme.test/", "tls_cert": "c.pem",
              "tls_key": "k.pem"},
        submission={"listen": "0.0.0.0:587", "tls_listen": "0.0.0.0:465", "tls_cert": "c.pem",
                    "tls_key": "k.pem", "max_message_size": "10MiB", "auth_lockout": "1h"},
        intake={"max_queued": 1000, "commit_window": "5ms"},
    )  # fmt: skip
    assert (cfg.http.host, cfg.http.port) == ("::1", 9000)
    assert cfg.http.base_url == "https://mail.acme.test"
    assert cfg.http.tls_cert == tmp_path / "c.pem"
    assert cfg.submission.max_message_size == 10 * 1024 * 1024
    assert cfg.submission.tls_port == 465 and cfg.submission.auth_lockout == 3600
    assert cfg.intake.commit_window == 0.005


def test_problems_name_key_and_fix(tmp_path: Path) -> None:
    text = problems(
        tmp_path,
        http={"listen": "8025", "public_url": "mail.acme.test", "tls_cert": "nope.pem"},
        submission={"max_message_size": "25 parsecs", "tls_lsten": "x"},
    )
    assert 'http: listen = "8025" is not HOST:PORT' in text
    assert "public_url" in text and "https://" in text
    assert "tls_cert" in text and "does not exist" in text
    assert "max_message_size" in text and "25MB" in text
    assert "tls_lsten" in text and "tls_listen" in text  # did you mean


def test_a_public_listener_needs_a_certificate(tmp_path: Path) -> None:
    text = problems(tmp_path, submission={"listen": "0.0.0.0:587"})
    assert "self-signed pair is made only for loopback" in text and "tls_cert" in text
    (tmp_path / "c.pem").write_text("x")
    text = problems(tmp_path, submission={"tls_cert": "c.pem"})
    assert "tls_cert without tls_key" in text


@pytest.mark.parametrize(
    ("text", "size"),
    [("25MB", 25_000_000), ("512KB", 512_000), ("1.5MB", 1_500_000), ("10MiB", 10_485_760),
     (42, 42), ("7b", 7)],
)  # fmt: skip
def test_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size
    assert parse_size(format_size(size)) == size


@pytest.mark.parametrize("bad", ["", "MB", "-1", "1.2.3MB", "5 furlongs"])
def test_bad_sizes(bad: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(bad)


def test_listen_forms() -> None:
    assert parse_listen("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_listen("[::1]:25") == ("::1", 25)
    for bad in ("127.0.0.1", ":25", "h:99999", "[::1:25"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_listen(bad)
