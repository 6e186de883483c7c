"""Secrets out of log text. Pure.

`redact` masks, wherever they appear in a line:
- the password of a URL: `postgresql://app:s3cret@db/x` -> `postgresql://app:***@db/x`;
- `password=`, `secret=`, `token=` values (also `api_token: ...`, `"password": "..."`,
  `client_secret=...`): the value becomes `***`;
- bearer credentials (`Authorization: Bearer ...`) and the secret half of relaylane API
  keys (`rl_<key id>_<secret>` -> `rl_<key id>_***`: the id names the key, harmlessly);
- the initial response of SMTP AUTH (`AUTH PLAIN <base64>`, `AUTH LOGIN <base64>`, the
  other SASL mechanisms alike): `AUTH PLAIN ***` (an EHLO line listing the mechanisms,
  `250-AUTH PLAIN LOGIN`, is left alone).

Not caught: the bare base64 lines of a multi-step AUTH LOGIN dialogue, which look like
any other word. Nothing in relaylane logs SMTP commands (aiosmtpd's per-command logger
is kept at WARNING), so they only appear if an operator turns that logger up.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "redact"]

MASK = "***"

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:@/\s]*:)[^@\s]+(?=@)")
_KEY_VALUE = re.compile(
    r"(?P<head>\b(?:[a-zA-Z0-9]+[_-])*(?:password|passwd|pwd|secret|token)[\"']?\s*[=:]\s*[\"']?)"
    r"(?P<value>[^\s\"'&,;]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<head>\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_API_KEY = re.compile(r"(?P<head>\brl_[0-9a-f]{12}_)[A-Za-z0-9_-]+")
_MECHANISMS = (
    r"(?:PLAIN|LOGIN|CRAM-MD5|DIGEST-MD5|XOAUTH2|OAUTHBEARER|NTLM|SCRAM-SHA-[0-9-]+(?:-PLUS)?)"
)
_SMTP_AUTH = re.compile(  # a mechanism, then an initial response (not another mechanism)
    rf"(?P<head>\bAUTH\s+{_MECHANISMS}\s+)(?!{_MECHANISMS}\b)[A-Za-z0-9+/]+=*(?![\w+/=])",
    re.IGNORECASE,
)

_RULES = (_URL_PASSWORD, _KEY_VALUE, _BEARER, _API_KEY, _SMTP_AUTH)


def redact(text: str) -> str:
    """`text` with every secret it shows replaced by `***`."""
    for rule in _RULES:
        text = rule.sub(rf"\g<head>{MASK}", text)
    return text
