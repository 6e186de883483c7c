"""Creating, checking, starting, proofing, pausing, resuming and cancelling campaigns:
the rules between the CLI (and the dashboard) and the store. Every refusal is an
InputError naming the option, the problem and the fix."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from relaylane.campaigns import segments
from relaylane.campaigns.render import RenderError, compile_template, validate_sample
from relaylane.campaigns.spec import CampaignSpec, Personalizer, contact_fields
from relaylane.campaigns.states import CampaignState, CampaignStrategy
from relaylane.config.durations import parse_instant
from relaylane.config.models import Config, LaneConfig
from relaylane.contacts.csv_rows import role_account
from relaylane.delivery.addresses import parse_address
from relaylane.delivery.compose import compose
from relaylane.delivery.submit import Origin, build_message
from relaylane.errors import InputError
from relaylane.policy.pacing.windows import FORMS, WindowError, parse_window
from relaylane.policy.vocabulary import LanePurpose
from relaylane.records import NewMessage
from relaylane.store import Store
from relaylane.store.audit import AuditAction
from relaylane.store.campaigns import CampaignRow, NewCampaign
from relaylane.store.templates import check_name

SAMPLE = 200  # contacts rendered before a campaign may start
PROOF_PREFIX = "[TEST] "


@dataclass(frozen=True, slots=True)
class Started:
    campaign: CampaignRow
    template_version: int
    audience: int
    role_accounts: int  # in the audience; stopped on outreach lanes, warned about otherwise
    warnings: tuple[str, ...]


def new_campaign(
    config: Config,
    *,
    name: str,
    list_name: str,
    segment: str | None,
    template: str,
    lane: str,
    from_header: str,
    reply_to: str | None,
    strategy: str,
    send_window: str | None,
    tz: str | None,
    not_before: str | None,
    max_per_hour: int | None,
    tracking: bool | None,
) -> NewCampaign:
    """Validate the options of `campaign create` against the configuration."""
    check_name(name)
    found = _lane(config, lane)
    sender = parse_address(from_header, field="--from")
    if not found.allows_from(sender.domain):
        raise InputError(
            "--from",
            f"lane {found.name} may not send as {sender.domain} (its from_domains: "
            f"{', '.join(found.from_domains)})",
            "use a From address in one of the lane's domains",
        )
    if found.from_domains and config.signing_domain_for(sender.domain) is None:
        raise InputError(
            "--from",
            f"no DKIM key aligns with {sender.domain}, and lane {found.name} sends only "
            "aligned mail",
            "add a [domain] with dkim keys for it (relaylane dkim keygen) or use another From",
        )
    if reply_to is not None:
        parse_address(reply_to, field="--reply-to")
    if segment is not None:
        segments.parse(segment)  # SegmentError names the column and the fix
    chosen = _strategy(config, found, strategy, sender.domain)
    window = _window(config, send_window, tz)
    if max_per_hour is not None and max_per_hour < 1:
        raise InputError("--max-per-hour", f"{max_per_hour} is not a rate", "give 1 or more")
    return NewCampaign(
        name=name,
        list_name=list_name,
        segment=segment,
        template=template,
        lane=found.name,
        from_header=from_header,
        reply_to=reply_to,
        strategy=chosen.value,
        send_window=window,
        not_before=parse_instant(not_before) if not_before else None,
        max_per_hour=max_per_hour,
        tracking=tracking,
    )


def _lane(config: Config, name: str) -> LaneConfig:
    try:
        lane = config.lane_by_name(name)
    except LookupError as exc:
        raise InputError("--lane", str(exc), "pick one of the lanes in relaylane.toml") from None
    if lane.purpose is LanePurpose.TRANSACTIONAL:
        others = [x.name for x in config.lane if x.purpose is not LanePurpose.TRANSACTIONAL]
        raise InputError(
            "--lane",
            f"lane {name} is transactional; campaigns are bulk mail and would put its "
            "reputation at risk",
            f"use a marketing or outreach lane ({', '.join(others) or 'add one'})",
        )
    return lane


def sending_identity(config: Config, lane: LaneConfig, from_domain: str) -> dict[str, str]:
    """What each relay of the lane shows receivers besides the From: its return path
    (envelope domain) and who signs."""
    out = {}
    for ref in lane.relays:
        relay = config.relay_by_name(ref.name)
        path = config.return_path_for(relay, from_domain) or "(the relay's own)"
        signer = config.signing_domain_for(from_domain) or "(the relay)"
        out[ref.name] = f"return path {path}, DKIM d={signer}, kind {relay.kind.value}"
    return out


def _strategy(config: Config, lane: LaneConfig, text: str, from_domain: str) -> CampaignStrategy:
    try:
        chosen = CampaignStrategy(text)
    except ValueError:
        allowed = ", ".join(s.value for s in CampaignStrategy)
        raise InputError(
            "--strategy",
            f"{text!r} is not a campaign strategy",
            f"use one of {allowed} (default sticky)",
        ) from None
    if chosen is CampaignStrategy.WEIGHTED:
        identities = sending_identity(config, lane, from_domain)
        if len(set(identities.values())) > 1:
            shown = "; ".join(f"{r}: {i}" for r, i in identities.items())
            raise InputError(
                "--strategy",
                f"weighted would show receivers more than one sending identity ({shown})",
                "use sticky (each provider sees one relay), or weighted only in a lane "
                "whose relays share return path and signer",
            )
    return chosen


def _window(config: Config, window: str | None, tz: str | None) -> str | None:
    if window is None:
        if tz is not None:
            raise InputError(
                "--tz",
                "--tz was given without --send-window",
                "add --send-window 08:00-18:00 or drop --tz",
            )
        return None
    text = f"{window} {tz}" if tz else window
    try:
        parse_window(text, config.pacing.timezone)
    except WindowError as exc:
        raise InputError("--send-window", str(exc), f"write it like {FORMS}") from None
    return text


def start(config: Config, store: Store, name: str, now: float, actor: str = "operator") -> Started:
    """Check everything that can be checked before the first message, then start: the
    template version is fixed, rendered for a sample of contacts, and the audience is
    fixed. Nothing is queued when anything is wrong."""
    campaign = store.campaigns.get(name)
    if campaign.state is not CampaignState.DRAFT:
        raise InputError(
            "campaign",
            f'campaign "{name}" is {campaign.state.value}; only a draft campaign starts',
            f"see `relaylane campaign status {name}`"
            + (
                " (paused: use `campaign resume`)" if campaign.state is CampaignState.PAUSED else ""
            ),
        )
    lane = _lane(config, campaign.lane)
    template = store.templates.get(campaign.template)
    compiled = compile_template(template)  # RenderError for a syntax error
    sample = store.campaigns.members(campaign.list_id, SAMPLE)
    if not sample:
        raise InputError(
            "--list",
            f'list "{campaign.list_name}" has no subscribed members',
            "import contacts first: relaylane contacts import FILE.csv --list "
            + campaign.list_name,
        )
    errors = validate_sample(compiled, [contact_fields(m.email, m.attributes) for m in sample])
    if errors:
        raise errors[0] if len(errors) == 1 else _many(errors)
    roles = _role_accounts(store, campaign.list_id)
    warnings = []
    if roles and lane.purpose is LanePurpose.MARKETING:
        warnings.append(
            f"{roles} role account(s) (postmaster@, info@, ...) are in the list: they are "
            "mailed on this marketing lane; remove them if they never subscribed"
        )
    sender = parse_address(campaign.from_header, field="--from")
    tracking = config.tracking_for(lane.name) if campaign.tracking is None else campaign.tracking
    spec = CampaignSpec(
        campaign_id=campaign.id,
        campaign=campaign.name,
        template=template,
        from_header=campaign.from_header,
        reply_to=campaign.reply_to,
        list_name=campaign.list_name,
        strategy=campaign.strategy,
        tracking=tracking,
    )
    body = spec.to_bytes()
    message = {
        "ref": secrets.token_hex(12),
        "created_at": now,
        "lane": lane.name,
        "mail_from": sender.addr,
        "from_domain": sender.domain,
        "body": body,
        "size": len(body),
        "smtputf8": sender.needs_smtputf8,
        "source": "campaign",
        "meta": json.dumps({"campaign": campaign.name, "list": campaign.list_name}),
        "not_before": campaign.not_before,
        "send_window": campaign.send_window,
    }
    store.campaigns.start(campaign, template.version, message, now)
    started = store.campaigns.get(name)
    effect = {"audience": started.audience, "template_version": template.version}
    store.audit.record(now, actor, AuditAction.CAMPAIGN_START, f"campaign {name}", {}, effect)
    return Started(started, template.version, started.audience, roles, tuple(warnings))


def pause(store: Store, name: str, reason: str, now: float, actor: str | None = None) -> int:
    """running -> paused (`campaign pause`, the dashboard's Pause): its waiting
    deliveries are held; returns how many. `actor` (e.g. "dashboard:KEY_ID") is kept
    with the reason that `campaign status` shows."""
    why = reason if actor is None else f"{reason} (by {actor})"
    held = store.campaigns.pause(name, why, now)
    _audit(store, now, actor, AuditAction.CAMPAIGN_PAUSE, name, {"reason": reason}, held=held)
    return held


def resume(store: Store, name: str, now: float, actor: str | None = None) -> int:
    """paused -> running (`campaign resume`, the dashboard's Resume): its held
    deliveries are due now; returns how many."""
    due = store.campaigns.resume(name, now)
    _audit(store, now, actor, AuditAction.CAMPAIGN_RESUME, name, {}, released=due)
    return due


def retry_failed(
    config: Config, store: Store, name: str, now: float, actor: str | None = None
) -> int:
    """Queue again the deliveries that failed for a reason that was neither their
    address nor a block (`campaign retry-failed`); returns how many."""
    lane = config.lane_by_name(store.campaigns.get(name).lane)
    count = store.campaigns.retry_failed(name, now, lane.max_age)
    _audit(store, now, actor, AuditAction.CAMPAIGN_RETRY, name, {}, queued=count)
    return count


def _audit(
    store: Store,
    now: float,
    actor: str | None,
    action: AuditAction,
    name: str,
    args: dict[str, object],
    **effect: int,
) -> None:
    store.audit.record(now, actor or "operator", action, f"campaign {name}", args, effect)


def cancel(store: Store, name: str, now: float, actor: str | None = None) -> int:
    """draft, running or paused -> cancelled (`campaign cancel`, the dashboard's
    Cancel): what was not sent never will be; returns how many deliveries that is.
    `actor` is named in the reason that `campaign status` shows."""
    why = "cancelled by an operator" if actor is None else f"cancelled by {actor}"
    count = store.campaigns.cancel(name, now, why)
    _audit(store, now, actor, AuditAction.CAMPAIGN_CANCEL, name, {}, cancelled=count)
    return count


def _many(errors: Sequence[RenderError]) -> InputError:
    listed = "; ".join(str(e) for e in errors[:5])
    return InputError(
        "template",
        f"{len(errors)} different render errors in a sample of contacts: {listed}",
        "fix the template (relaylane template preview --contact EMAIL shows one contact)",
    )


def _role_accounts(store: Store, list_id: int) -> int:
    count, after = 0, 0
    while True:
        batch = store.campaigns.members(list_id, 5000, after)
        if not batch:
            return count
        count += sum(1 for m in batch if role_account(m.email) is not None)
        after = batch[-1].contact_id


def proofs(
    config: Config, store: Store, name: str, to: Sequence[str], contact: str | None, now: float
) -> list[NewMessage]:
    """Proof messages: the campaign's current template rendered for a sample contact (or
    `contact`), subject prefixed "[TEST] ", sent to `to` through the campaign's lane.
    They are not part of the campaign: its one-per-contact rule and its counts ignore
    them."""
    campaign = store.campaigns.get(name)
    lane = _lane(config, campaign.lane)
    if not to:
        raise InputError("--to", "no proof address given", "add --to you@example.com")
    template = store.templates.get(campaign.template, campaign.template_version)
    fields = _proof_fields(store, campaign, contact)
    spec = CampaignSpec(
        campaign_id=campaign.id,
        campaign=campaign.name,
        template=template,
        from_header=campaign.from_header,
        reply_to=campaign.reply_to,
        list_name=campaign.list_name,
        strategy=campaign.strategy,
        tracking=False,
    )
    rendered = Personalizer(spec).compiled.render(fields)
    composed = compose(
        from_=campaign.from_header,
        subject=PROOF_PREFIX + rendered.subject,
        text=rendered.text,
        html=rendered.html,
        reply_to=campaign.reply_to,
    )
    recipients = [parse_address(a, field="--to") for a in to]
    origin = Origin(source="cli", metadata=(("campaign_test", campaign.name),))
    return [build_message(config, lane.name, composed, recipients, now, origin=origin)]


def _proof_fields(store: Store, campaign: CampaignRow, contact: str | None) -> dict[str, object]:
    if contact is None:
        sample = store.campaigns.members(campaign.list_id, 1)
        if not sample:
            return {"email": "test@example.com"}
        return contact_fields(sample[0].email, sample[0].attributes)
    detail = store.contacts.show(contact)
    if detail is None:
        raise InputError(
            "--contact",
            f"no contact {contact}",
            "give the address of a stored contact (relaylane contacts list)",
        )
    return contact_fields(detail.email, detail.attributes)
