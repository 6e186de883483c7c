"""The `relaylane` command line (typer). Each command lives in its own module."""

from __future__ import annotations

import typer

from relaylane.cli import (
    audit,
    bounces,
    campaign,
    contacts,
    db,
    demo,
    dkim,
    doctor,
    events,
    init_check,
    keys,
    lanes,
    messages,
    plan,
    queue,
    relays,
    send,
    serve,
    smtp_users,
    stats,
    status,
    suppress,
    template,
    worker,
    workers,
)

app = typer.Typer(
    name="relaylane",
    help="Self-hosted multi-SMTP sending: lanes, relays, and delivery you can trust.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("init")(init_check.init)
app.command("check")(init_check.check)
app.command("send")(send.send)
app.command("worker")(worker.worker)
app.command("serve")(serve.serve)
app.command("status")(status.status)
app.command("doctor")(doctor.doctor)
app.command("plan")(plan.plan)
app.add_typer(relays.app, name="relays")
app.add_typer(lanes.app, name="lanes")
app.add_typer(queue.app, name="queue")
app.command("stats")(stats.stats)
app.add_typer(messages.app, name="messages")
app.add_typer(db.app, name="db")
app.add_typer(keys.app, name="keys")
app.add_typer(smtp_users.app, name="smtp-users")
app.add_typer(suppress.app, name="suppress")
app.add_typer(contacts.app, name="contacts")
app.add_typer(bounces.app, name="bounces")
app.add_typer(events.app, name="events")
app.add_typer(dkim.app, name="dkim")
app.add_typer(template.app, name="template")
app.add_typer(campaign.app, name="campaign")
app.command("demo")(demo.demo)
app.command("audit")(audit.audit)
app.command("workers")(workers.workers)


def main() -> None:
    app()
