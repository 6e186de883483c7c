"""Choosing the lane for a submission and checking its sender (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaylane.auth.principal import Principal, Scope
from relaylane.errors import InputError, PermissionDenied
from relaylane.intake.lanes import check_sender, resolve_lane
from tests.helpers import lane, make_config, relay


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
    check_sender(cfg.lane_by_name("tx"), "tx.acme.test", "from")
    check_sender(cfg.lane_by_name("news"), "anything.test", "from")  # no list: any domain
    with pytest.raises(PermissionDenied, match=r"may not send as 'news\.acme\.test'"):
        check_sender(cfg.lane_by_name("tx"), "news.acme.test", "from")


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
