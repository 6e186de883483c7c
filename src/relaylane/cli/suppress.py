"""`relaylane suppress add|remove|list|import|export`: the suppression list by hand.

Adding an entry stops the address's waiting deliveries in its scope at once. Import reads
a CSV (for instance the export of the previous sending platform) row by row and adds it
in chunks; bad rows are reported with their line number and the good ones are kept.
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import typer
from rich.markup import escape
from rich.table import Table

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
from relaylane.errors import InputError, NotFoundError
from relaylane.policy.suppression import Reason, Scope, Source
from relaylane.reports import suppressions
from relaylane.store import Store
from relaylane.store.suppressions import NewSuppression, SuppressionRow

if TYPE_CHECKING:
    from _csv import Reader

app = typer.Typer(
    help="Suppressed addresses: mail to them is never handed to a relay.",
    no_args_is_help=True,
)

CHUNK = 1000  # rows per store transaction on import
EXPORT_COLUMNS = suppressions.EXPORT_COLUMNS
SCOPE_HELP = "global, lane:NAME or list:NAME."
SCOPE_EXAMPLE = suppressions.SCOPE_EXAMPLE
_EVERYTHING = 2**62  # `list` takes a limit; export wants every entry

ScopeOption = typer.Option("global", "--scope", help=f"Where it applies: {SCOPE_HELP}")
FilterScopeOption = typer.Option(None, "--scope", help=f"Only this scope: {SCOPE_HELP}")
ReasonOption = typer.Option(Reason.MANUAL, "--reason", help="Why it is suppressed.")


# --- parsing user input (shared with the dashboard: relaylane.reports.suppressions) ----

_address = suppressions.address
_lane_names = suppressions.lane_names
_scope = suppressions.scope
_reason = suppressions.reason
_from_iso = suppressions.from_iso


def _expires_in(text: str | None, now: float) -> float | None:
    return suppressions.expires_in(text, now, "--expires", "--expires 30d")


# --- add / remove / list ----------------------------------------------------------------


@app.command("add")
def add(
    addresses: list[str] = typer.Argument(..., help="One or more addresses (bob@example.com)."),
    scope: str = ScopeOption,
    reason: Reason = ReasonOption,
    note: str | None = typer.Option(None, "--note", help="Why, in your words."),
    expires: str | None = typer.Option(
        None, "--expires", help="Lift it after this long, e.g. 30d (default: never)."
    ),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Suppress addresses, and stop their waiting deliveries in that scope at once."""
    with user_errors():
        cfg = load(config)
        where = _scope(scope, "--scope", _lane_names(cfg))
        parsed = [_address(text) for text in addresses]
        now = time.time()
        expires_at = _expires_in(expires, now)
        entries = suppressions.new_entries(parsed, where, reason, Source.CLI, note, expires_at)
        with store_for(cfg) as store:
            done = store.suppressions.add(entries, now, actor=operator())
    summary = suppressions.add_summary(done, len(entries), where, reason, expires_at)
    if json:
        print_json(summary)
        return
    console.print(
        f"added {done.added} suppression(s) in scope {escape(str(where))} "
        f"({len(entries) - done.added} already present); "
        f"stopped {done.stopped} waiting deliveries",
        highlight=False,
    )


@app.command("remove")
def remove(
    address: str = typer.Argument(..., help="The suppressed address."),
    scope: str = ScopeOption,
    config: Path | None = ConfigOption,
) -> None:
    """Lift a suppression: later mail to the address is sent again."""
    with user_errors():
        cfg = load(config)
        addr = _address(address)
        where = _scope(scope, "--scope")
        with store_for(cfg) as store:
            removed = store.suppressions.remove(addr, where, actor=operator())
        if removed == 0:
            raise NotFoundError(
                f"{addr} is not suppressed in scope {where}; "
                f"see `relaylane suppress list --address {addr}`"
            )
    console.print(f"removed the suppression of {escape(addr)} in scope {escape(str(where))}")


