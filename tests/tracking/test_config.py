"""The tracking keys: [[lane]] tracking (default by purpose) and [domain."NAME"]
tracking_domain (Config.tracking_base), their errors, and unknown keys still refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from relaylane.config import Config, load_config_data
from relaylane.errors import ConfigError
from tests.helpers import lane, relay, signing_domains


def load(tmp_path: Path, lanes: list[dict[str, Any]] | None = None, **sections: Any) -> Config:
    data: dict[str, Any] = {
        "relay": [relay("r1", 1), relay("r2", 1), relay("r3", 1)],
        "lane": lanes
        or [
            lane("tx", ["r1"]),
            lane("news", ["r2"], "marketing"),
            lane("sales", ["r3"], "outreach"),
        ],
        "http": {"public_url": "https://mail.acme.test/"},
        "domain": signing_domains(),
    }
    data.update(sections)
    return load_config_data(data, source="<test>", base_dir=tmp_path, env={})


def problems(tmp_path: Path, **kw: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, **kw)
    return caught.value.problems


def test_tracking_defaults_by_purpose(tmp_path: Path) -> None:
    config = load(tmp_path)
    assert [config.tracking_for(n) for n in ("tx", "news", "sales")] == [False, True, False]


def test_tracking_set_per_lane(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        lanes=[
            lane("tx", ["r1"], tracking=True),
            lane("news", ["r2"], "marketing", tracking=False),
            lane("sales", ["r3"], "outreach", tracking=True),
        ],
    )
    assert [config.tracking_for(n) for n in ("tx", "news", "sales")] == [True, False, True]


def test_tracking_must_be_a_boolean(tmp_path: Path) -> None:
    [line] = problems(tmp_path, lanes=[lane("news", ["r2"], "marketing", tracking="yes")])
    assert 'lane[0] "news"' in line and "tracking" in line


def test_tracking_base_follows_the_domain_and_its_parents(tmp_path: Path) -> None:
    domains = {
        **signing_domains(),
        "news.acme.test": {"tracking_domain": "Track.News.Acme.Test."},
        "shop.test": {"tracking_domain": "t.shop.test"},
    }
    config = load(tmp_path, domain=domains)
    assert config.tracking_base("news.acme.test") == "https://track.news.acme.test"
    assert config.tracking_base("eu.news.acme.test") == "https://track.news.acme.test"
    assert config.tracking_base("NEWS.acme.test") == "https://track.news.acme.test"
    assert config.tracking_base("mail.shop.test") == "https://t.shop.test"
    assert config.tracking_base("tx.acme.test") == "https://mail.acme.test"  # none set
    assert config.tracking_base("other.test") == "https://mail.acme.test"


def test_tracking_base_defaults_to_the_listen_address(tmp_path: Path) -> None:
    config = load(tmp_path, http={"listen": "127.0.0.1:8025"})
    assert config.tracking_base("news.acme.test") == "http://127.0.0.1:8025"


@pytest.mark.parametrize(
    "value", ["https://track.acme.test", "track.acme.test/t", "nodot", "a b.test"]
)
def test_tracking_domain_must_be_a_host_name(tmp_path: Path, value: str) -> None:
    [line] = problems(tmp_path, domain={"news.acme.test": {"tracking_domain": value}})
    assert "tracking_domain" in line and "news.acme.test" in line


def test_unknown_keys_are_still_refused(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        lanes=[lane("news", ["r2"], "marketing", trackin=True)],
        domain={"news.acme.test": {"tracking_domian": "t.acme.test"}},
    )
    assert any('unknown key "trackin"' in p and '"tracking"' in p for p in found), found
    assert any('unknown key "tracking_domian"' in p for p in found), found
