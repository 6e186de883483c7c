"""Relay health on the command line: what `relays` and `relays show` report about each
path's state, held deliveries and rates, and the operator's commands `relays pause`,
`relays resume` and `relays drain`."""

from __future__ import annotations

import getpass
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer

from relaylane.cli.common import ConfigOption, console, load, store_for, user_errors
from relaylane.config import Config
from relaylane.delivery.operator import pause_path, resume_path
from relaylane.errors import InputError, RelaylaneError
from relaylane.monitor.metrics import Metric
from relaylane.monitor.rates import WINDOWS, rates
from relaylane.policy.health import (
    RELAY_WIDE,
    HealthState,
    PathHealth,
)
from relaylane.policy.pacing.zones import local_time
from relaylane.store import Store
from relaylane.store.health import HealthEvent, StoredPath

__all__ = [
    "SUMMARY_WINDOWS",
    "check_relay",
    "drain",
    "empty_rates",
    "event_dict",
    "health_dict",
    "local_text",
    "operator",
    "path_label",
    "pause",
    "rate_summary",
    "relay_health",
    "relay_rates",
    "resume",
]

SUMMARY_WINDOWS = ("15m", "1h", "24h")  # `relays --json`; `relays show` has every window

ProviderOption = typer.Option(
    None,
    "--provider",
    "-p",
    help="Only this provider group of the relay (google, microsoft, mx:example.net, ...); "
    "default: the relay as a whole.",
    show_default=False,
)


def local_text(moment: float | None, tz: str, seconds: bool = False) -> str:
    """`moment` as local wall time in `tz` ("-" for none)."""
    if moment is None or not math.isfinite(moment):
        return "-"
    return local_time(moment, tz).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def operator() -> str:
    """The actor of an operator's command: "operator:<login name>"."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name in the environment or the user database
        user = "unknown"
    return f"operator:{user}"


def path_label(provider: str) -> str:
    return "relay" if provider == RELAY_WIDE else provider


def check_relay(cfg: Config, name: str) -> None:
    """Refuse a relay the configuration does not name, listing the ones it does."""
    known = [r.name for r in cfg.relay]
    if name not in known:
        listed = ", ".join(known) or "none: add a [[relay]] table"
        raise InputError("RELAY", f'no relay named "{name}"', f"use one of the relays: {listed}")


# -- reports ----------------------------------------------------------------------------------
def health_dict(h: PathHealth | None, tz: str) -> dict[str, Any]:
    """A path's state for JSON (None: never stored, so healthy since always)."""
    if h is None:
        return {
            "state": HealthState.HEALTHY.value,
            "cause": "none",
            "since": None,
            "since_local": None,
            "until": None,
            "until_local": None,
            "cool_down": 0.0,
            "reason": "",
        }
    return {
        "state": h.state.value,
        "cause": h.cause.value,
        "since": h.since,
        "since_local": local_text(h.since, tz, seconds=True),
        "until": h.until,
        "until_local": None if h.until is None else local_text(h.until, tz, seconds=True),
        "cool_down": h.cool_down,
        "reason": h.reason,
    }


def relay_health(
    relay: str,
    paths: list[StoredPath],
    held: Mapping[tuple[str, str], int],
    tz: str,
    every_path: bool = False,
) -> dict[str, Any]:
    """The relay-wide state, its relay x provider paths (only the non-healthy ones unless
    `every_path`) with their held counts, and the relay's held total."""
    own = {p.provider: p.health for p in paths if p.relay == relay}
    providers: list[dict[str, Any]] = []
    names = sorted(set(own) | {p for (r, p) in held if r == relay} - {RELAY_WIDE})
    for provider in names:
        h = own.get(provider)
        if not every_path and (h is None or h.state is HealthState.HEALTHY):
            continue
        providers.append(
            {"provider": provider, **health_dict(h, tz), "held": held.get((relay, provider), 0)}
        )
    return {
        "health": {**health_dict(own.get(RELAY_WIDE), tz), "held": held.get((relay, ""), 0)},
        "providers": providers,
        "held": sum(n for (r, _), n in held.items() if r == relay),
    }


def rate_summary(totals: Mapping[str, int]) -> dict[str, Any]:
    """Attempts and the rates relay health judges by, over one window."""
    r = rates(totals)
    return {
        "attempts": totals.get(Metric.ATTEMPTS.value, 0),
        "answered": totals.get(Metric.ANSWERED.value, 0),
        "block_rate": r.block_rate,
        "deferral_rate": r.deferral_rate,
        "relay_fault_rate": r.relay_fault_rate,
    }


