"""Relay health on the command line: what `relays` and `relays show` report about each
path's state, held deliveries and rates, and the operator's commands `relays pause`,
`relays resume` and `relays drain`."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from relaylane.cli.common import ConfigOption, console, load, operator, store_for, user_errors
from relaylane.config import Config
from relaylane.delivery.operator import drain_path, pause_path, resume_path
from relaylane.errors import InputError, RelaylaneError
from relaylane.reports.relay_health import (
    SUMMARY_WINDOWS,
    empty_rates,
    event_dict,
    health_dict,
    local_text,
    path_label,
    rate_summary,
    relay_health,
    relay_rates,
)

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

ProviderOption = typer.Option(
    None,
    "--provider",
    "-p",
    help="Only this provider group of the relay (google, microsoft, mx:example.net, ...); "
    "default: the relay as a whole.",
    show_default=False,
)


def check_relay(cfg: Config, name: str) -> None:
    """Refuse a relay the configuration does not name, listing the ones it does."""
    known = [r.name for r in cfg.relay]
    if name not in known:
        listed = ", ".join(known) or "none: add a [[relay]] table"
        raise InputError("RELAY", f'no relay named "{name}"', f"use one of the relays: {listed}")


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
            moved = drain_path(store, relay, provider, now, who, reason)
    console.print(
        f"drained {moved:,} waiting deliveries of {_what(relay, provider)} to the lane's other "
        f"relays (they avoid {relay}). Running workers pick them up within about a second.",
        highlight=False,
    )
