"""`relaylane send`: queue a message for one or many recipients, durably."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from relaylane.cli.common import (
    ConfigOption,
    JsonOption,
    console,
    load,
    print_json,
    store_for,
    user_errors,
)
from relaylane.config.durations import parse_instant
from relaylane.delivery.addresses import (
    parse_address,
    parse_recipient_lines,
    unique_addresses,
)
from relaylane.delivery.compose import Composed, compose
from relaylane.delivery.eml import compose_eml
from relaylane.delivery.submit import Origin, build_message
from relaylane.errors import InputError
from relaylane.intake.lanes import check_sender


def _read_text(path: Path, flag: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(flag, f"cannot read {path}: {exc.strerror}", "check the path") from exc
    except UnicodeDecodeError as exc:
        raise InputError(flag, f"{path} is not UTF-8 text", "convert it to UTF-8") from exc


def _headers(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise InputError(
                "--header",
                f"{item!r} is not 'Name: value'",
                "write it like --header 'X-Campaign: spring'",
            )
        out[name.strip()] = value.strip()
    return out


def _compose(
    from_: str | None,
    subject: str | None,
    text: str | None,
    text_file: Path | None,
    html_file: Path | None,
    eml: Path | None,
    headers: list[str],
    reply_to: str | None,
) -> Composed:
    if eml is not None:
        if text or text_file or html_file:
            raise InputError(
                "--eml",
                "--eml cannot be combined with --text/--text-file/--html-file",
                "put the body in the .eml file, or drop --eml",
            )
        try:
            raw = eml.read_bytes()
        except OSError as exc:
            raise InputError(
                "--eml", f"cannot read {eml}: {exc.strerror}", "check the path"
            ) from exc
        return compose_eml(raw, from_override=from_)
    if from_ is None:
        raise InputError("--from", "no sender given", "pass --from 'Name <user@domain>'")
    if text is not None and text_file is not None:
        raise InputError("--text", "both --text and --text-file given", "pass only one")
    body_text = _read_text(text_file, "--text-file") if text_file else text
    body_html = _read_text(html_file, "--html-file") if html_file else None
    return compose(
        from_=from_,
        subject=subject or "",
        text=body_text,
        html=body_html,
        headers=_headers(headers),
        reply_to=reply_to,
    )


def send(
    lane: str = typer.Option(..., "--lane", "-l", help="The lane (by purpose) to send in."),
    from_: str | None = typer.Option(None, "--from", help="From header: 'Name <user@domain>'."),
    to: list[str] = typer.Option([], "--to", help="A recipient; repeat for more."),
    to_file: Path | None = typer.Option(None, "--to-file", help="One recipient per line."),
    subject: str | None = typer.Option(None, "--subject", help="Subject line."),
    text: str | None = typer.Option(None, "--text", help="Plain-text body."),
    text_file: Path | None = typer.Option(None, "--text-file", help="Plain-text body file."),
    html_file: Path | None = typer.Option(None, "--html-file", help="HTML body file."),
    eml: Path | None = typer.Option(None, "--eml", help="A complete RFC 5322 message."),
    header: list[str] = typer.Option([], "--header", help="Extra header 'Name: value'."),
    reply_to: str | None = typer.Option(None, "--reply-to", help="Reply-To address."),
    envelope_from: str | None = typer.Option(
        None, "--envelope-from", help="Envelope sender (MAIL FROM); default: the From address."
    ),
    not_before: str | None = typer.Option(
        None, "--not-before", help="Send no earlier than this (ISO 8601 with a zone)."
    ),
    send_window: str | None = typer.Option(
        None, "--send-window", help='Send only inside this window, e.g. "mon-fri 08:00-18:00".'
    ),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Queue a message: one delivery per recipient, committed before ids are printed."""
    with user_errors():
        cfg = load(config)
        recipients = [parse_address(t, field="--to", allow_display_name=False) for t in to]
        if to_file is not None:
            lines = _read_text(to_file, "--to-file").splitlines()
            recipients += parse_recipient_lines(lines, source=str(to_file))
        recipients = unique_addresses(recipients)
        composed = _compose(from_, subject, text, text_file, html_file, eml, header, reply_to)
        sender = (
            parse_address(envelope_from, field="--envelope-from", allow_display_name=False)
            if envelope_from
            else None
        )
        origin = Origin(
            not_before=parse_instant(not_before) if not_before else None, send_window=send_window
        )
        message = build_message(
            cfg, lane, composed, recipients, time.time(), mail_from=sender, origin=origin
        )
        check_sender(cfg, cfg.lane_by_name(lane), composed.from_addr.domain, "--from")
        with store_for(cfg) as store:
            [ids] = store.queue.enqueue([message])
    pairs = [
        {"id": i, "recipient": d.recipient} for i, d in zip(ids, message.deliveries, strict=True)
    ]
    if json:
        print_json({"lane": message.lane, "deliveries": pairs})
        return
    if len(pairs) > 20:
        console.print(
            f"queued {len(pairs)} deliveries in lane {message.lane}: ids {ids[0]}..{ids[-1]}"
        )
        return
    for p in pairs:
        console.print(f"{p['id']}\t{p['recipient']}", highlight=False)
