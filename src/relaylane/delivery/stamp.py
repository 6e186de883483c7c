"""What makes a sent delivery recognisable when something comes back about it.

Every delivery carries `X-Relaylane-ID: <token>` (the signed delivery token). Relays of
kind "mta" with a return path for the From domain get a VERP envelope sender
b-<token>@<return path>, so each bounce names its delivery. ESPs rewrite the envelope
sender, so for them the token also travels in the header their webhooks echo back.
Pure: bytes and strings in, bytes and strings out.
"""

from __future__ import annotations

import json

from relaylane.bounces.tokens import verp_address
from relaylane.policy.vocabulary import EspProvider

ID_HEADER = "X-Relaylane-ID"
ID_FIELD = "relaylane_id"  # the custom-argument name in ESP events


def stamp_headers(token: str, provider: EspProvider | None) -> bytes:
    """Header lines (CRLF-terminated) to put above the message's own."""
    own = f"{ID_HEADER}: {token}\r\n"
    if provider is EspProvider.SENDGRID:
        own += f'X-SMTPAPI: {{"unique_args": {_variables(token)}}}\r\n'
    elif provider is EspProvider.MAILGUN:
        own += f"X-Mailgun-Variables: {_variables(token)}\r\n"
    elif provider is EspProvider.POSTMARK:
        own += f"X-PM-Metadata-{ID_FIELD}: {token}\r\n"
    return own.encode("ascii")


def _variables(token: str) -> str:
    return json.dumps({ID_FIELD: token}, separators=(", ", ": "))


def envelope_sender(mail_from: str, token: str, return_path: str | None) -> str:
    """The MAIL FROM for one delivery: VERP when a return path applies; the null sender
    (DSNs relaylane sends) always stays null."""
    if not mail_from or return_path is None:
        return mail_from
    return verp_address(token, return_path)
