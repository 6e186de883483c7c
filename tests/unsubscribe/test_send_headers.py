"""List-Unsubscribe on the wire: a Worker sends through a loopback relay, and what the
relay received carries the headers, inside a DKIM signature that dkimpy verifies."""

from __future__ import annotations

import email
import email.policy
import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest

import dkim
from relaylane.clock import SystemClock
from relaylane.config import Config, load_config_data
from relaylane.delivery.addresses import parse_address
from relaylane.delivery.compose import compose
from relaylane.delivery.submit import Origin, build_message
from relaylane.dkim import dns_txt_value, load_signing_key
from relaylane.sim.behaviour import Behaviour
from relaylane.sim.relay import SimRelay
from relaylane.store import Store
from relaylane.unsubscribe.oneclick import verify_unsubscribe_token
from tests.helpers import deliver, dkim_key_file, lane, relay, signing_domains

TXT = dns_txt_value(load_signing_key(dkim_key_file(), "rltest")).encode()
RP = "bounces.acme.test"
URL = "https://mail.acme.test"


def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
    return TXT if name == b"rltest._domainkey.acme.test." else b""


def config_for(store_url: str, port: int, tmp_path: Path, public_url: str | None = URL) -> Config:
    paths = {"news.acme.test": RP, "tx.acme.test": RP}
    data: dict[str, Any] = {
        "store": {"url": store_url},
        "worker": {"lease": "60s", "idle_poll": "50ms"},
        "domain": signing_domains(),
        "relay": [relay("r1", port, return_path=paths)],
        "lane": [
            lane("tx", ["r1"], allow_shared_relays=True),
            lane("news", ["r1"], "marketing"),
        ],
    }
    if public_url is not None:
        data["http"] = {"public_url": public_url}
    return load_config_data(data, source="<test>", base_dir=tmp_path, env={})


def enqueue(
    store: Store,
    config: Config,
    lane_name: str,
    rcpt: str,
    *,
    list_name: str = "",
    headers: dict[str, str] | None = None,
) -> int:
    sender = "Acme <news@news.acme.test>" if lane_name == "news" else "Acme <no-reply@tx.acme.test>"
    composed = compose(from_=sender, subject="Hello", text="Hi there\n", headers=headers)
    origin = Origin(metadata=(("list", list_name),) if list_name else ())
    msg = build_message(
        config, lane_name, composed, [parse_address(rcpt)], time.time(), origin=origin
    )
    [[did]] = store.queue.enqueue([msg])
    return did


async def sent(config: Config, store: Store, sim: SimRelay) -> dict[str, bytes]:
    await deliver(config, store)
    return {m.rcpt_tos[0]: m.data for m in sim.received}


def signed_headers(data: bytes) -> list[str]:
    tags = data.split(b"DKIM-Signature:", 1)[1].split(b"\r\n\r\n")[0]
    h = re.search(rb"h=([^;]+);", re.sub(rb"\s+", b"", tags))
    assert h is not None
    return h.group(1).decode().lower().split(":")


def header(data: bytes, name: str) -> list[str]:
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    return [" ".join(str(v).split()) for v in msg.get_all(name, [])]


