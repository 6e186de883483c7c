"""plan.forecast against simulate.simulate, hour rows, provider splits."""

from __future__ import annotations

import itertools
import math
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relaylane.policy.pacing.caps import period_end, period_start
from relaylane.policy.pacing.plan import forecast, water_fill
from relaylane.policy.pacing.simulate import forecast_error, simulate
from relaylane.policy.pacing.warmup import Spill, WarmupPolicy, WarmupState
from relaylane.policy.pacing.windows import parse_window
from relaylane.policy.pacing.workload import (
    RelayFacts,
    WarmupPath,
    Workload,
    parse_split,
    split_counts,
)

BERLIN = "Europe/Berlin"


def at(text: str, tz: str = "UTC") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


T0 = at("2026-06-10T09:20")
SPLIT = {"google": 0.6, "microsoft": 0.25, "other": 0.15}
RATES = {"google": 1.0, "microsoft": 0.5, "default": 2.0}
SMALL = WarmupPolicy(schedule=(100, 250, 500, 1000, 2500))

WORKLOADS = {
    "one relay, one rate": Workload(count=5000, relays=(RelayFacts("a", rate=2.0),), start=T0),
    "split with relay x provider rates": Workload(
        count=8000,
        relays=(RelayFacts("a", rate=2.0), RelayFacts("b", rate=1.0, hourly_cap=2000)),
        start=T0,
        split=SPLIT,
        provider_rates=RATES,
    ),
    "hourly and daily caps across DST in Berlin": Workload(
        count=6000,
        relays=(RelayFacts("a", rate=5.0, hourly_cap=400, daily_cap=1500, sent_this_hour=350),),
        start=at("2026-03-27T16:40", BERLIN),
        timezone=BERLIN,
    ),
    "relay warm-up, spill to the lane": Workload(
        count=6000,
        relays=(
            RelayFacts("a", rate=1.0, warmup=WarmupPath(SMALL)),
            RelayFacts("b", rate=1.0, warmup=WarmupPath(SMALL, WarmupState(step=2))),
        ),
        start=T0,
    ),
    "domain x provider warm-up on each relay": Workload(
        count=5000,
        relays=(
            RelayFacts(
                "a",
                rate=3.0,
                provider_warmups={"google": WarmupPath(SMALL), "microsoft": WarmupPath(SMALL)},
            ),
            RelayFacts("b", rate=3.0, provider_warmups={"google": WarmupPath(SMALL)}),
        ),
        start=T0,
        split={"google": 0.7, "microsoft": 0.3},
        provider_rates=RATES,
    ),
    "warm-up with earlier deferrals, spill hold": Workload(
        count=3000,
        relays=(
            RelayFacts(
                "a",
                rate=0.5,
                warmup=WarmupPath(SMALL, WarmupState(step=1, sent_in_step=100, deferrals=20)),
            ),
            RelayFacts("b", rate=0.2),
        ),
        start=T0,
        spill=Spill.HOLD,
    ),
    "office hours in Paris": Workload(
        count=12000,
        relays=(RelayFacts("a", rate=0.2), RelayFacts("b", rate=0.1)),
        start=at("2026-06-12T15:00", "Europe/Paris"),  # a Friday afternoon
        windows=(parse_window("mon-fri 08:00-18:00", "Europe/Paris"),),
        timezone="Europe/Paris",
        split=SPLIT,
        provider_rates={"google": 0.15, "default": 1.0},
    ),
    "not before, unlimited rates with a daily cap": Workload(
        count=2500,
        relays=(RelayFacts("a", daily_cap=1000),),
        start=T0,
        not_before=T0 + 7200,
    ),
}


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_forecast_agrees_with_the_simulation(name: str) -> None:
    workload = WORKLOADS[name]
    planned = forecast(workload).finish_time
    simulated = simulate(workload).finish_time
    assert planned is not None and simulated is not None
    assert forecast_error(workload) <= 0.05, (
        name,
        planned - workload.start,
        simulated - workload.start,
    )


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_rows_add_up(name: str) -> None:
    workload = WORKLOADS[name]
    result = forecast(workload)
    assert result.finish_time is not None
    rows = result.rows
    assert rows[0].hour_start == period_start(workload.start, workload.timezone, "hour")
    for row, following in itertools.pairwise(rows):
        assert following.hour_start == period_end(row.hour_start, workload.timezone, "hour")
        assert following.cumulative >= row.cumulative
    assert rows[-1].cumulative == pytest.approx(workload.count)
    assert sum(row.sent for row in rows) == pytest.approx(workload.count)
    assert (
        rows[-1].hour_start
        <= result.finish_time
        < period_end(rows[-1].hour_start, workload.timezone, "hour")
    )
    wanted = split_counts(workload.count, workload.split)
    for provider, n in wanted.items():
        assert sum(row.sent_by_provider.get(provider, 0.0) for row in rows) == pytest.approx(n)


