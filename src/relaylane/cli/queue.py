"""`relaylane queue`: look at the waiting deliveries and act on them.

`queue list` shows the deliveries a filter selects (the dead letters: `--state failed`);
`queue hold|release|requeue|cancel|retry` change them, each in one transaction recorded
in the audit log (`relaylane.store.queue_control`). `--dry-run` shows the count and a
sample and changes nothing; more than 1,000 deliveries ask for confirmation unless
`--yes`. Deliveries in flight (`sending`) are never changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from relaylane.cli.common import (
    ConfigOption,
    JsonOption,
    age,
    console,
    load,
    operator,
    print_json,
    store_for,
    user_errors,
)
from relaylane.config import Config
from relaylane.errors import InputError
from relaylane.policy.queue_filter import CONFIRM_OVER, QueueAction, QueueFilter, parse_filter
from relaylane.store.queue_control import SqlQueueControl

__all__ = ["app", "filter_of"]

app = typer.Typer(
    no_args_is_help=True,
    help="The queue: list waiting (or failed) deliveries; hold, release, requeue, cancel, retry.",
)

LaneOpt = typer.Option(None, "--lane", "-l", help="Only this lane.", show_default=False)
RelayOpt = typer.Option(None, "--relay", "-r", help="Only this relay.", show_default=False)
ProviderOpt = typer.Option(
    None, "--provider", "-p", help="Only this provider group (google, ...).", show_default=False
)
DomainOpt = typer.Option(
    None, "--domain", "-d", help="Only recipients at this domain.", show_default=False
)
CampaignOpt = typer.Option(None, "--campaign", help="Only this campaign.", show_default=False)
StateOpt = typer.Option(
    None,
    "--state",
    "-s",
    help="Only these states, comma-separated (queued,deferred,blocked,held,sending,failed...).",
    show_default=False,
)
OlderOpt = typer.Option(
    None, "--older-than", help="Only deliveries queued longer ago than this (30m, 1h, 2d).",
    show_default=False,
)  # fmt: skip


def filter_of(
    cfg: Config,
    lane: str | None,
    relay: str | None,
    provider: str | None,
    domain: str | None,
    campaign: str | None,
    state: str | None,
    older_than: str | None,
) -> QueueFilter:
    return parse_filter(
        lanes=[ln.name for ln in cfg.lane],
        relays=[r.name for r in cfg.relay],
        lane=lane,
        relay=relay,
        provider=provider,
        domain=domain,
        campaign=campaign,
        state=state,
        older_than=older_than,
    )


def _table(rows: list[dict[str, Any]], title: str, caption: str | None = None) -> Table:
    table = Table(title=title, caption=caption)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("lane", no_wrap=True)
    table.add_column("recipient", overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("relay", no_wrap=True)
    table.add_column("provider", no_wrap=True)
    table.add_column("campaign", no_wrap=True)
    table.add_column("age", justify="right", no_wrap=True)
    table.add_column("tries", justify="right", no_wrap=True)
    table.add_column("last reply", overflow="fold")
    for r in rows:
        table.add_row(
            str(r["id"]),
            escape(r["lane"]),
            escape(r["recipient"]),
            r["state"] + (" (operator)" if r["held_by_operator"] else ""),
            escape(r["relay"] or "-"),
            escape(r["provider"] or "-"),
            escape(r["campaign"] or "-"),
            age(r["age"]),
            str(r["attempts"]),
            escape((r["last_reply"] or "-")[:120]),
        )
    return table


@app.command("list")
def list_(
    lane: str | None = LaneOpt,
    relay: str | None = RelayOpt,
    provider: str | None = ProviderOpt,
    domain: str | None = DomainOpt,
    campaign: str | None = CampaignOpt,
    state: str | None = StateOpt,
    older_than: str | None = OlderOpt,
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=10_000, help="Rows shown."),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """List the deliveries a filter selects, newest first (default: every delivery not
    yet final). The dead letters: `relaylane queue list --state failed`."""
    now = time.time()
    with user_errors():
        cfg = load(config)
        where = filter_of(cfg, lane, relay, provider, domain, campaign, state, older_than)
        with store_for(cfg) as store:
            control = SqlQueueControl(store.engine)
            counts = control.counts_by_state(where, now)
            rows = control.list(where, now, limit)
    total = sum(counts.values())
    if json:
        print_json({"filter": where.as_args(), "count": total, "by_state": counts,
                    "deliveries": rows})  # fmt: skip
        return
    if not rows:
        console.print("no deliveries match.")
        return
    by_state = ", ".join(f"{s} {n:,}" for s, n in sorted(counts.items()))
    caption = f"{total:,} match ({by_state})" + (
        f"; the newest {len(rows):,} shown (--limit)" if total > len(rows) else ""
    )
    console.print(_table(rows, "relaylane queue", caption))


_HELP = {
    QueueAction.HOLD: "Hold waiting deliveries (queued, deferred, blocked, or held by health, "
    "a window or a campaign) where they are, until `queue release`.",
    QueueAction.RELEASE: "Release deliveries an operator held: queued, due now. With "
    "--all-holds, health's, windows' and campaigns' holds too.",
    QueueAction.REQUEUE: "Make deferred or blocked deliveries due now, on their own relay.",
    QueueAction.CANCEL: "Cancel waiting deliveries (final: they are never sent).",
    QueueAction.RETRY: "Queue failed deliveries again, due now (the dead letters; not a "
    "campaign's: see `campaign retry-failed`).",
}


def _command(action: QueueAction) -> Callable[..., None]:
    def command(
        lane: str | None = LaneOpt,
        relay: str | None = RelayOpt,
        provider: str | None = ProviderOpt,
        domain: str | None = DomainOpt,
        campaign: str | None = CampaignOpt,
        state: str | None = StateOpt,
        older_than: str | None = OlderOpt,
        reason: str = typer.Option("", "--reason", help="Why: recorded in the audit log."),
        dry_run: bool = typer.Option(
            False, "--dry-run", help="Show how many would change and a sample; change nothing."
        ),
        yes: bool = typer.Option(
            False, "--yes", "-y", help=f"Do not ask when more than {CONFIRM_OVER:,} would change."
        ),
        all_holds: bool = typer.Option(
            False,
            "--all-holds",
            help="release: also health's, windows' and campaigns' holds (default: only "
            "the ones an operator made).",
        ),
        config: Path | None = ConfigOption,
        json: bool = JsonOption,
    ) -> None:
        now = time.time()
        who = operator()
        with user_errors():
            cfg = load(config)
            where = filter_of(cfg, lane, relay, provider, domain, campaign, state, older_than)
            with store_for(cfg) as store:
                control = SqlQueueControl(store.engine)
                preview = control.apply(action, where, now, who, reason=reason,
                                        dry_run=True, all_holds=all_holds)  # fmt: skip
                if dry_run:
                    _show_preview(action, where, preview.count, list(preview.sample), json)
                    return
                if preview.count > CONFIRM_OVER and not yes and not json:
                    asked = f"{action.value} {preview.count:,} deliveries ({_what(where)})?"
                    if not typer.confirm(asked, default=False):
                        console.print("nothing changed.")
                        raise typer.Exit(1)
                elif preview.count > CONFIRM_OVER and not yes:
                    raise InputError(
                        "--yes",
                        f"{preview.count:,} deliveries would change, more than {CONFIRM_OVER:,}",
                        "add --yes to confirm, or narrow the filter",
                    )
                max_ages = {ln.name: ln.max_age for ln in cfg.lane}
                done = control.apply(action, where, time.time(), who, reason=reason,
                                     all_holds=all_holds, max_ages=max_ages)  # fmt: skip
        if json:
            print_json({"filter": where.as_args(), **done.as_dict()})
            return
        console.print(
            f"{action.past} {done.count:,} deliveries ({_what(where)}); recorded in the "
            "audit log as " + who + ".",
            highlight=False,
        )
        if action is QueueAction.HOLD and done.count:
            console.print("Release them with `relaylane queue release` and the same filter.")

    command.__doc__ = _HELP[action]
    command.__name__ = action.value
    return command


def _what(where: QueueFilter) -> str:
    args = where.as_args()
    return ", ".join(f"{k} {v}" for k, v in sorted(args.items())) or "every lane"


def _show_preview(
    action: QueueAction,
    where: QueueFilter,
    count: int,
    sample: list[dict[str, Any]],
    json: bool,
) -> None:
    if json:
        print_json({"filter": where.as_args(), "action": action.value, "dry_run": True,
                    "count": count, "sample": sample})  # fmt: skip
        return
    console.print(
        f"dry run: {action.value} would change {count:,} deliveries ({_what(where)}); "
        "nothing changed.",
        highlight=False,
    )
    if sample:
        console.print(_table(sample, f"a sample ({len(sample)} of {count:,})"))


for _action in QueueAction:
    app.command(_action.value)(_command(_action))
