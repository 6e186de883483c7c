"""A slowed relay x provider pair gets its pace back step by step: the pacer's tick applies
each recovery step to the pair's bucket, so sends really speed up again (not only the
rate it reports), and each step is logged once."""

from __future__ import annotations

from pathlib import Path

from relaylane.delivery.pacer import Pacer
from relaylane.store import Store
from tests.helpers import lane, make_config, relay

START = 1_800_000_000.0


def test_each_recovery_step_reaches_the_bucket(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    config = make_config(store_url, [relay("r1", 1)], [lane("tx", ["r1"])], tmp_path)
    google = {"domains": ["gmail.example"], "rate": "40/s", "recover_every": "10s",
              "recover_step": 0.25}  # fmt: skip
    providers = config.providers()
    providers["google"] = providers["google"].model_copy(update=_parsed(google, config))
    pacer = Pacer(config, providers)
    pacer.throttle("r1", "google", 0.25, START, "test: slowed")
    # 40/s x 0.25, and the hold of a health slow-down ends at once: its first step is due
    for step, rate in ((1, 20.0), (2, 30.0), (3, 40.0)):
        now = START + (step - 1) * 10 + 0.5
        pacer.tick(now)
        assert pacer.interval("r1", "google", now) == 1 / rate, step
    pacer.tick(START + 100)  # at its base rate: nothing more to do
    _, events, _ = pacer.drain()
    assert [e.action for e in events] == ["slow", "recover", "recover", "recover"]
    assert [e.rate for e in events[1:]] == [20.0, 30.0, 40.0]


def _parsed(google: dict[str, object], config: object) -> dict[str, object]:
    from relaylane.config.pacing import ProviderConfig

    parsed = ProviderConfig.model_validate(google)
    return {k: getattr(parsed, k) for k in ("rate", "recover_every", "recover_step")}