def test_caps_and_rates_hold_in_every_row() -> None:
    workload = WORKLOADS["hourly and daily caps across DST in Berlin"]
    rows = forecast(workload).rows
    assert rows[0].sent == pytest.approx(50)  # 350 of 400 were already sent this hour
    assert max(row.sent for row in rows) <= 400 + 1e-6
    per_day: dict[float, float] = {}
    for row in rows:
        day = period_start(row.hour_start, BERLIN, "day")
        per_day[day] = per_day.get(day, 0.0) + row.sent
    assert max(per_day.values()) <= 1500 + 1e-6
    assert len(per_day) == 4  # 1500 a day: Friday to Monday


def test_warmup_shapes_the_days() -> None:
    workload = Workload(
        count=2000, relays=(RelayFacts("a", rate=10.0, warmup=WarmupPath(SMALL)),), start=T0
    )
    result = forecast(workload)
    per_day: dict[float, float] = {}
    for row in result.rows:
        day = period_start(row.hour_start, "UTC", "day")
        per_day[day] = per_day.get(day, 0.0) + row.sent
    assert [round(v) for v in per_day.values()] == [100, 250, 500, 1000, 150]


# random workloads: small enough to simulate message by message
relays = st.builds(
    RelayFacts,
    name=st.sampled_from(["a"]),
    rate=st.one_of(st.none(), st.floats(min_value=0.05, max_value=2.0)),
    hourly_cap=st.one_of(st.none(), st.integers(min_value=200, max_value=3000)),
    daily_cap=st.one_of(st.none(), st.integers(min_value=3000, max_value=20000)),
    warmup=st.one_of(st.none(), st.just(WarmupPath(SMALL))),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=relays,
    second=relays,
    count=st.integers(min_value=800, max_value=2500),
    google=st.floats(min_value=0.0, max_value=1.0),
    google_rate=st.floats(min_value=0.05, max_value=2.0),
    spill=st.sampled_from(list(Spill)),
    zone=st.sampled_from(["UTC", BERLIN, "America/New_York"]),
    offset=st.floats(min_value=0, max_value=86400),
)
def test_random_workloads_agree(
    first: RelayFacts,
    second: RelayFacts,
    count: int,
    google: float,
    google_rate: float,
    spill: Spill,
    zone: str,
    offset: float,
) -> None:
    pair = (
        first,
        RelayFacts("b", second.rate, second.hourly_cap, second.daily_cap, warmup=second.warmup),
    )
    workload = Workload(
        count=count,
        relays=pair,
        start=T0 + offset,
        split={"google": google, "other": 1.0 - google},
        provider_rates={"google": google_rate, "default": 1.0},
        timezone=zone,
        spill=spill,
    )
    planned = forecast(workload).finish_time
    simulated = simulate(workload).finish_time
    assert planned is not None and simulated is not None
    duration = simulated - workload.start
    # a message or two of token-bucket burst is all that may separate them on short runs
    assert abs(planned - simulated) <= max(0.05 * duration, 3.0 / min(_rates(workload)))


def _rates(workload: Workload) -> list[float]:
    rates = [r.rate for r in workload.relays if r.rate is not None]
    rates += [r for r in workload.provider_rates.values() if r is not None]
    return rates or [1.0]