async def test_marketing_mail_carries_signed_one_click_headers(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(Behaviour()) as sim:
        cfg = config_for(store_url, sim.port, tmp_path)
        news = enqueue(store, cfg, "news", "ann@example.test", list_name="Weekly News")
        tx = enqueue(store, cfg, "tx", "bob@example.test")
        got = await sent(cfg, store, sim)
    data = got["ann@example.test"]
    assert dkim.verify(data, dnsfunc=dnsfunc)
    [unsubscribe] = header(data, "List-Unsubscribe")
    found = re.fullmatch(
        rf"<{URL}/u/([a-z2-7]{{32}})>, <mailto:u-([a-z2-7]{{32}})@{RP}>", unsubscribe
    )
    assert found is not None and found[1] == found[2]
    ring = store.token_keys.ring(SystemClock().now())
    assert verify_unsubscribe_token(ring, found[1]) == news
    assert header(data, "List-Unsubscribe-Post") == ["List-Unsubscribe=One-Click"]
    assert header(data, "List-Id") == ['"Weekly News" <weekly-news.news.acme.test>']
    names = signed_headers(data)
    for name in ("list-unsubscribe", "list-unsubscribe-post"):
        assert names.count(name) == 2  # signed, and over-signed: none can be added
    assert "list-id" in names
    tampered = data.replace(b"/u/", b"/x/", 1)
    assert not dkim.verify(tampered, dnsfunc=dnsfunc)

    plain = got["bob@example.test"]
    assert dkim.verify(plain, dnsfunc=dnsfunc)
    for name in ("List-Unsubscribe", "List-Unsubscribe-Post", "List-Id"):
        assert header(plain, name) == []
    assert tx != news


async def test_each_delivery_gets_its_own_token(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(Behaviour()) as sim:
        cfg = config_for(store_url, sim.port, tmp_path)
        ids = {r: enqueue(store, cfg, "news", r) for r in ("a@example.test", "b@example.test")}
        got = await sent(cfg, store, sim)
    ring = store.token_keys.ring(SystemClock().now())
    for rcpt, data in got.items():
        assert dkim.verify(data, dnsfunc=dnsfunc)
        [value] = header(data, "List-Unsubscribe")
        token = value.split("/u/")[1].split(">")[0]
        assert verify_unsubscribe_token(ring, token) == ids[rcpt]
        assert header(data, "List-Id") == []  # no list, no List-Id


async def test_a_message_with_its_own_list_unsubscribe_gets_no_second(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    own = "<mailto:leave@news.acme.test>"
    async with SimRelay(Behaviour()) as sim:
        cfg = config_for(store_url, sim.port, tmp_path)
        enqueue(store, cfg, "news", "ann@example.test", headers={"List-Unsubscribe": own})
        [data] = (await sent(cfg, store, sim)).values()
    assert dkim.verify(data, dnsfunc=dnsfunc)
    assert header(data, "List-Unsubscribe") == [own]
    assert header(data, "List-Unsubscribe-Post") == []


async def test_without_an_https_public_url_the_mailto_alone(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(Behaviour()) as sim:
        cfg = config_for(store_url, sim.port, tmp_path, public_url="http://mail.acme.test")
        did = enqueue(store, cfg, "news", "ann@example.test")
        [data] = (await sent(cfg, store, sim)).values()
    assert dkim.verify(data, dnsfunc=dnsfunc)
    [value] = header(data, "List-Unsubscribe")
    found = re.fullmatch(rf"<mailto:u-([a-z2-7]{{32}})@{RP}>", value)
    assert found is not None
    assert verify_unsubscribe_token(store.token_keys.ring(SystemClock().now()), found[1]) == did
    assert header(data, "List-Unsubscribe-Post") == []


async def test_neither_https_nor_a_return_path_sends_none_and_warns_once(
    store: Store, store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with SimRelay(Behaviour()) as sim:
        data: dict[str, Any] = {
            "store": {"url": store_url},
            "worker": {"lease": "60s", "idle_poll": "50ms"},
            "domain": signing_domains(),
            "relay": [relay("esp", sim.port, kind="esp")],  # the ESP's return path
            "lane": [lane("news", ["esp"], "marketing")],
        }
        cfg = load_config_data(data, source="<test>", base_dir=tmp_path, env={})
        for rcpt in ("a@example.test", "b@example.test"):
            enqueue(store, cfg, "news", rcpt)
        with caplog.at_level(logging.WARNING, logger="relaylane.delivery"):
            got = await sent(cfg, store, sim)
    assert len(got) == 2
    for message in got.values():
        assert header(message, "List-Unsubscribe") == []
    [warning] = [r.getMessage() for r in caplog.records if "List-Unsubscribe" in r.getMessage()]
    assert warning.startswith("lane news, relay esp, From domain news.acme.test: no List-")
    assert "public_url" in warning and "return path" in warning
