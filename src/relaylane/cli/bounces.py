"""`relaylane bounces`: the bounce receiver alone, importing mailboxes, what came back,
and the token keys."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from relaylane import runtime
from relaylane.bounces.ingest import FeedbackIngest
from relaylane.bounces.mailboxes import UnreadableInput, messages_in
from relaylane.cli import serve as serve_cli
from relaylane.cli.common import (
    ConfigOption,
    JsonOption,
    age,
    console,
    err_console,
    load,
    print_json,
    store_for,
    user_errors,
)
from relaylane.clock import SystemClock
from relaylane.config.feedback import classifier_for
from relaylane.errors import InputError
from relaylane.serve.service import Part, Service

app = typer.Typer(
    help="Bounces, complaints and provider events: receive, import, inspect.",
    no_args_is_help=True,
)


@app.command("serve")
def serve(config: Path | None = ConfigOption) -> None:
    """Run only the bounce receiver ([bounces] listen), until SIGTERM or Ctrl-C."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            runtime.run(serve_cli._run(Service(cfg, store, frozenset({Part.BOUNCES}))))
    console.print("relaylane bounces serve stopped: every report answered was recorded")


@app.command("import")
def import_(
    files: list[Path] = typer.Argument(..., help=".eml files, mbox files or Maildirs."),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
) -> None:
    """Read bounces and reports from mailboxes you already have. Each message is matched
    to the delivery it is about (only mail relaylane sent counts) and recorded once."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            ingest = FeedbackIngest(
                cfg,
                store.feedback,
                store.token_keys,
                SystemClock(),
                classifier_for(cfg.classification),
            )
            actions: Counter[str] = Counter()
            read = 0
            for path in files:
                try:
                    for found in messages_in(path):
                        rows = ingest.report(found.raw, source="import")
                        read += 1
                        actions.update(r.action for r in rows)
                except (UnreadableInput, OSError) as exc:
                    raise InputError(
                        str(path), str(exc), "give .eml files, mbox files or Maildirs"
                    ) from exc
    if as_json:
        print_json({"messages": read, "actions": dict(actions)})
        return
    summary = ", ".join(f"{n} {a}" for a, n in sorted(actions.items())) or "nothing"
    console.print(f"imported {read} message(s): {summary}", highlight=False)


@app.command("list")
def list_(
    unmatched: bool = typer.Option(
        False, "--unmatched", help="Only reports that matched none of our deliveries."
    ),
    limit: int = typer.Option(50, "--limit", min=1, help="How many, newest first."),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
) -> None:
    """What came back, newest first: event, class, delivery and what relaylane did."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            rows = store.feedback.list(unmatched=unmatched, limit=limit)
    if as_json:
        print_json([{k: v for k, v in asdict(r).items() if k != "raw"} for r in rows])
        return
    clock = SystemClock()
    table = Table(
        "id", "age", "source", "kind", "event", "class", "delivery", "recipient", "action"
    )
    for r in rows:
        table.add_row(
            str(r.id),
            age(clock.now() - r.received_at),
            r.source,
            r.kind,
            r.event,
            r.bounce_class,
            str(r.delivery_id or "-"),
            escape(r.recipient or "-"),
            r.action,
        )
    console.print(table)


@app.command("rotate-key")
def rotate_key(config: Path | None = ConfigOption) -> None:
    """Start signing VERP addresses and X-Relaylane-ID with a new key. The previous key
    keeps verifying for 30 days, so bounces of mail already sent still match."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            key = store.token_keys.rotate(SystemClock().now())
    console.print(
        f"token key {key.id} now signs; the previous key is accepted for 30 more days",
        highlight=False,
    )
    err_console.print("running workers pick up the new key within 5 minutes", highlight=False)
