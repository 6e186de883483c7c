"""`relaylane contacts import|list|show|delete`: the contacts of lists (issue 8).

Import streams a CSV (`relaylane.contacts.csv_rows.read_contacts`, one row at a time) and
stores the good rows in batches of `BATCH` (one transaction each); bad rows and
duplicates are reported with their line numbers and never stop the import. See
docs/contacts.md for the file format and the rules.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from relaylane.cli.common import (
    ConfigOption,
    JsonOption,
    console,
    err_console,
    load,
    print_json,
    store_for,
    user_errors,
)
from relaylane.cli.keys import _when
from relaylane.config.models import Config
from relaylane.contacts.confirm import confirmations
from relaylane.contacts.csv_rows import (
    Contact,
    ImportSummary,
    Mapping,
    parse_mapping,
    read_contacts,
)
from relaylane.delivery.addresses import parse_address
from relaylane.errors import InputError, NotFoundError
from relaylane.store import Store
from relaylane.store.contacts import BATCH, ContactDetail, ContactRow

app = typer.Typer(
    help="Contacts and their lists: import a CSV, list, show, erase.",
    no_args_is_help=True,
)

SHOWN_BAD_ROWS = 20  # bad rows printed by a plain import (--json gives all that are kept)
ROLE_WARNING = "role accounts are suppressed on outreach lanes and warned about on marketing lanes"
_LIST_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


# --- parsing user input -------------------------------------------------------------


def _list_name(text: str, field_name: str = "--list") -> str:
    name = text.strip()
    if not _LIST_NAME.fullmatch(name):
        raise InputError(
            field_name,
            f"{text!r} is not a list name",
            "use lower-case letters, digits, '.', '-' and '_', starting with a letter or "
            "digit (at most 64), e.g. --list spring-news",
        )
    return name


def _address(text: str) -> str:
    return parse_address(text, field="EMAIL", allow_display_name=False).addr


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- import -------------------------------------------------------------------------------


@dataclass
class Tally:
    """An import's counts: the reader's summary plus what the store did."""

    summary: ImportSummary = field(default_factory=ImportSummary)
    new: int = 0
    updated: int = 0
    kept_unsubscribed: int = 0
    confirmations: int = 0  # double opt-in requests queued

    def as_dict(self, file: Path, list_name: str) -> dict[str, object]:
        s = self.summary
        return {
            "file": str(file),
            "list": list_name,
            "rows": s.rows,
            "imported": {"new": self.new, "updated": self.updated},
            "bad": s.bad,
            "bad_rows": [{"line": b.line, "reason": b.reason} for b in s.bad_rows],
            "duplicates": s.duplicates,
            "role_accounts": s.roles,
            "kept_unsubscribed": self.kept_unsubscribed,
            "confirmations_queued": self.confirmations,
            "warnings": [ROLE_WARNING] if s.roles else [],
        }


def import_rows(
    lines: Iterable[str] | TextIO,
    mapping: Mapping | None,
    store: Store,
    list_id: int,
    on_batch: Callable[[], None] = lambda: None,
) -> Tally:
    """Read every row and store the good ones, `BATCH` at a time; `on_batch` is called
    after each stored batch (the progress bar)."""
    tally = Tally()
    batch: list[Contact] = []

    def flush() -> None:
        if batch:
            done = store.contacts.import_batch(list_id, batch, time.time())
            tally.new += done.new
            tally.updated += done.updated
            tally.kept_unsubscribed += done.kept_unsubscribed
            batch.clear()
        on_batch()

    for result in read_contacts(lines, mapping):
        tally.summary.add(result)
        if isinstance(result, Contact):
            batch.append(result)
            if len(batch) >= BATCH:
                flush()
    flush()
    return tally


def _read_file(
    file: Path, mapping: Mapping | None, store: Store, list_id: int, progress: bool
) -> Tally:
    with open(file, "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as handle:
        try:
            if not progress:
                return import_rows(handle, mapping, store, list_id)
            size = os.fstat(handle.fileno()).st_size
            with Progress(
                TextColumn("importing"),
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            ) as bar:
                task = bar.add_task("import", total=size)

                def advance() -> None:
                    # the binary buffer's position: the text layer reads ahead of it
                    bar.update(task, completed=min(raw.tell(), size))

                return import_rows(handle, mapping, store, list_id, advance)
        except UnicodeDecodeError as exc:
            raise InputError(
                "FILE",
                f"{file} is not UTF-8 (byte {exc.start} of a read block: {exc.reason})",
                f"save it as UTF-8 CSV; whole batches of {BATCH:,} rows before the bad "
                "byte may have been stored, and importing the fixed file again is safe",
            ) from None


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="A CSV with a header row (an email column)."),
    list_name: str = typer.Option(
        ..., "--list", help="The list the contacts join (created if new)."
    ),
    mapping: str | None = typer.Option(
        None,
        "--map",
        help="Our field = CSV column pairs, e.g. email=Email,first_name=First "
        "(only mapped columns are read).",
    ),
    double_opt_in: bool = typer.Option(
        False,
        "--double-opt-in",
        help="Make the list double opt-in: new members wait as pending until they confirm "
        "through a signed link, sent to each through a transactional lane.",
    ),
    confirm_from: str | None = typer.Option(
        None, "--confirm-from", help="From of the confirmation requests (double opt-in)."
    ),
    confirm_lane: str | None = typer.Option(
        None, "--confirm-lane", help="Lane of the confirmations (default: first transactional)."
    ),
    confirm_subject: str | None = typer.Option(
        None, "--confirm-subject", help="Subject of the confirmations."
    ),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Import contacts from a CSV into a list; bad rows are reported, not fatal."""
    with user_errors():
        cfg = load(config)
        name = _list_name(list_name)
        parsed = None if mapping is None else parse_mapping(mapping)
        if not file.is_file():
            raise InputError("FILE", f"{file} is not a file", "check the path")
        try:
            with store_for(cfg) as store:
                list_id = store.contacts.ensure_list(name, True if double_opt_in else None)
                started = time.time()
                if double_opt_in and confirm_from is None:
                    raise InputError(
                        "--confirm-from",
                        "a double opt-in list sends confirmation requests, which need a From",
                        "add --confirm-from 'Acme <no-reply@tx.acme.example>'",
                    )
                tally = _read_file(
                    file, parsed, store, list_id, progress=console.is_terminal and not json
                )
                if confirm_from is not None:
                    tally.confirmations = _send_confirmations(
                        cfg, store, list_id, name, started, confirm_from, confirm_lane,
                        confirm_subject,
                    )  # fmt: skip
        except OSError as exc:
            raise InputError(
                "FILE", f"cannot read {file}: {exc.strerror or exc}", "check the path"
            ) from None
    _report(tally, file, name, json)
    if tally.summary.good == 0 and tally.summary.bad > 0:
        raise typer.Exit(1)  # every row was refused: nothing stored


