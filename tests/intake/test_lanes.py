"""Choosing the lane for a submission and checking its sender (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaylane.auth.principal import Principal, Scope
from relaylane.errors import InputError, PermissionDenied
from relaylane.intake.lanes import check_sender, resolve_lane
from tests.helpers import dkim_key_file, lane, make_config, relay


def config(tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_config(
        "sqlite://",
        [relay("r1", 2525), relay("r2", 2526)],
        [
            lane("tx", ["r1"], from_domains=["tx.acme.test"]),
            lane("news", ["r2"], purpose="marketing"),
        ],
        tmp_path,
    )


def key(*lanes: str, scopes: frozenset[Scope] = frozenset({Scope.SEND})) -> Principal:
    return Principal("api_key", "k1", scopes, lanes)


def test_default_and_requested_lane(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    assert resolve_lane(cfg, key("tx", "news"), None, "lane").name == "tx"
    assert resolve_lane(cfg, key("tx", "news"), "news", "lane").name == "news"


def test_unknown_lane_is_bad_input_and_names_the_lanes(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        resolve_lane(config(tmp_path), key("tx"), "bulk", "lane")
    assert err.value.field == "lane" and "tx, news" in err.value.fix


def test_a_key_for_one_lane_cannot_send_in_another(tmp_path: Path) -> None:
    with pytest.raises(PermissionDenied, match="may not send into lane 'news' \\(allowed: tx\\)"):
        resolve_lane(config(tmp_path), key("tx"), "news", "lane")
    with pytest.raises(PermissionDenied):
        resolve_lane(config(tmp_path), key("tx", scopes=frozenset({Scope.READ})), "tx", "lane")


def test_from_domains(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    check_sender(cfg, cfg.lane_by_name("tx"), "tx.acme.test", "from")
    check_sender(cfg, cfg.lane_by_name("news"), "anything.test", "from")  # no list: any domain
    with pytest.raises(PermissionDenied, match=r"may not send as 'news\.acme\.test'"):
        check_sender(cfg, cfg.lane_by_name("tx"), "news.acme.test", "from")


def test_from_domains_are_normalised_and_checked(tmp_path: Path) -> None:
    cfg = make_config(
        "sqlite://",
        [relay("r1", 1)],
        [lane("tx", ["r1"], from_domains=["TX.Bücher.test."])],
        tmp_path,
    )
    assert cfg.lane_by_name("tx").from_domains == ("tx.xn--bcher-kva.test",)
    from relaylane.errors import ConfigError

    with pytest.raises(ConfigError, match="not a domain name"):
        make_config(
            "sqlite://", [relay("r1", 1)], [lane("tx", ["r1"], from_domains=["nodot"])], tmp_path
        )


def gate_config(tmp_path: Path, domains: dict[str, object]):  # type: ignore[no-untyped-def]
    from relaylane.config import load_config_data

    data = {
        "relay": [relay("r1", 1)],
        "lane": [lane("tx", ["r1"], from_domains=["tx.acme.test", "tx.other.test"])],
        "domain": domains,
    }
    return load_config_data(data, source="<test>", base_dir=tmp_path, env={})


def test_the_gate_needs_an_aligned_signature(tmp_path: Path) -> None:
    key = {"dkim": [{"selector": "s1", "key_file": str(dkim_key_file())}]}
    cfg = gate_config(tmp_path, {"acme.test": key})
    check_sender(cfg, cfg.lane_by_name("tx"), "tx.acme.test", "from")  # relaxed: acme.test
    with pytest.raises(InputError) as caught:
        check_sender(cfg, cfg.lane_by_name("tx"), "tx.other.test", "from")
    text = str(caught.value)
    assert "lane 'tx'" in text and "'tx.other.test'" in text and "relaxed" in text
    assert 'add [domain."tx.other.test"] dkim' in text and "relaylane dkim keygen" in text


def test_strict_alignment_needs_the_domain_itself(tmp_path: Path) -> None:
    key = {"dkim": [{"selector": "s1", "key_file": str(dkim_key_file())}]}
    cfg = gate_config(tmp_path, {"acme.test": key, "tx.acme.test": {"alignment": "strict"}})
    with pytest.raises(InputError, match="strict alignment"):
        check_sender(cfg, cfg.lane_by_name("tx"), "tx.acme.test", "from")


def test_a_relay_that_signs_opens_the_gate(tmp_path: Path) -> None:
    cfg = gate_config(tmp_path, {"tx.other.test": {"dkim_signed_by_relay": True}})
    check_sender(cfg, cfg.lane_by_name("tx"), "tx.other.test", "from")
