"""`relaylane campaign create|list|test|start|pause|resume|cancel|retry-failed|status`.

A campaign sends one template version to the subscribed members of a list (optionally a
segment of it) through one marketing or outreach lane, with one fixed From. A running
worker (`relaylane worker` or `serve`) feeds its contacts to the queue and renders each
message at send time. See docs/campaigns.md.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from relaylane.campaigns import lifecycle
from relaylane.campaigns.lifecycle import new_campaign, proofs, start
from relaylane.campaigns.report import COLUMNS, Progress
from relaylane.campaigns.states import CampaignStrategy
from relaylane.cli.common import (
    ConfigOption,
    JsonOption,
    console,
    err_console,
    load,
    operator,
    print_json,
    store_for,
    user_errors,
)
from relaylane.cli.keys import _when
from relaylane.reports.campaigns import list_report, status_progress, status_report

app = typer.Typer(
    help="Campaigns: one template to a list or segment, paced over a lane's relays.",
    no_args_is_help=True,
)
NameArg = typer.Argument(..., help="The campaign's name.")


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="A unique name, e.g. december-news."),
    list_name: str = typer.Option(..., "--list", help="The list whose members receive it."),
    segment: str | None = typer.Option(
        None, "--segment", help="Only members matching, e.g. 'country = \"DE\"'."
    ),
    template: str = typer.Option(
        ..., "--template", help="The template (its latest version when the campaign starts)."
    ),
    lane: str = typer.Option(..., "--lane", help="A marketing or outreach lane."),
    from_: str = typer.Option(..., "--from", help="The one fixed From, e.g. 'Acme <n@acme.test>'."),
    reply_to: str | None = typer.Option(None, "--reply-to", help="A fixed Reply-To."),
    strategy: str = typer.Option(
        CampaignStrategy.STICKY.value,
        "--strategy",
        help="sticky (each provider sees one relay), failover, or weighted (only across "
        "relays of one sending identity).",
    ),
    send_window: str | None = typer.Option(
        None, "--send-window", help="Send only inside, e.g. 08:00-18:00 or mon-fri 09:00-17:00."
    ),
    tz: str | None = typer.Option(None, "--tz", help="The window's zone, e.g. Europe/Berlin."),
    not_before: str | None = typer.Option(
        None, "--not-before", help="Start no earlier, e.g. 2026-12-01T08:00:00+01:00."
    ),
    max_per_hour: int | None = typer.Option(
        None, "--max-per-hour", help="Queue at most this many messages per hour."
    ),
    tracking: bool | None = typer.Option(
        None, "--tracking/--no-tracking", help="Opens and clicks (default: the lane's)."
    ),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Create a campaign (a draft: nothing is sent until `campaign start`)."""
    with user_errors():
        cfg = load(config)
        new = new_campaign(
            cfg,
            name=name,
            list_name=list_name,
            segment=segment,
            template=template,
            lane=lane,
            from_header=from_,
            reply_to=reply_to,
            strategy=strategy,
            send_window=send_window,
            tz=tz,
            not_before=not_before,
            max_per_hour=max_per_hour,
            tracking=tracking,
        )
        with store_for(cfg) as store:
            store.templates.get(template)  # exists now (its version is fixed at start)
            campaign_id = store.campaigns.create(new, time.time())
    if json:
        print_json({"id": campaign_id, "name": name, "state": "draft"})
        return
    console.print(
        f"created campaign {escape(name)} (draft); send proofs with `relaylane campaign test "
        f"{escape(name)} --to you@example.com`, then `relaylane campaign start {escape(name)}`",
        highlight=False,
    )


@app.command("list")
def list_(config: Path | None = ConfigOption, json: bool = JsonOption) -> None:
    """Every campaign with its state and progress."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            rows = store.campaigns.all()
    if json:
        print_json(list_report(rows))
        return
    table = Table(title=f"{len(rows)} campaign(s)")
    for column in ("name", "state", "list", "lane", "audience", "queued so far", "created"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            escape(r.name),
            r.state.value,
            escape(r.list_name),
            r.lane,
            str(r.audience),
            str(r.fed),
            _when(r.created_at),
        )
    console.print(table)


@app.command("test")
def proof(
    name: str = NameArg,
    to: list[str] = typer.Option(..., "--to", help="Proof recipient (repeat for more)."),
    contact: str | None = typer.Option(
        None, "--contact", help="Render as for this contact (default: the list's first)."
    ),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Queue proof sends ("[TEST] " subject) through the campaign's lane."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            messages = proofs(cfg, store, name, to, contact, time.time())
            ids = store.queue.enqueue(messages)
    count = sum(len(x) for x in ids)
    if json:
        print_json({"queued": count, "deliveries": [i for x in ids for i in x]})
        return
    console.print(f"queued {count} proof(s); a running worker sends them", highlight=False)


@app.command("start")
def start_(
    name: str = NameArg, config: Path | None = ConfigOption, json: bool = JsonOption
) -> None:
    """Validate (template on a sample of contacts) and start sending."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            started = start(cfg, store, name, time.time(), operator())
    if json:
        print_json(
            {
                "name": name,
                "state": started.campaign.state.value,
                "template_version": started.template_version,
                "audience": started.audience,
                "role_accounts": started.role_accounts,
                "warnings": list(started.warnings),
            }
        )
        return
    for warning in started.warnings:
        err_console.print(f"warning: {escape(warning)}", highlight=False)
    console.print(
        f"started campaign {escape(name)}: {started.audience} subscribed member(s), template "
        f"version {started.template_version}; a running worker sends it",
        highlight=False,
    )