def test_office_hours_skip_the_weekend() -> None:
    result = forecast(WORKLOADS["office hours in Paris"])
    paris = "Europe/Paris"
    busy = {
        datetime.fromtimestamp(r.hour_start, ZoneInfo(paris)).strftime("%a %H")
        for r in result.rows
        if r.sent > 0
    }
    assert "Fri 15" in busy and "Mon 08" in busy
    assert not any(
        hour.startswith(("Sat", "Sun")) or hour.endswith(("18", "19", "07")) for hour in busy
    )


def test_never_within_the_horizon() -> None:
    stuck = Workload(count=10, relays=(RelayFacts("a", daily_cap=0),), start=T0)
    assert forecast(stuck, horizon_days=3).finish_time is None
    assert simulate(stuck, horizon_days=3).finish_time is None
    assert forecast_error(stuck, horizon_days=3) == 0.0
    apart = (parse_window("08:00-09:00"), parse_window("10:00-11:00"))
    never = Workload(count=10, relays=(RelayFacts("a", rate=1.0),), start=T0, windows=apart)
    assert forecast(never).finish_time is None and simulate(never).finish_time is None
    nobody = Workload(count=10, relays=(), start=T0)
    assert forecast(nobody, horizon_days=1).finish_time is None
    assert simulate(nobody, horizon_days=1).finish_time is None


def test_nothing_to_send() -> None:
    empty = Workload(count=0, relays=(RelayFacts("a", rate=1.0),), start=T0)
    result = forecast(empty)
    assert result.finish_time == T0 and len(result.rows) == 1 and result.rows[0].sent == 0
    assert simulate(empty).finish_time == T0


def test_water_fill() -> None:
    assert water_fill(20.0, [10.0, 10.0, 10.0]) == pytest.approx([20 / 3] * 3)
    assert water_fill(20.0, [2.0, 100.0, 100.0]) == pytest.approx([2.0, 9.0, 9.0])
    assert water_fill(5.0, []) == []
    assert water_fill(-1.0, [1.0]) == [0.0]


def test_split_counts_and_parse_split() -> None:
    assert split_counts(10, {"google": 0.6, "microsoft": 0.25, "other": 0.15}) == {
        "google": 6,
        "microsoft": 3,
        "other": 1,
    }
    assert sum(split_counts(1001, {"a": 1, "b": 1, "c": 1}).values()) == 1001
    assert split_counts(0, {"a": 1.0}) == {"a": 0}
    assert parse_split("google=60%,microsoft=25%,other=15%") == pytest.approx(
        {"google": 0.6, "microsoft": 0.25, "other": 0.15}
    )
    assert parse_split("Google=0.5") == pytest.approx({"google": 0.5, "other": 0.5})
    for bad in ("google=60%,google=10%", "google=70%,yahoo=40%", "google", "=5%", ""):
        with pytest.raises(ValueError, match="google=60%,microsoft=25%,other=15%"):
            parse_split(bad)
    for bad_split in ({"a": -1.0}, {"a": 0.0}, {"a": math.nan}):
        with pytest.raises(ValueError, match="split"):
            split_counts(5, bad_split)


def test_workload_refuses_odd_input() -> None:
    relay = RelayFacts("a", rate=1.0)
    for kwargs in (
        {"count": -1},
        {"count": True},
        {"start": math.nan},
        {"timezone": "Nowhere"},
        {"relays": (relay, relay)},
        {"relays": (RelayFacts("a", rate=0.0),)},
        {"relays": (RelayFacts("a", hourly_cap=-1),)},
        {"provider_rates": {"google": 0.0}},
    ):
        args = {"count": 1, "relays": (relay,), "start": T0, **kwargs}
        with pytest.raises(ValueError, match=r"must|time zone|unique"):
            Workload(**args)  # type: ignore[arg-type]
    assert Workload(count=1, relays=(relay,), start=T0).pair_rate("yahoo") is None
    assert WORKLOADS["split with relay x provider rates"].pair_rate("yahoo") == 2.0
