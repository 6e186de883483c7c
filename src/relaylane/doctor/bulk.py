"""Lane lines: every lane names its From domains, and each marketing or outreach lane
meets the bulk-sender requirements (Gmail and Yahoo, 2024): SPF, DKIM, DMARC, alignment,
one-click unsubscribe, TLS, Feedback-ID and a low complaint rate.

Pure: these summarise the domain and relay lines already made, plus DMARC results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from relaylane.config.base import is_loopback_host
from relaylane.config.domains import Alignment
from relaylane.config.models import Config, LaneConfig
from relaylane.doctor.dmarc import DmarcResult
from relaylane.doctor.report import Check, failed, passed, warned, worst
from relaylane.policy.alignment import organizational_domain
from relaylane.policy.vocabulary import TlsMode


def from_domains_check(lane: LaneConfig) -> Check:
    subject = f"lane {lane.name}"
    if not lane.from_domains:
        return failed(
            subject,
            "from_domains",
            f"lane {lane.name} has no from_domains: nothing is gated",
            'add from_domains = ["..."] to the lane',
        )
    return passed(subject, "from_domains", ", ".join(lane.from_domains))


def bulk_checks(
    config: Config,
    lane: LaneConfig,
    lines: Sequence[Check],
    dmarc: Mapping[str, DmarcResult],
    return_paths: set[str],
    complaint_rate: Check,
) -> list[Check]:
    """The bulk-sender checklist of one marketing or outreach lane."""
    subject = f"lane {lane.name}"
    return [
        *(_domain_lines(config, lane, lines, dmarc, return_paths) if lane.from_domains else []),
        _one_click(config, lane),
        _tls(config, lane),
        passed(subject, "bulk: Feedback-ID", "relaylane adds Feedback-ID to mail in bulk lanes"),
        complaint_rate,
    ]


def _one_click(config: Config, lane: LaneConfig) -> Check:
    """relaylane adds List-Unsubscribe to every message of the lane; one-click (RFC 8058)
    needs an https URL people can reach: [http] public_url."""
    subject = f"lane {lane.name}"
    url = config.http.public_url
    if url is not None and url.lower().startswith("https://"):
        return passed(
            subject,
            "bulk: one-click unsubscribe",
            f"every message carries List-Unsubscribe <{url}/u/...> with "
            "List-Unsubscribe-Post (RFC 8058), DKIM-signed",
        )
    return warned(
        subject,
        "bulk: one-click unsubscribe",
        "one-click unsubscribe (RFC 8058) needs an https [http] public_url; without it "
        "messages carry a mailto List-Unsubscribe only (where a return path exists)",
        'set [http] public_url = "https://..." to the address where relaylane serve is reachable',
    )


def _domain_lines(
    config: Config,
    lane: LaneConfig,
    lines: Sequence[Check],
    dmarc: Mapping[str, DmarcResult],
    return_paths: set[str],
) -> list[Check]:
    """SPF, DKIM, DMARC and alignment for the lane's From domains."""
    subject = f"lane {lane.name}"
    domains = set(lane.from_domains)
    spf = [c for c in lines if c.subject in return_paths and c.name.startswith("SPF")]
    spf = [c for c in spf if not c.name.startswith("SPF authorizes relay") or _ours(c, lane)]
    dmarc_lines = [c for c in lines if c.subject in domains and c.name == "DMARC"]
    return [
        _summary(subject, "bulk: SPF", spf, "SPF at " + _listed(return_paths)),
        _dkim(config, lane, lines),
        _summary(subject, "bulk: DMARC", dmarc_lines, "DMARC for " + _listed(domains)),
        _alignment(config, lane, dmarc, return_paths),
    ]


def _ours(check: Check, lane: LaneConfig) -> bool:
    return check.name.rsplit(" ", 1)[-1] in lane.relay_names


def _listed(names: set[str]) -> str:
    return ", ".join(sorted(names)) or "(none)"


