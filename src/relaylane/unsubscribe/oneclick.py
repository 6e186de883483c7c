"""The pure parts of one-click unsubscribe (RFC 8058, RFC 2369, RFC 2919).

Tokens
------
An unsubscribe token has the layout of a delivery token (`bounces.tokens`): lower-case
base32 of a 2-byte key id, the 8-byte delivery id and a 10-byte truncated HMAC-SHA256,
made with the same `KeyRing`. Only the MAC's purpose prefix differs:

    delivery (VERP, X-Relaylane-ID):  HMAC(key, b"relaylane-delivery\\0"    | key id | id)
    unsubscribe (URL, mailto):        HMAC(key, b"relaylane-unsubscribe\\0" | key id | id)

Both prefixes end in NUL and differ before it, so no input of one purpose equals an input
of the other: a VERP or X-Relaylane-ID token (which every recipient and every bounce sees)
does not verify as an unsubscribe token, and an unsubscribe token does not verify as a
delivery token (either way only by a 2**-80 chance). The same keys serve both, so
rotation, storage and the CLI stay as they are.

Unsubscribe tokens never expire (RFC 8058 wants the URL to keep working as long as the
message may be read). `KeyRing.delivery_of` refuses a key 30 days after it was retired
(`RETIRED_KEY_GRACE`); `verify_unsubscribe_token` deliberately ignores `retired_at` and
accepts every key the ring holds. That is sound only while the ring holds every key ever
created: `SqlTokenKeys.rotate` marks the old key retired and never deletes it, and
`SqlTokenKeys.ring` loads all keys, so today a link from any past message still works.
The rule for future rotation code: token keys are never deleted. Retiring stops a key
signing, and 30 days later stops it matching bounces, but it keeps verifying unsubscribe
tokens forever. A key whose secret leaked needs its own revocation flag, and revoking it
breaks the unsubscribe links it signed, which the operator must be told.

Headers
-------
`list_headers` gives, ready to write and to DKIM-sign (RFC 8058 3.1 wants both List-
Unsubscribe fields covered by the signature):

    List-Unsubscribe: <https://BASE/u/TOKEN>,
     <mailto:u-TOKEN@MAILTO_DOMAIN>
    List-Unsubscribe-Post: List-Unsubscribe=One-Click
    List-Id: "Name" <label.namespace>

The https URI comes first (RFC 2369: the left-most supported method is used). Values are
folded by relaylane's own `encode_value`, so a long List-Unsubscribe folds between the two
URIs; unfolding (deleting each CRLF) gives the one-line value back. The first line is a
few octets over RFC 5322's preferred 78 with a usual base URL, since a URI is one word;
every line stays far below the 998-octet limit (the base URL is capped).
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import hmac
import re
import urllib.parse
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value

from relaylane.bounces.tokens import MAC_BYTES, TOKEN_CHARS, KeyRing
from relaylane.delivery.addresses import refuse_unsafe_chars
from relaylane.delivery.headers import check_header_value, encode_value
from relaylane.errors import InputError

__all__ = [
    "MAILTO_PREFIX",
    "MAX_POST_BODY",
    "ONE_CLICK",
    "URL_PATH",
    "is_one_click",
    "list_headers",
    "mailto_token",
    "unsubscribe_token",
    "verify_unsubscribe_token",
]

ONE_CLICK = "List-Unsubscribe=One-Click"  # the List-Unsubscribe-Post value and POST body
MAILTO_PREFIX = "u-"  # mailto local part: u-<token> (34 octets, within RFC 5321's 64)
URL_PATH = "/u/"  # the unsubscribe URL is <base_url>/u/<token>
MAX_POST_BODY = 64 * 1024  # a one-click body is 26 octets; anything past this is refused
MAX_LIST_ID = 255  # octets (RFC 2919 2)
MAX_BASE_URL = 900  # keeps "List-Unsubscribe: <URL/u/TOKEN>," within a 998-octet line

_PURPOSE = b"relaylane-unsubscribe\0"  # see the module docstring
_TOKEN = re.compile(rf"[a-z2-7]{{{TOKEN_CHARS}}}")
_MAILTO_LOCAL = re.compile(rf"{MAILTO_PREFIX}([a-z2-7]{{{TOKEN_CHARS}}})", re.IGNORECASE)
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LIST_ID = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})+")  # list-label "." namespace (dot-atoms)
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})+", re.IGNORECASE)
_URL_CHARS = re.compile(r"[A-Za-z0-9._~:/@!$&'()*+,;=%-]+")  # RFC 3986, minus ?#[] and <>
_ENCODED_WORD_BYTES = 39  # UTF-8 octets per RFC 2047 word: 52 base64 chars, 64 in all
_FORM_FIELDS = 64  # at most this many fields in a urlencoded body


# --- tokens ----------------------------------------------------------------------------


def unsubscribe_token(ring: KeyRing, delivery_id: int) -> str:
    """The unsubscribe token for a delivery, signed with the ring's newest key.

    32 lower-case base32 characters; not interchangeable with `KeyRing.token`.
    """
    if not 0 <= delivery_id < 2**64:
        raise ValueError(f"delivery id {delivery_id} does not fit in 8 bytes")
    key = ring.signing_key
    head = key.id.to_bytes(2, "big") + delivery_id.to_bytes(8, "big")
    raw = head + _mac(key.secret, head)
    return base64.b32encode(raw).decode("ascii").lower()


def verify_unsubscribe_token(ring: KeyRing, token: str) -> int | None:
    """The delivery id an unsubscribe token was made for, or None: malformed, unknown key,
    or a MAC that does not verify (a delivery/VERP token is refused here).

    Never expires and accepts retired keys, however long ago they were retired.
    """
    token = token.strip().lower()
    if not _TOKEN.fullmatch(token):
        return None
    try:
        raw = base64.b32decode(token.upper())
    except (binascii.Error, ValueError):  # pragma: no cover - the pattern admits only base32
        return None
    head, mac = raw[:10], raw[10:]
    key = ring.key(int.from_bytes(head[:2], "big"))
    if key is None or not hmac.compare_digest(mac, _mac(key.secret, head)):
        return None
    return int.from_bytes(head[2:], "big")


def _mac(secret: bytes, head: bytes) -> bytes:
    return hmac.digest(secret, _PURPOSE + head, "sha256")[:MAC_BYTES]


def mailto_token(local_part: str) -> str | None:
    """The token in a `u-<token>` local part (any case: MTAs may change it), lower-cased,
    or None when the local part is not an unsubscribe address. Does not verify it."""
    found = _MAILTO_LOCAL.fullmatch(local_part.strip())
    return found[1].lower() if found else None


# --- header fields ---------------------------------------------------------------------


def list_headers(
    *,
    base_url: str | None,
    mailto_domain: str | None,
    token: str,
    list_id: str | None,
    list_name: str | None,
) -> list[tuple[str, str]]:
    """List-Unsubscribe, List-Unsubscribe-Post and (with a list) List-Id, as (name, value)
    pairs with values folded for the wire (CRLF + space only between words).

    `base_url` is the public https root of the unsubscribe route (a path is allowed, no
    query or fragment); `list_id` is the whole RFC 2919 list id, e.g.
    `news.acme.example` (a label, a dot, a domain the sender controls). Either URI may be
    None, not both: without `base_url` List-Unsubscribe names only the mailto and there is
    no List-Unsubscribe-Post (RFC 8058 one-click needs an https URI). Raises InputError
    naming the bad argument.
    """
    if not _TOKEN.fullmatch(token):
        raise InputError("token", f"{token!r} is not an unsubscribe token", "use unsubscribe_token")
    if base_url is None and mailto_domain is None:
        raise InputError(
            "base_url", "neither an https URL nor a mailto domain was given", "give either"
        )
    uris = []
    if base_url is not None:
        uris.append(f"<{_unsubscribe_url(base_url, token)}>")
    if mailto_domain is not None:
        uris.append(f"<mailto:{MAILTO_PREFIX}{token}@{_mailto_domain(mailto_domain)}>")
    out = [("List-Unsubscribe", ", ".join(uris))]
    if base_url is not None:
        out.append(("List-Unsubscribe-Post", ONE_CLICK))
    if list_id is not None:
        out.append(("List-Id", _list_id_value(list_id, list_name)))
    elif list_name is not None:
        raise InputError("list_name", "a list name was given without a list id", "pass list_id")
    folded: list[tuple[str, str]] = []
    for name, value in out:
        check_header_value(name, value)
        encoded, utf8 = encode_value(name, value)
        assert not utf8  # every value above is ASCII
        folded.append((name, encoded))
    return folded


def _unsubscribe_url(base_url: str, token: str) -> str:
    fix = "give the public https root of relaylane, e.g. https://mail.acme.example"
    refuse_unsafe_chars("base_url", base_url, what="base URL")
    if not base_url.isascii() or not _URL_CHARS.fullmatch(base_url):
        raise InputError("base_url", f"{base_url!r} is not a plain https URL", fix)
    if len(base_url) > MAX_BASE_URL:
        raise InputError(
            "base_url",
            f"the base URL is {len(base_url)} characters long",
            f"use at most {MAX_BASE_URL}",
        )
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme.lower() != "https" or not parts.hostname or "@" in parts.netloc:
        raise InputError("base_url", f"{base_url!r} is not an https URL (RFC 8058)", fix)
    return f"{base_url.rstrip('/')}{URL_PATH}{token}"


def _mailto_domain(domain: str) -> str:
    if not _HOSTNAME.fullmatch(domain):
        raise InputError(
            "mailto_domain",
            f"{domain!r} is not a domain name",
            "give the bounce receiver's domain (ASCII or punycode), e.g. bounces.acme.example",
        )
    return domain.lower()


def _list_id_value(list_id: str, list_name: str | None) -> str:
    if not list_id.isascii() or not _LIST_ID.fullmatch(list_id) or len(list_id) > MAX_LIST_ID:
        raise InputError(
            "list_id",
            f"{list_id!r} is not an RFC 2919 list id",
            "use a label, a dot and a domain you control, e.g. news.acme.example "
            f"(at most {MAX_LIST_ID} octets, no spaces)",
        )
    name = (list_name or "").strip(" \t")
    if not name:
        return f"<{list_id}>"
    refuse_unsafe_chars("list_name", name, what="list name")
    return f"{_phrase(name)} <{list_id}>"


def _phrase(name: str) -> str:
    """A display name as a quoted-string, or as RFC 2047 encoded-words when not ASCII."""
    if name.isascii():
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    words: list[str] = []
    chunk = b""
    for char in name:
        data = char.encode("utf-8", "surrogatepass")
        if chunk and len(chunk) + len(data) > _ENCODED_WORD_BYTES:
            words.append(_encoded_word(chunk))
            chunk = b""
        chunk += data
    words.append(_encoded_word(chunk))
    return " ".join(words)


def _encoded_word(data: bytes) -> str:
    return f"=?utf-8?b?{base64.b64encode(data).decode('ascii')}?="


# --- the one-click POST ----------------------------------------------------------------


def is_one_click(content_type: str, body: bytes) -> bool:
    """True when a POST body carries List-Unsubscribe=One-Click (RFC 8058 3.2) as
    application/x-www-form-urlencoded or multipart/form-data.

    An empty Content-Type is read as urlencoded. Total: a body over `MAX_POST_BODY`, an
    unknown type or garbage gives False, never an error.
    """
    if len(body) > MAX_POST_BODY or len(content_type) > 1000:
        return False
    try:
        return _one_click(content_type, body)
    except Exception:  # the email package can raise on hostile input; total by contract
        return False


def _one_click(content_type: str, body: bytes) -> bool:
    if not content_type.isascii() or any(c in content_type for c in "\r\n\0"):
        return False
    media = content_type.partition(";")[0].strip(" \t").lower()
    if media in ("", "application/x-www-form-urlencoded"):
        return _urlencoded_one_click(body)
    if media == "multipart/form-data":
        return _multipart_one_click(content_type, body)
    return False


def _urlencoded_one_click(body: bytes) -> bool:
    text = body.decode("latin-1").strip(" \t\r\n")
    fields = urllib.parse.parse_qsl(text, keep_blank_values=True, max_num_fields=_FORM_FIELDS)
    return any(_is_pair(name, value) for name, value in fields)


def _multipart_one_click(content_type: str, body: bytes) -> bool:
    synthetic = b"Content-Type: " + content_type.encode("ascii") + b"\r\n\r\n" + body
    msg = BytesParser(policy=email.policy.HTTP).parsebytes(synthetic)
    if not isinstance(msg, EmailMessage) or not msg.is_multipart():
        return False
    return any(_form_part_one_click(part) for part in msg.iter_parts())


def _form_part_one_click(part: Message) -> bool:
    if part.get_content_disposition() != "form-data" or part.is_multipart():
        return False
    name = part.get_param("name", header="content-disposition")
    if name is None:
        return False
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return False
    return _is_pair(collapse_rfc2231_value(name), payload.decode("latin-1"))


def _is_pair(name: str, value: str) -> bool:
    wanted_name, _, wanted_value = ONE_CLICK.partition("=")
    return (
        name.strip().lower() == wanted_name.lower()
        and value.strip(" \t\r\n").lower() == wanted_value.lower()
    )
