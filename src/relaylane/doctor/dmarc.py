"""DMARC (RFC 7489): finding the policy for a From domain and judging it.

`find_dmarc` looks at `_dmarc.<domain>`, then at the organizational domain's
`_dmarc.<org>` (RFC 7489 6.6.3), over DNS answers; `dmarc_checks` turns what it found
into doctor lines. `DmarcResult.adkim` is the published DKIM alignment mode, for the
alignment gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from relaylane.doctor.dns import Answers, Kind, Query, query
from relaylane.doctor.report import Check, failed, passed, warned
from relaylane.policy.alignment import organizational_domain

POLICIES = ("none", "quarantine", "reject")


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    p: str
    sp: str | None
    adkim: str  # "r" or "s"
    aspf: str
    pct: int
    rua: tuple[str, ...]
    text: str


@dataclass
class DmarcResult:
    domain: str
    org: str
    record: DmarcRecord | None = None
    found_at: str | None = None  # "_dmarc.<domain>" or "_dmarc.<org>"
    errors: list[str] = field(default_factory=list)  # malformed or ambiguous records
    dns_error: str | None = None
    missing: set[Query] = field(default_factory=set)

    @property
    def policy(self) -> str | None:
        """The policy that applies to mail from `domain` (sp= when found at the org)."""
        if self.record is None:
            return None
        at_org = self.found_at == f"_dmarc.{self.org}" and self.domain != self.org
        return self.record.sp or self.record.p if at_org else self.record.p

    @property
    def adkim(self) -> str | None:
        return self.record.adkim if self.record is not None else None


def parse_dmarc(text: str) -> tuple[DmarcRecord | None, str | None]:
    """The record, or None and why it is malformed."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if part.strip() and not sep:
            return None, f"{part.strip()!r} is not a tag=value pair"
        if sep:
            tags.setdefault(name.strip().lower(), value.strip())
    first = text.split(";", 1)[0].replace(" ", "")
    if first != "v=DMARC1":
        return None, "does not start with v=DMARC1"
    error = _tag_error(tags)
    if error is not None:
        return None, error
    rua = tuple(u.strip() for u in tags.get("rua", "").split(",") if u.strip())
    return DmarcRecord(
        p=tags["p"].lower(),
        sp=tags["sp"].lower() if "sp" in tags else None,
        adkim=tags.get("adkim", "r").lower(),
        aspf=tags.get("aspf", "r").lower(),
        pct=int(tags.get("pct", "100")),
        rua=rua,
        text=text,
    ), None


def _tag_error(tags: dict[str, str]) -> str | None:
    if "p" not in tags:
        return "has no p= tag (p=none, quarantine or reject)"
    for name in ("p", "sp"):
        if name in tags and tags[name].lower() not in POLICIES:
            return f"{name}={tags[name]} is not none, quarantine or reject"
    for name in ("adkim", "aspf"):
        if tags.get(name, "r").lower() not in ("r", "s"):
            return f"{name}={tags[name]} is not r or s"
    pct = tags.get("pct", "100")
    if not pct.isdigit() or int(pct) > 100:
        return f"pct={pct} is not a whole number from 0 to 100"
    return None


def find_dmarc(domain: str, answers: Answers) -> DmarcResult:
    result = DmarcResult(domain, organizational_domain(domain))
    places = [domain] if domain == result.org else [domain, result.org]
    for place in places:
        name = f"_dmarc.{place}"
        answer = answers.get(query(name, "TXT"))
        if answer is None:
            result.missing.add(query(name, "TXT"))
            return result
        if answer.kind is Kind.ERROR:
            result.dns_error = f"TXT at {name}: {answer.error}"
            return result
        candidates = [t for t in answer.records if "dmarc" in t.lower() or "p=" in t]
        if len(candidates) > 1:
            result.errors.append(f"{name} has {len(candidates)} DMARC records")
            return result
        if candidates:
            result.record, error = parse_dmarc(candidates[0])
            result.found_at = name
            if error:
                result.errors.append(f"{name} {error}: {candidates[0]!r}")
            return result
    return result


def dmarc_checks(found: DmarcResult, bulk: bool) -> list[Check]:
    """Lines for one From domain; `bulk`: a marketing or outreach lane sends from it."""
    subject, name = found.domain, "DMARC"
    publish = (
        f'_dmarc.{found.org} TXT "v=DMARC1; p=none; rua=mailto:dmarc-reports@{found.org}" '
        "(then move to p=quarantine once the reports show your mail passes)"
    )
    if found.dns_error:
        return [failed(subject, name, f"could not look up DMARC: {found.dns_error}")]
    if found.errors:
        return [failed(subject, name, "malformed DMARC: " + "; ".join(found.errors), publish)]
    if found.record is None:
        why = f"no DMARC record at _dmarc.{found.domain}" + (
            f" nor _dmarc.{found.org}" if found.org != found.domain else ""
        )
        if bulk:
            return [failed(subject, name, why + "; bulk senders must publish one", publish)]
        return [warned(subject, name, why, publish)]
    return [_policy_check(found, bulk)]


def _policy_check(found: DmarcResult, bulk: bool) -> Check:
    record = found.record
    assert record is not None
    policy = found.policy
    where = f"found at {found.found_at}"
    if found.found_at != f"_dmarc.{found.domain}":
        where += f" (organizational domain; {'sp' if record.sp else 'p'}={policy} applies)"
    facts = f"p={policy}, adkim={record.adkim}, aspf={record.aspf}, pct={record.pct}"
    facts += f", rua={','.join(record.rua)}" if record.rua else ", no rua (no aggregate reports)"
    reason = f"{where}: {facts}"
    if policy == "none" and bulk:
        return warned(
            found.domain,
            "DMARC",
            reason + "; p=none asks receivers to take no action on spoofed mail",
            f"once rua reports show your mail aligned, publish p=quarantine at {found.found_at}",
        )
    return passed(found.domain, "DMARC", reason)