def _summary(subject: str, name: str, found: Sequence[Check], what: str) -> Check:
    if not found:  # only SPF can have nothing to check: every relay is an ESP
        return passed(subject, name, "the lane's relays send with their provider's return path")
    status = worst(c.status for c in found)
    if status == "pass":
        return passed(subject, name, f"{what} passes")
    bad = [c for c in found if c.status == status]
    first = f"{bad[0].subject} {bad[0].name}: {bad[0].reason}"
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    return Check(subject, name, status, f"{first}{more}", bad[0].fix)


def _dkim(config: Config, lane: LaneConfig, lines: Sequence[Check]) -> Check:
    subject = f"lane {lane.name}"
    signers = {d: config.signing_domain_for(d) for d in lane.from_domains}
    unsigned = [d for d, signer in signers.items() if signer is None]
    if unsigned:
        return failed(
            subject,
            "bulk: DKIM",
            f"{', '.join(unsigned)}: no aligned DKIM signature; bulk senders must sign",
            'add [domain."..."] dkim = [...] (relaylane dkim keygen) or '
            "dkim_signed_by_relay = true",
        )
    signing = {s for s in signers.values() if s is not None}
    found = [c for c in lines if c.subject in signing and c.name.startswith("DKIM")]
    return _summary(subject, "bulk: DKIM", found, "DKIM of " + _listed(signing))


def _alignment(
    config: Config, lane: LaneConfig, dmarc: Mapping[str, DmarcResult], return_paths: set[str]
) -> Check:
    """Each From domain has an aligned DKIM signature, as strict as DMARC's adkim asks."""
    found: dict[str, list[str]] = {"fail": [], "warn": [], "pass": []}
    fixes: list[str] = []
    for domain in lane.from_domains:
        adkim = dmarc[domain].adkim if domain in dmarc else None
        status, text, fix = _aligned(config, domain, adkim)
        paths = [p for p in return_paths if _same_org(p, domain)]
        if status == "pass" and paths:
            text += f", SPF aligned via {', '.join(sorted(paths))}"
        elif status == "pass":  # checked and warned about, not required (DKIM suffices)
            status = "warn"
            text += "; no aligned return path, so DMARC rests on DKIM alone (SPF unaligned)"
            fix = f'set [domain."{domain}"] return_path = "bounces.{domain}" for mta relays'
        found[status].append(text)
        fixes += [fix] if fix else []
    subject, name = f"lane {lane.name}", "bulk: alignment"
    fix = "; ".join(fixes) or None
    if found["fail"]:
        return failed(subject, name, "; ".join(found["fail"] + found["warn"]), fix)
    if found["warn"]:
        return warned(subject, name, "; ".join(found["warn"] + found["pass"]), fix)
    return passed(subject, name, "; ".join(found["pass"]))


def _aligned(config: Config, domain: str, adkim: str | None) -> tuple[str, str, str | None]:
    signer = config.signing_domain_for(domain)
    own = f'[domain."{domain}"] dkim = [...]'
    if signer is None:
        return "fail", f"{domain} has no aligned DKIM signature", f"add {own}"
    if adkim == "s" and signer != domain:
        return (
            "fail",
            f"{domain} is signed as d={signer}, but its DMARC asks for strict alignment (adkim=s)",
            f"add {own} so that it signs as itself",
        )
    if adkim == "s" and config.alignment_for(domain) is not Alignment.STRICT:
        return (
            "warn",
            f"{domain} publishes adkim=s but the gate allows relaxed alignment for it",
            f'set [domain."{domain}"] alignment = "strict"',
        )
    cfg = config.domain[signer]
    how = "relaylane signs" if cfg.dkim else "the relay signs"
    return "pass", f"{domain}: {how} as d={signer}, adkim={adkim or 'r'}", None


def _same_org(a: str, b: str) -> bool:
    return organizational_domain(a) == organizational_domain(b)


def _tls(config: Config, lane: LaneConfig) -> Check:
    subject, name = f"lane {lane.name}", "bulk: TLS to relays"
    clear = [
        r.name
        for r, _ in config.relays_of(lane)
        if r.tls is TlsMode.NONE and not is_loopback_host(r.host)
    ]
    if clear:
        return failed(
            subject,
            name,
            f'relays {", ".join(clear)} use tls = "none" over the network',
            'set tls = "starttls" or "implicit" on them',
        )
    return passed(subject, name, "every relay of the lane uses TLS (or is on loopback)")
