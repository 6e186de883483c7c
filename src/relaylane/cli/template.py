"""`relaylane template add|list|show|preview`: stored, versioned campaign templates.

`add` stores a new version (a template that does not compile is refused and nothing is
stored); a running campaign keeps the version it started with. `preview` renders one
version for a contact: its stored attributes plus its email, overridden by `--field`.
The language is documented in docs/templates.md.
"""

from __future__ import annotations

import json as jsonlib
import time
from pathlib import Path
from typing import Any, NoReturn

import sqlalchemy as sa
import typer
from rich.markup import escape
from rich.table import Table

from relaylane.campaigns.render import RenderError, Template, compile_template
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
from relaylane.delivery.addresses import parse_address
from relaylane.errors import InputError
from relaylane.policy.suppression import address_key
from relaylane.store import Store
from relaylane.store.engine import reading
from relaylane.store.schema import contacts
from relaylane.store.templates import TemplateVersion

app = typer.Typer(
    help="Campaign templates: stored, versioned, previewed for a contact.",
    no_args_is_help=True,
)

HTML_PREVIEW = 4000  # characters of HTML source shown without --full

VersionOption = typer.Option(None, "--version", min=1, help="This version (default: latest).")


def _read(path: Path, option: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(option, f"{path} is not UTF-8 text", "save the file as UTF-8") from None
    except OSError as exc:
        raise InputError(
            option, f"cannot read {path}: {exc.strerror or exc}", "check the path"
        ) from None


# --- add / list / show ------------------------------------------------------------------


@app.command("add")
def add(
    name: str = typer.Argument(..., help="Template name, e.g. welcome (a-z, 0-9, . _ -)."),
    subject: str = typer.Option(..., "--subject", help="The subject line (Jinja2)."),
    html_file: Path = typer.Option(..., "--html-file", help="File with the HTML part (Jinja2)."),
    text_file: Path | None = typer.Option(
        None, "--text-file", help="File with the text part (default: generated from the HTML)."
    ),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Store a new version of a template (version 1 for a new name)."""
    with user_errors():
        cfg = load(config)
        html = _read(html_file, "--html-file")
        text = None if text_file is None else _read(text_file, "--text-file")
        with store_for(cfg) as store:
            version = store.templates.add(name, subject, html, text, time.time())
    if json:
        print_json({"name": name, "version": version})
        return
    console.print(f"added template {escape(name)} version {version}", highlight=False)


@app.command("list")
def list_(config: Path | None = ConfigOption, json: bool = JsonOption) -> None:
    """List templates: the latest version of each and how many versions it has."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            rows = store.templates.list()
    if json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} template(s)")
    table.add_column("name", no_wrap=True)
    table.add_column("latest", justify="right")
    table.add_column("versions", justify="right")
    table.add_column("subject")
    table.add_column("updated")
    for r in rows:
        table.add_row(
            escape(r.name), str(r.latest), str(r.versions), escape(r.subject), _when(r.updated_at)
        )
    console.print(table)


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Template name."),
    version: int | None = VersionOption,
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Show one version's source (subject, HTML, text) and the template's versions."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            t = store.templates.get(name, version)
            versions = store.templates.versions(name)
    created = next(v.created_at for v in versions if v.version == t.version)
    if json:
        print_json(
            {
                "name": t.name,
                "version": t.version,
                "subject": t.subject,
                "html": t.html,
                "text": t.text,
                "created_at": created,
                "versions": [_version_dict(v) for v in versions],
            }
        )
        return
    typer.echo(f"template {t.name} version {t.version} (of {len(versions)}), {_when(created)}")
    typer.echo(f"subject: {t.subject}")
    _block("html", t.html)
    _block("text", t.text if t.text is not None else "(none: generated from the HTML)")
    typer.echo("versions: " + ", ".join(f"{v.version} ({_when(v.created_at)})" for v in versions))


def _version_dict(v: TemplateVersion) -> dict[str, Any]:
    return {
        "version": v.version,
        "subject": v.subject,
        "has_text": v.has_text,
        "created_at": v.created_at,
    }


def _block(title: str, body: str) -> None:
    typer.echo(f"--- {title} ---")
    typer.echo(body.rstrip("\n"))


# --- preview --------------------------------------------------------------------------------


def _fields(pairs: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError("--field", f"{pair!r} is not key=value", "e.g. --field first_name=Ada")
        fields[key.strip()] = value
    return fields


def _stored_contact(store: Store, addr: str) -> dict[str, Any] | None:
    """The contact's stored attributes plus its email; None when there is no such contact."""
    c = contacts.c
    stmt = sa.select(c.email, c.attributes).where(c.email_key == address_key(addr))
    with reading(store.engine) as conn:
        row = conn.execute(stmt).first()
    if row is None:
        return None
    try:
        attributes = jsonlib.loads(row.attributes or "{}")
    except ValueError:
        attributes = {}
    fields: dict[str, Any] = dict(attributes) if isinstance(attributes, dict) else {}
    fields["email"] = row.email
    return fields


def _error_dict(exc: RenderError) -> dict[str, Any]:
    return {
        "template": exc.template,
        "version": exc.version,
        "part": exc.part,
        "line": exc.line,
        "variable": exc.variable,
        "problem": exc.problem,
        "fix": exc.fix,
        "message": str(exc),
    }


@app.command("preview")
def preview(
    name: str = typer.Argument(..., help="Template name."),
    contact: str = typer.Option(..., "--contact", help="Render for this contact's email."),
    version: int | None = VersionOption,
    field: list[str] = typer.Option(
        [], "--field", help="key=value, overriding the contact's field (repeatable)."
    ),
    full: bool = typer.Option(False, "--full", help=f"All the HTML, not {HTML_PREVIEW:,} chars."),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Render a template for one contact: subject, text and HTML source."""
    with user_errors():
        cfg = load(config)
        addr = parse_address(contact, field="--contact", allow_display_name=False).addr
        overrides = _fields(field)
        with store_for(cfg) as store:
            t = store.templates.get(name, version)
            stored = _stored_contact(store, addr)
        fields: dict[str, Any] = {"email": addr} if stored is None else stored
        fields.update(overrides)
        try:
            rendered = compile_template(t).render(fields)
        except RenderError as exc:
            _render_failed(exc, json)
    head = {
        "template": t.name,
        "version": t.version,
        "contact": fields["email"],
        "stored_contact": stored is not None,
        "fields": fields,
    }
    if json:
        parts = {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}
        print_json({**head, **parts, "text_generated": t.text is None})
        return
    _print_preview(t, head, rendered.subject, rendered.text, rendered.html, full)


def _render_failed(exc: RenderError, json: bool) -> NoReturn:
    if json:
        print_json({"error": _error_dict(exc)})
    else:
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        where = [f"template {exc.template} v{exc.version}", f"part {exc.part}"]
        if exc.line is not None:
            where.append(f"line {exc.line}")
        if exc.variable is not None:
            where.append(f"variable {exc.variable}")
        err_console.print(escape(", ".join(where)), highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _print_preview(
    t: Template, head: dict[str, Any], subject: str, text: str, html: str, full: bool
) -> None:
    known = "stored contact" if head["stored_contact"] else "no stored contact: email only"
    typer.echo(f"template {t.name} version {t.version} for {head['contact']} ({known})")
    typer.echo(f"subject: {subject}")
    _block("text" if t.text is not None else "text (generated from the HTML)", text)
    shown = html if full or len(html) <= HTML_PREVIEW else html[:HTML_PREVIEW]
    _block(f"html ({len(html):,} characters)", shown)
    if len(shown) < len(html):
        typer.echo(f"[... {len(html) - len(shown):,} more characters; --full shows all]")
