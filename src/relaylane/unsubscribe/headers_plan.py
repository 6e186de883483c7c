"""Which List-* header lines a delivery carries (RFC 2369, RFC 2919, RFC 8058). Pure.

Every delivery in a marketing or outreach lane gets List-Unsubscribe; transactional
lanes get nothing. What it names depends on what the configuration offers:

    https public_url and a return path   <https://BASE/u/TOKEN>, <mailto:u-TOKEN@RETURN_PATH>
                                          + List-Unsubscribe-Post: List-Unsubscribe=One-Click
    https public_url only                 <https://BASE/u/TOKEN> + List-Unsubscribe-Post
    a return path only                    <mailto:u-TOKEN@RETURN_PATH> (no -Post: RFC 8058
                                          one-click needs an https URI)
    neither                               nothing (the caller logs `Decision.warning`)

A message that belongs to a list (its metadata's "list") also gets
`List-Id: "Name" <label.from-domain>` (RFC 2919), the label made from the list name.
A message that already has its own List-Unsubscribe or List-Unsubscribe-Post (an API
client wrote one) gets neither of ours; one with its own List-Id gets no second.

`decide` runs once per (lane, relay, From domain); `UnsubscribePlan.lines` once per
delivery (the token names the delivery).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass

from relaylane.errors import InputError
from relaylane.policy.vocabulary import LanePurpose
from relaylane.unsubscribe.oneclick import MAX_LIST_ID, list_headers

__all__ = [
    "BULK_PURPOSES",
    "LIST_FIELDS",
    "Decision",
    "UnsubscribePlan",
    "decide",
    "header_lines",
    "list_id_for",
    "list_label",
    "own_list_fields",
]

BULK_PURPOSES = frozenset({LanePurpose.MARKETING, LanePurpose.OUTREACH})
LIST_FIELDS = ("list-unsubscribe", "list-unsubscribe-post", "list-id")  # lower case
_UNSUBSCRIBE_FIELDS = frozenset({"list-unsubscribe", "list-unsubscribe-post"})
_OWN_FIELD = re.compile(rb"^(list-unsubscribe-post|list-unsubscribe|list-id)[ \t]*:", re.I | re.M)
_NOT_LABEL = re.compile(r"[^a-z0-9]+")
_MAX_LABEL = 63  # a DNS label's length, which keeps the id usable as a name
_PROBE_TOKEN = "a" * 32  # a well-formed token, to validate a plan once


@dataclass(frozen=True, slots=True)
class UnsubscribePlan:
    """What every delivery of one (lane, relay, From domain) carries; at least one URI."""

    base_url: str | None  # the https root of /u/TOKEN, or None: mailto only
    mailto_domain: str | None  # where u-TOKEN@ goes (the return path), or None
    namespace: str | None  # the List-Id namespace (the From domain), or None: no List-Id

    def lines(self, token: str, list_name: str = "", own: frozenset[str] = frozenset()) -> bytes:
        """The header lines (CRLF-terminated, folded, ASCII) for the delivery `token`
        names, in a message of list `list_name` ("" for none) that has the LIST_FIELDS
        in `own` already (see `own_list_fields`)."""
        list_id = list_id_for(list_name, self.namespace) if "list-id" not in own else None
        name = list_name.strip() or None
        try:
            fields = self._fields(token, list_id, name)
        except InputError:  # a list name that cannot be a phrase: the id alone
            fields = self._fields(token, list_id, None)
        skip = own if not own & _UNSUBSCRIBE_FIELDS else own | _UNSUBSCRIBE_FIELDS
        return "".join(f"{n}: {v}\r\n" for n, v in fields if n.lower() not in skip).encode()

    def _fields(self, token: str, list_id: str | None, name: str | None) -> list[tuple[str, str]]:
        return list_headers(
            base_url=self.base_url,
            mailto_domain=self.mailto_domain,
            token=token,
            list_id=list_id,
            list_name=name if list_id is not None else None,
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """A plan (None: nothing to add) and, when mail gets less than one-click
    unsubscribe, why (for a log line)."""

    plan: UnsubscribePlan | None
    warning: str = ""


def decide(
    purpose: LanePurpose,
    public_url: str | None,
    mailto_domain: str | None,
    from_domain: str,
) -> Decision:
    """The plan for a lane of `purpose` whose public URL is `public_url` (used only when
    https), whose mail returns to `mailto_domain` (the VERP return path, None without
    one) and comes from `from_domain`."""
    if purpose not in BULK_PURPOSES:
        return Decision(None)
    base_url, url_problem = _https(public_url)
    mailto, mailto_problem = _mailto(mailto_domain)
    namespace = _namespace(from_domain)
    if base_url is None and mailto is None:
        return Decision(
            None,
            f"no List-Unsubscribe: {url_problem}, and {mailto_problem}; set [http] public_url "
            'to an https URL (e.g. "https://mail.acme.example") or give the From domain a '
            "return_path on an mta relay",
        )
    warning = ""
    if base_url is None:
        warning = (
            f"List-Unsubscribe names a mailto only, without one-click (RFC 8058): {url_problem}"
        )
    return Decision(UnsubscribePlan(base_url, mailto, namespace), warning)


def header_lines(
    purpose: LanePurpose,
    public_url: str | None,
    mailto_domain: str | None,
    token: str,
    list_name: str,
    from_domain: str,
) -> bytes:
    """`decide` and `UnsubscribePlan.lines` in one call (b"" when there is no plan)."""
    plan = decide(purpose, public_url, mailto_domain, from_domain).plan
    return plan.lines(token, list_name) if plan is not None else b""


def own_list_fields(header_block: bytes) -> frozenset[str]:
    """The LIST_FIELDS (lower case) a message's own header block already has."""
    return frozenset(m.group(1).decode("ascii").lower() for m in _OWN_FIELD.finditer(header_block))