@app.command("list")
def list_(
    address: str | None = typer.Option(None, "--address", help="Only this address."),
    scope: str | None = FilterScopeOption,
    limit: int = typer.Option(1000, "--limit", min=1, help="At most this many, oldest first."),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """List suppressed addresses."""
    with user_errors():
        cfg = load(config)
        addr = None if address is None else _address(address, "--address")
        where = None if scope is None else _scope(scope, "--scope")
        with store_for(cfg) as store:
            rows = store.suppressions.list(address=addr, scope=where, limit=limit)
    if json:
        print_json(rows)
        return
    console.print(_table(rows))


def _table(rows: Sequence[SuppressionRow]) -> Table:
    table = Table(title=f"{len(rows)} suppression(s)")
    table.add_column("address", no_wrap=True)  # shown whole: what people search for
    table.add_column("scope", no_wrap=True)
    for column in ("reason", "source", "created", "expires", "note"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            escape(r.address),
            escape(r.scope),
            r.reason,
            r.source,
            _when(r.created_at),
            _when(r.expires_at),
            escape(r.note or ""),
        )
    return table


# --- export -------------------------------------------------------------------------------


@app.command("export")
def export(
    scope: str | None = FilterScopeOption,
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Print every suppression as CSV (the format `suppress import` reads) or JSON."""
    with user_errors():
        cfg = load(config)
        where = None if scope is None else _scope(scope, "--scope")
        with store_for(cfg) as store:
            rows = store.suppressions.list(scope=where, limit=_EVERYTHING)
    records = [suppressions.record(r) for r in rows]
    if json:
        print_json(records)
        return
    suppressions.write_csv(records, sys.stdout)


# --- import -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Columns:
    """Where each field is in a row; None when the file has no such column."""

    address: int
    reason: int | None
    scope: int | None
    note: int | None
    expires_at: int | None

    @classmethod
    def from_header(cls, header: Sequence[str]) -> Columns:
        names = [h.strip().lower() for h in header]

        def find(*wanted: str) -> int | None:
            return next((i for i, name in enumerate(names) if name in wanted), None)

        address = find("email", "address")
        return cls(
            0 if address is None else address,
            find("reason"),
            find("scope"),
            find("note"),
            find("expires_at"),
        )


def _cell(row: Sequence[str], index: int | None) -> str:
    return row[index].strip() if index is not None and index < len(row) else ""


@dataclass(frozen=True, slots=True)
class Defaults:
    scope: Scope
    reason: Reason
    lanes: tuple[str, ...]


@dataclass
class Tally:
    rows: int = 0
    valid: int = 0
    added: int = 0
    stopped: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "added": self.added,
            "already_present": self.valid - self.added,
            "bad": [{"line": line, "problem": problem} for line, problem in self.bad],
            "stopped": self.stopped,
        }


def _entry(row: Sequence[str], cols: Columns, defaults: Defaults) -> NewSuppression:
    """One CSV row as an entry; raises InputError saying what is wrong with it."""
    scope_text, reason_text = _cell(row, cols.scope), _cell(row, cols.reason)
    return NewSuppression(
        address=_address(_cell(row, cols.address), "email"),
        scope=_scope(scope_text, "scope", defaults.lanes) if scope_text else defaults.scope,
        reason=_reason(reason_text, "reason") if reason_text else defaults.reason,
        source=Source.IMPORT,
        note=_cell(row, cols.note) or None,
        expires_at=_from_iso(_cell(row, cols.expires_at), "expires_at"),
    )


def _numbered(reader: Reader) -> Iterator[tuple[int, list[str]]]:
    """The non-blank rows after the header, each with the line it starts on."""
    start = reader.line_num + 1
    for row in reader:
        if any(cell.strip() for cell in row):
            yield start, row
        start = reader.line_num + 1


def _import_rows(
    rows: Iterable[tuple[int, list[str]]], cols: Columns, defaults: Defaults, store: Store
) -> Tally:
    tally = Tally()
    chunk: list[NewSuppression] = []
    for line, row in rows:
        tally.rows += 1
        try:
            chunk.append(_entry(row, cols, defaults))
        except InputError as exc:
            tally.bad.append((line, exc.problem))
            continue
        if len(chunk) >= CHUNK:
            _flush(store, chunk, tally)
    _flush(store, chunk, tally)
    return tally


def _flush(store: Store, chunk: list[NewSuppression], tally: Tally) -> None:
    if not chunk:
        return
    done = store.suppressions.add(chunk, time.time(), actor=operator())
    tally.valid += len(chunk)
    tally.added += done.added
    tally.stopped += done.stopped
    chunk.clear()


def _read_file(handle: TextIO, defaults: Defaults, store: Store, path: Path) -> Tally:
    reader = csv.reader(handle)
    try:
        header = next(reader, None)
        if header is None:
            raise InputError("FILE", f"{path} is empty", "give a CSV with a header row: email,...")
        return _import_rows(_numbered(reader), Columns.from_header(header), defaults, store)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(
            "FILE",
            f"cannot read {path} at line {reader.line_num + 1}: {exc}",
            f"save it as UTF-8 CSV; whole chunks of {CHUNK} rows before that line may "
            "have been added, and importing the fixed file again is safe",
        ) from None


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="A CSV with a header row (email or address column)."),
    scope: str = ScopeOption,
    reason: Reason = ReasonOption,
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Import suppressions from a CSV; `reason` and `scope` columns override the flags."""
    with user_errors():
        cfg = load(config)
        lanes = _lane_names(cfg)
        defaults = Defaults(_scope(scope, "--scope", lanes), reason, lanes)
        try:
            with open(file, encoding="utf-8-sig", newline="") as handle, store_for(cfg) as store:
                tally = _read_file(handle, defaults, store, file)
        except OSError as exc:
            raise InputError(
                "FILE", f"cannot read {file}: {exc.strerror or exc}", "check the path"
            ) from None
        if tally.rows == 0:
            raise InputError("FILE", f"{file} has no rows after the header", "add some rows")
    _report(tally, json)
    if tally.valid == 0:
        raise typer.Exit(2)


def _report(tally: Tally, json: bool) -> None:
    if json:
        print_json(tally.as_dict())
        return
    for line, problem in tally.bad:
        err_console.print(f"line {line}: {escape(problem)}", highlight=False, soft_wrap=True)
    console.print(
        f"read {tally.rows} row(s): {tally.added} added, {tally.valid - tally.added} already "
        f"present, {len(tally.bad)} bad; stopped {tally.stopped} waiting deliveries",
        highlight=False,
    )