def relay_rates(store: Store, now: float, windows: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Per relay, per window: `rate_summary` (one query per window for every relay)."""
    out: dict[str, dict[str, Any]] = {}
    for window in windows:
        seconds = WINDOWS[window]
        for relay, totals in store.metrics.breakdown("relay", now - seconds, now).items():
            out.setdefault(relay, {})[window] = rate_summary(totals)
    return out


def empty_rates(windows: tuple[str, ...]) -> dict[str, Any]:
    return {window: rate_summary({}) for window in windows}


def _evidence_text(evidence: Mapping[str, Any]) -> str:
    """The evidence's numbers in a line ("attempts=312 blocks=22 block_rate=0.0705")."""
    parts = []
    for key, value in sorted(evidence.items()):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


def event_dict(event: HealthEvent, tz: str) -> dict[str, Any]:
    return {
        "at": event.at,
        "at_local": local_text(event.at, tz, seconds=True),
        "provider": event.provider,
        "path": path_label(event.provider),
        "from": event.from_state,
        "to": event.to_state,
        "cause": event.cause,
        "actor": event.actor,
        "reason": event.reason,
        "evidence": event.evidence,
        "evidence_text": _evidence_text(event.evidence),
    }


# -- operator commands ------------------------------------------------------------------------
def _what(relay: str, provider: str | None) -> str:
    return f"relay {relay}" + (f" for provider {provider}" if provider else " (every provider)")


def _resume_hint(relay: str, provider: str | None) -> str:
    return f"relaylane relays resume {relay}" + (f" --provider {provider}" if provider else "")


def pause(
    relay: str = typer.Argument(..., help="The relay to pause."),
    provider: str | None = ProviderOption,
    failover: bool = typer.Option(
        False,
        "--failover",
        help="Move the path's deliveries to the lane's other relays (maintenance) instead "
        "of holding them where they are.",
    ),
    reason: str = typer.Option("", "--reason", help="Why: recorded with the pause."),
    config: Path | None = ConfigOption,
) -> None:
    """Pause a relay (or one relay x provider path) until `relays resume`.

    Its deliveries are held where they are, or with --failover sent by the lane's other
    relays (maintenance)."""
    now = time.time()
    who = operator()
    with user_errors():
        cfg = load(config)
        check_relay(cfg, relay)
        with store_for(cfg) as store:
            pause_path(store, relay, provider, now, who, reason, failover)
    what = _what(relay, provider)
    if failover:
        done = f"paused {what} for maintenance: its deliveries go to the lane's other relays"
    else:
        done = f"paused {what}: its deliveries are held where they are"
    console.print(f"{done} until `{_resume_hint(relay, provider)}`.", highlight=False)
    console.print("Running workers pick this up within about a second.", highlight=False)


def resume(
    relay: str = typer.Argument(..., help="The relay to resume."),
    provider: str | None = ProviderOption,
    config: Path | None = ConfigOption,
) -> None:
    """Resume a paused relay (or relay x provider path).

    It is healthy again and the deliveries its pause held are released."""
    now = time.time()
    who = operator()
    with user_errors():
        cfg = load(config)
        check_relay(cfg, relay)
        with store_for(cfg) as store:
            done = resume_path(store, relay, provider, now, who)
    if done is None:
        console.print(f"{_what(relay, provider)} is healthy: nothing to resume.")
        return
    before, released = done.before, done.released
    console.print(
        f"resumed {_what(relay, provider)} (was {before.state.value}, {before.cause.value}); "
        f"{released:,} held deliveries released. Running workers pick this up within about "
        "a second.",
        highlight=False,
    )


def drain(
    relay: str = typer.Argument(..., help="The relay to drain."),
    provider: str | None = ProviderOption,
    to_lane_relays: bool = typer.Option(
        False,
        "--to-lane-relays",
        help="Confirm: the drained deliveries go to the lane's other relays.",
    ),
    reason: str = typer.Option("", "--reason", help="Why: recorded with the drain."),
    config: Path | None = ConfigOption,
) -> None:
    """Move a relay's waiting deliveries to the other relays of their lane.

    Held, blocked, deferred and queued deliveries (or only one provider's) are unpinned
    and due now; the relay is avoided for them. Needs --to-lane-relays."""
    now = time.time()
    who = operator()
    with user_errors():
        if not to_lane_relays:
            raise InputError(
                "--to-lane-relays",
                "drained deliveries leave this relay and go to the other relays of their "
                "lane, which then send them",
                f"add --to-lane-relays to confirm: relaylane relays drain {relay} "
                + (f"--provider {provider} " if provider else "")
                + "--to-lane-relays",
            )
        cfg = load(config)
        check_relay(cfg, relay)
        lanes = [lane for lane in cfg.lane if relay in lane.relay_names]
        if all(set(lane.relay_names) <= {relay} for lane in lanes):
            served = ", ".join(lane.name for lane in lanes)
            where = f"the only relay of lane {served}" if lanes else "in no lane"
            raise RelaylaneError(
                f"relay {relay} is {where}: there is no other relay to drain its deliveries "
                "to. Add a relay to the lane, or use `relaylane relays pause` to hold them"
            )
        with store_for(cfg) as store:
            moved = store.health.drain(relay, provider, now, who, reason)
    console.print(
        f"drained {moved:,} waiting deliveries of {_what(relay, provider)} to the lane's other "
        f"relays (they avoid {relay}). Running workers pick them up within about a second.",
        highlight=False,
    )