def list_label(list_name: str) -> str:
    """The RFC 2919 list-label for a list name: lower-case letters, digits and hyphens
    (accents dropped, anything else a hyphen), at most 63 characters; a name with none
    of those gets "list-" and a short hash of the name."""
    folded = unicodedata.normalize("NFKD", list_name).encode("ascii", "ignore").decode("ascii")
    label = _NOT_LABEL.sub("-", folded.lower()).strip("-")[:_MAX_LABEL].strip("-")
    if label:
        return label
    digest = hashlib.sha256(list_name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"list-{digest}"


def list_id_for(list_name: str, namespace: str | None) -> str | None:
    """`label.namespace` for a message of list `list_name`, or None (no list, no
    namespace, or no room within RFC 2919's 255 octets)."""
    if not list_name.strip() or namespace is None:
        return None
    room = MAX_LIST_ID - len(namespace) - 1
    label = list_label(list_name)[:room].rstrip("-")
    return f"{label}.{namespace}" if label else None


def _https(public_url: str | None) -> tuple[str | None, str]:
    """The public URL when it can be a one-click URI, else None and why not."""
    if not public_url:
        return None, "[http] public_url is not set"
    if urllib.parse.urlsplit(public_url).scheme.lower() != "https":
        return None, f"[http] public_url {public_url!r} is not https"
    try:
        list_headers(
            base_url=public_url,
            mailto_domain=None,
            token=_PROBE_TOKEN,
            list_id=None,
            list_name=None,
        )
    except InputError as exc:
        return None, f"[http] public_url {public_url!r} cannot be used ({exc})"
    return public_url, ""


def _mailto(domain: str | None) -> tuple[str | None, str]:
    if not domain:
        return None, "there is no return path for this relay and From domain"
    try:
        list_headers(
            base_url=None, mailto_domain=domain, token=_PROBE_TOKEN, list_id=None, list_name=None
        )
    except InputError:
        return None, f"the return path {domain!r} is not a domain name"
    return domain, ""


def _namespace(from_domain: str) -> str | None:
    """The From domain as a List-Id namespace (punycode when not ASCII), or None."""
    domain = from_domain.strip().rstrip(".").lower()
    if not domain:
        return None
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    try:  # the probe id checks the namespace's syntax and length
        list_headers(
            base_url=None,
            mailto_domain="probe.invalid",
            token=_PROBE_TOKEN,
            list_id=f"x.{domain}",
            list_name=None,
        )
    except InputError:
        return None
    return domain
