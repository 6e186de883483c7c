"""The `relaylane` command line (typer). Each command lives in its own module."""

from __future__ import annotations

import typer

from relaylane.cli import db, demo, init_check, messages, send, status, worker

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
app.command("status")(status.status)
app.add_typer(messages.app, name="messages")
app.add_typer(db.app, name="db")
app.command("demo")(demo.demo)


def main() -> None:
    app()