def _send_confirmations(
    cfg: Config,
    store: Store,
    list_id: int,
    list_name: str,
    since: float,
    from_: str,
    lane: str | None,
    subject: str | None,
) -> int:
    """Queue a confirmation request to each member this import left pending."""
    pending = store.contacts.pending_since(list_id, since)
    now = time.time()
    ring = store.token_keys.ring(now)
    for start in range(0, len(pending), BATCH):
        messages = confirmations(
            cfg, ring, list_id, list_name, pending[start : start + BATCH],
            from_=from_, lane=lane, subject=subject, now=now,
        )  # fmt: skip
        store.queue.enqueue(messages)
    return len(pending)


def _report(tally: Tally, file: Path, list_name: str, json: bool) -> None:
    if json:
        print_json(tally.as_dict(file, list_name))
        return
    s = tally.summary
    for bad in s.bad_rows[:SHOWN_BAD_ROWS]:
        err_console.print(f"line {bad.line}: {escape(bad.reason)}", highlight=False, soft_wrap=True)
    if s.bad > SHOWN_BAD_ROWS:
        err_console.print(
            f"... and {s.bad - SHOWN_BAD_ROWS:,} more bad row(s) (--json lists the first "
            f"{len(s.bad_rows)})",
            highlight=False,
        )
    console.print(
        f"list {escape(list_name)}: read {s.rows:,} row(s): imported {s.good:,} "
        f"({tally.new:,} new, {tally.updated:,} updated), {s.bad:,} bad, "
        f"{s.duplicates:,} duplicate(s)",
        highlight=False,
    )
    if tally.confirmations:
        console.print(
            f"double opt-in: {tally.confirmations:,} confirmation request(s) queued; those "
            "members are pending until they confirm",
            highlight=False,
        )
    if tally.kept_unsubscribed:
        console.print(
            f"{tally.kept_unsubscribed:,} had unsubscribed from {escape(list_name)} and "
            "stay unsubscribed",
            highlight=False,
        )
    if s.roles:
        err_console.print(
            f"[yellow]warning:[/] {s.roles:,} role account(s) (info@, sales@, ...): {ROLE_WARNING}",
            highlight=False,
        )