@app.command("pause")
def pause(
    name: str = NameArg,
    reason: str = typer.Option("paused by an operator", "--reason", help="Shown in status."),
    config: Path | None = ConfigOption,
) -> None:
    """Pause: nothing more is sent until `campaign resume`."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            held = lifecycle.pause(store, name, reason, time.time(), actor=operator())
    console.print(f"paused {escape(name)}; {held} waiting delivery(ies) held", highlight=False)


@app.command("resume")
def resume(name: str = NameArg, config: Path | None = ConfigOption) -> None:
    """Resume a paused campaign (also one that paused itself, once the cause is fixed)."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            due = lifecycle.resume(store, name, time.time(), actor=operator())
    console.print(f"resumed {escape(name)}; {due} held delivery(ies) due now", highlight=False)


@app.command("cancel")
def cancel(name: str = NameArg, config: Path | None = ConfigOption) -> None:
    """Cancel for good: what was not sent never will be."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            count = lifecycle.cancel(store, name, time.time(), actor=operator())
    console.print(f"cancelled {escape(name)}; {count} delivery(ies) not sent", highlight=False)


@app.command("retry-failed")
def retry_failed(name: str = NameArg, config: Path | None = ConfigOption) -> None:
    """Send again to contacts whose delivery failed for a reason that was neither their
    address nor a block (expired, relay errors). Never to sent, bounced, blocked or
    suppressed ones."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            count = lifecycle.retry_failed(cfg, store, name, time.time(), actor=operator())
    console.print(f"queued {count} failed delivery(ies) of {escape(name)} again", highlight=False)


@app.command("status")
def status(
    name: str = NameArg,
    watch: bool = typer.Option(False, "--watch", help="Refresh until interrupted."),
    interval: float = typer.Option(2.0, "--interval", min=0.2, help="Seconds between refreshes."),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Progress per relay and provider, engagement, and the estimated finish."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            if json:
                print_json(status_report(cfg, store, name, time.time()))
                return
            if not watch:
                console.print(_view(status_progress(cfg, store, name, time.time())))
                return
            with Live(console=console, auto_refresh=False) as live:
                try:
                    while True:
                        live.update(
                            _view(status_progress(cfg, store, name, time.time())), refresh=True
                        )
                        time.sleep(interval)
                except KeyboardInterrupt:
                    return


def _view(p: Progress) -> Group:
    c = p.campaign
    head = Text()
    head.append(f"campaign {c.name}: ", style="bold")
    head.append(c.state.value, style=_STATE_STYLE.get(c.state.value, ""))
    if c.reason:
        head.append(f" ({c.reason})")
    head.append(
        f"\nlist {c.list_name}{' segment ' + c.segment if c.segment else ''}, template "
        f"{c.template} v{c.template_version or '-'}, lane {c.lane}, {c.strategy}, from "
        f"{c.from_header}\naudience {c.audience}, queued so far {c.fed}, left out by the "
        f"segment {c.skipped}, remaining {p.remaining}, rate {p.rate_per_hour:.0f}/h"
    )
    if p.finish_at is not None:
        head.append(f", estimated finish {_when(p.finish_at)}")
    e = p.engagement
    head.append(f"\nopened {e['opened']}, clicked {e['clicked']}, unsubscribed {e['unsubscribed']}")
    for note in p.notes:
        head.append(f"\nnote: {note}")
    parts: list[Text | Table] = [head, _table("total", {"all": p.totals})]
    if p.by_relay:
        parts.append(_table("relay", p.by_relay))
    if p.by_provider:
        table = _table("provider", p.by_provider)
        parts.append(table)
        if p.provider_relays:
            lines = ", ".join(f"{k} → {'/'.join(v)}" for k, v in sorted(p.provider_relays.items()))
            parts.append(Text(f"relay per provider: {lines}"))
    return Group(*parts)


def _table(first: str, rows: dict[str, dict[str, int]]) -> Table:
    table = Table(show_edge=False)
    table.add_column(first)
    for column in COLUMNS:
        table.add_column(column, justify="right")
    for key, counts in sorted(rows.items()):
        table.add_row(escape(key), *(str(counts.get(c, 0)) for c in COLUMNS))
    return table


_STATE_STYLE = {"running": "green", "paused": "yellow", "cancelled": "red", "finished": "blue"}
