"""DKIM keys in DNS: is each configured key published, and is it the right one?

`signing_keys` (I/O: reads the key files) returns `KeyFact`s for the keys that sign now
(the configured ones, with switched rotations applied); `dkim_queries` names the TXT
records to fetch; `dkim_checks` judges them over the answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from relaylane.config.domains import DomainConfig
from relaylane.dkim.keys import SigningKey, dns_txt_value, load_signing_key, public_key_matches
from relaylane.dkim.rotation import Rotation, effective_selectors
from relaylane.doctor.dns import Answers, Kind, Query, query
from relaylane.doctor.report import Check, failed, passed, warned

_P_TAG = re.compile(r"(?:^|;)\s*p\s*=([^;]*)")


@dataclass(frozen=True, slots=True)
class KeyFact:
    selector: str
    key_file: str
    key: SigningKey | None
    error: str | None  # why the key file could not be used


def signing_keys(name: str, domain: DomainConfig, rotations: Sequence[Rotation]) -> list[KeyFact]:
    """The keys that sign mail of `name` now (switched rotations applied), loaded."""
    configured = [(k.selector, str(k.key_file)) for k in domain.dkim]
    mine = [r for r in rotations if r.domain == name]
    return [load_key(selector, path) for selector, path in effective_selectors(configured, mine)]


def load_key(selector: str, path: str) -> KeyFact:
    try:
        return KeyFact(selector, path, load_signing_key(Path(path), selector), None)
    except ValueError as exc:
        return KeyFact(selector, path, None, str(exc))


def key_name(selector: str, domain: str) -> str:
    return f"{selector}._domainkey.{domain}"


def dkim_queries(name: str, domain: DomainConfig, keys: Sequence[KeyFact]) -> list[Query]:
    selectors = [k.selector for k in keys]
    if domain.dkim_signed_by_relay:
        selectors += domain.relay_selectors
    return [query(key_name(s, name), "TXT") for s in selectors]


def publish_fix(where: str, key: SigningKey) -> str:
    return (
        f'publish {where} TXT "{dns_txt_value(key)}" (one record; split the value into '
        "strings of at most 255 characters if your DNS host does not)"
    )


def _dkim_records(txts: Sequence[str]) -> list[str]:
    """The TXT strings that are DKIM key records (with a key, or p= empty: revoked)."""
    return [t for t in txts if _P_TAG.search(t)]


def _has_key(txt: str) -> bool:
    found = _P_TAG.search(txt)
    return found is not None and bool(found.group(1).strip())


def dkim_checks(
    name: str,
    domain: DomainConfig | None,
    keys: Sequence[KeyFact],
    answers: Answers,
    signer: str | None = None,
) -> list[Check]:
    """Lines for the domain `name` ([domain."name"] is `domain`, None if absent);
    `signer`: the domain whose signature aligns with mail From `name` (the gate's)."""
    if domain is not None and domain.signs:
        lines = [_own_key(name, fact, answers) for fact in keys]
        if domain.dkim_signed_by_relay:
            lines += _relay_selectors(name, domain, answers)
        return lines
    if signer is not None and signer != name:
        return [passed(name, "DKIM", f"signed as d={signer}, aligned (relaxed) with {name}")]
    return [
        warned(
            name,
            "DKIM",
            "relaylane does not sign mail from this domain and no relay is said to",
            f'add [domain."{name}"] dkim = [{{ selector = "...", key_file = "..." }}] '
            "(relaylane dkim keygen) or dkim_signed_by_relay = true",
        )
    ]


def _own_key(domain: str, fact: KeyFact, answers: Answers) -> Check:
    check = f"DKIM {fact.selector}"
    where = key_name(fact.selector, domain)
    if fact.key is None:
        return failed(domain, check, f"key_file {fact.key_file} is unusable: {fact.error}")
    publish = publish_fix(where, fact.key)
    answer = answers.get(query(where, "TXT"))
    if answer is None or answer.kind is Kind.ERROR:
        why = answer.error if answer is not None else "not fetched"
        return failed(domain, check, f"could not look up {where}: {why}")
    published = _dkim_records(answer.records)
    if not published:
        return failed(domain, check, f"no DKIM key published at {where}", publish)
    if len(published) > 1:
        why = f"{where} has {len(published)} DKIM records; verifiers may pick any"
        return failed(domain, check, why, publish + ", and remove the others")
    if not public_key_matches(fact.key, published[0]):
        return failed(
            domain,
            check,
            f"{where} publishes a different key than {fact.key_file} (or a revoked one, p=)",
            publish,
        )
    return passed(domain, check, f"{where} publishes the {fact.key.kind} key of {fact.key_file}")


def _relay_selectors(name: str, domain: DomainConfig, answers: Answers) -> list[Check]:
    if not domain.relay_selectors:
        return [
            warned(
                name,
                "DKIM by relay",
                "dkim_signed_by_relay = true but no relay_selectors are listed, so doctor "
                "cannot check the relay's keys are published",
                f'add relay_selectors = ["..."] to [domain."{name}"] (your provider names them)',
            )
        ]
    lines = []
    for selector in domain.relay_selectors:
        where = key_name(selector, name)
        answer = answers.get(query(where, "TXT"))
        check = f"DKIM {selector} (relay)"
        if answer is None or answer.kind is Kind.ERROR:
            why = answer.error if answer is not None else "not fetched"
            lines.append(failed(name, check, f"could not look up {where}: {why}"))
        elif not any(_has_key(t) for t in _dkim_records(answer.records)):
            lines.append(
                failed(
                    name,
                    check,
                    f"no DKIM key published at {where} ({answer.describe()})",
                    f"publish the record (often a CNAME) your provider gives for {where}",
                )
            )
        else:
            lines.append(passed(name, check, f"{where} publishes a key (the relay's)"))
    return lines
