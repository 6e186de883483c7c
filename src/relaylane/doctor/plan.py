"""What the doctor looks at, from the configuration alone: the sending domains, the
return-path domains where SPF must authorize which relays, and each lane's share.

The return-path (envelope sender) domain of mail from domain D through relay R:

- R of kind "mta": `Config.return_path_for(R, D)` (the relay's own mapping, then
  [domain."D"] return_path); without either, the envelope sender is the submitted one,
  taken to be at D itself.
- R of kind "esp": the relay's own `return_path` mapping for D (a custom MAIL FROM
  domain at the provider) or nothing: the provider's domain, whose SPF is its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from relaylane.config.models import Config, LaneConfig, RelayConfig
from relaylane.policy.vocabulary import LanePurpose, RelayKind

BULK = (LanePurpose.MARKETING, LanePurpose.OUTREACH)


@dataclass
class Plan:
    domains: list[str] = field(default_factory=list)  # From domains, in a stable order
    bulk_domains: set[str] = field(default_factory=set)  # sent from by a bulk lane
    spf: dict[str, list[RelayConfig]] = field(default_factory=dict)  # return path -> relays
    lane_return_paths: dict[str, set[str]] = field(default_factory=dict)  # lane -> domains


def return_path_domain(config: Config, relay: RelayConfig, from_domain: str) -> str | None:
    if relay.kind is RelayKind.MTA:
        return config.return_path_for(relay, from_domain) or from_domain
    return relay.return_path.get(from_domain)


def is_bulk(lane: LaneConfig) -> bool:
    return lane.purpose in BULK


def make_plan(config: Config) -> Plan:
    plan = Plan()
    names = [d for lane in config.lane for d in lane.from_domains] + sorted(config.domain)
    plan.domains = list(dict.fromkeys(names))
    for lane in config.lane:
        if is_bulk(lane):
            plan.bulk_domains.update(lane.from_domains)
        paths = plan.lane_return_paths.setdefault(lane.name, set())
        for relay, _ in config.relays_of(lane):
            for domain in lane.from_domains:
                path = return_path_domain(config, relay, domain)
                if path is None:
                    continue
                paths.add(path)
                relays = plan.spf.setdefault(path, [])
                if relay not in relays:
                    relays.append(relay)
    return plan