# --- list / show / delete -------------------------------------------------------------


@app.command("list")
def list_(
    list_name: str | None = typer.Option(None, "--list", help="Only this list's members."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many, by id."),
    after: int = typer.Option(0, "--after", min=0, help="Start after this contact id."),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """List contacts (all, or one list's members with their status)."""
    with user_errors():
        cfg = load(config)
        name = None if list_name is None else _list_name(list_name)
        with store_for(cfg) as store:
            rows = store.contacts.list_contacts(name, limit=limit, after_id=after)
    if json:
        print_json([_row_record(r) for r in rows])
        return
    console.print(_table(rows, name))
    if len(rows) == limit:
        console.print(f"more may follow: --after {rows[-1].id}", highlight=False)


def _row_record(r: ContactRow) -> dict[str, object]:
    record: dict[str, object] = {
        "id": r.id,
        "email": r.email,
        "attributes": r.attributes,
        "created_at": _iso(r.created_at),
        "updated_at": _iso(r.updated_at),
    }
    if r.status is not None:
        record["status"] = r.status
    return record


def _attributes_text(attributes: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in attributes.items())


def _table(rows: Sequence[ContactRow], list_name: str | None) -> Table:
    where = f" on {list_name}" if list_name else ""
    table = Table(title=f"{len(rows)} contact(s){where}")
    table.add_column("id", justify="right")
    table.add_column("email", no_wrap=True)
    if list_name:
        table.add_column("status")
    table.add_column("attributes")
    table.add_column("updated")
    for r in rows:
        cells = [str(r.id), escape(r.email)]
        if list_name:
            cells.append(r.status or "")
        cells += [escape(_attributes_text(r.attributes)), _when(r.updated_at)]
        table.add_row(*cells)
    return table


def _find(store: Store, email: str) -> ContactDetail:
    found = store.contacts.show(email)
    if found is None:
        raise NotFoundError(f"no contact {email}; see `relaylane contacts list`")
    return found


@app.command("show")
def show(
    email: str = typer.Argument(..., help="The contact's address."),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """One contact: its attributes and its lists with status and consent facts."""
    with user_errors():
        cfg = load(config)
        addr = _address(email)
        with store_for(cfg) as store:
            found = _find(store, addr)
    if json:
        print_json(_detail_record(found))
        return
    console.print(
        f"{escape(found.email)} (id {found.id}); added {_when(found.created_at)}, "
        f"updated {_when(found.updated_at)}",
        highlight=False,
    )
    for key, value in found.attributes.items():
        console.print(f"  {escape(key)}: {escape(value)}", highlight=False)
    table = Table(title=f"{len(found.lists)} list(s)")
    for column in ("list", "status", "subscribed", "source", "added"):
        table.add_column(column)
    for m in found.lists:
        table.add_row(
            escape(m.list),
            m.status,
            _when(m.subscribed_at),
            escape(m.source or ""),
            _when(m.added_at),
        )
    console.print(table)


def _detail_record(d: ContactDetail) -> dict[str, object]:
    return {
        "id": d.id,
        "email": d.email,
        "attributes": d.attributes,
        "created_at": _iso(d.created_at),
        "updated_at": _iso(d.updated_at),
        "lists": [
            {
                "list": m.list,
                "status": m.status,
                "subscribed_at": _iso(m.subscribed_at),
                "source": m.source,
                "added_at": _iso(m.added_at),
            }
            for m in d.lists
        ],
    }


@app.command("delete")
def delete(
    email: str = typer.Argument(..., help="The contact's address."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    config: Path | None = ConfigOption,
) -> None:
    """Erase a contact: its attributes and every list membership (not an unsubscribe)."""
    with user_errors():
        cfg = load(config)
        addr = _address(email)
        with store_for(cfg) as store:
            found = _find(store, addr)
            what = _erasure(found)
            if not yes and not typer.confirm(f"erase {found.email}: {what}?", default=False):
                err_console.print("nothing erased", highlight=False)
                raise typer.Exit(1)
            if not store.contacts.delete(addr):
                raise NotFoundError(f"no contact {addr} (erased meanwhile?)")
    console.print(f"erased {escape(found.email)}: {escape(what)}", highlight=False)


def _erasure(d: ContactDetail) -> str:
    lists = ", ".join(m.list for m in d.lists) or "none"
    return (
        f"the contact, {len(d.attributes)} attribute(s) and {len(d.lists)} list "
        f"membership(s) ({lists})"
    )


__all__ = ["app", "import_rows"]
