"""A campaign end to end in one process: fed by the worker's feeder, rendered at send time
for each contact, DKIM-signed, sticky per provider over three real loopback relays."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

import dkim
from relaylane.campaigns.feeding import CampaignFeeder
from relaylane.campaigns.lifecycle import new_campaign, start
from relaylane.campaigns.render import RenderError
from relaylane.campaigns.states import CampaignState
from relaylane.contacts.csv_rows import Contact
from relaylane.delivery.worker import Worker
from relaylane.errors import InputError
from relaylane.policy.suppression import Reason, Scope, ScopeKind, Source, address_key
from relaylane.sim.behaviour import Behaviour
from relaylane.sim.relay import SimRelay
from relaylane.store import Store
from relaylane.store.suppressions import NewSuppression
from tests.campaigns.flow import add_contacts, campaign_config, create_and_start, run_worker
from tests.delivery.test_signing import dnsfunc
from tests.helpers import lane, make_config, relay


def _to(data: bytes) -> str:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    return str(msg["To"])


def _states(store: Store) -> Counter[str]:
    """Deliveries of campaign "dec" by state (summed over relays and providers)."""
    out: Counter[str] = Counter()
    for row in store.campaigns.status_rows(store.campaigns.get("dec").id):
        out[row.state] += row.count
    return out


def _text(data: bytes) -> tuple[str, str]:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    html = msg.get_body(("html",))
    assert html is not None
    return str(msg["Subject"]), html.get_content()


async def test_each_contact_gets_one_rendered_signed_message_and_each_provider_one_relay(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(Behaviour()) as a, SimRelay(Behaviour()) as b, SimRelay(Behaviour()) as c:
        sims = {"r1": a, "r2": b, "r3": c}
        cfg = campaign_config(store_url, [a.port, b.port, c.port], tmp_path)
        emails = add_contacts(store, 60)
        create_and_start(cfg, store)
        await run_worker(cfg, store)
        received = {name: [m.data for m in sim.received] for name, sim in sims.items()}
    per_contact: Counter[str] = Counter()
    relays_per_domain: dict[str, set[str]] = defaultdict(set)
    for name, datas in received.items():
        for data in datas:
            to = _to(data)
            per_contact[to] += 1
            relays_per_domain[to.rpartition("@")[2]].add(name)
            assert dkim.verify(data, dnsfunc=dnsfunc)
            subject, html = _text(data)
            index = int(re.search(r"user(\d+)@", to).group(1))  # type: ignore[union-attr]
            assert subject == f"Hello Name{index}"
            assert f"Hi Name{index}," in html
            assert ("for DE." if index % 2 else "for FR.") in html
            assert b"From: Acme News <news@news.acme.test>" in data
            assert b"Reply-To: help@acme.test" in data
    assert sorted(per_contact) == sorted(emails)
    assert set(per_contact.values()) == {1}
    assert all(len(r) == 1 for r in relays_per_domain.values()), relays_per_domain
    assert len({r for rs in relays_per_domain.values() for r in rs}) > 1  # volume is spread
    campaign = store.campaigns.get("dec")
    assert campaign.state is CampaignState.FINISHED
    assert campaign.fed == 60


async def test_a_segment_and_suppressions_are_applied_when_sending(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(Behaviour()) as sim:
        cfg = campaign_config(store_url, [sim.port], tmp_path)
        emails = add_contacts(store, 20)
        store.suppressions.add(
            [
                NewSuppression(emails[1], Scope(ScopeKind.GLOBAL), Reason.HARD_BOUNCE, Source.CLI),
                NewSuppression(emails[3], Scope(ScopeKind.LIST, "news"), Reason.UNSUBSCRIBE,
                               Source.CLI),
                NewSuppression(emails[5], Scope(ScopeKind.LIST, "other"), Reason.UNSUBSCRIBE,
                               Source.CLI),
            ],
            time.time(),
        )  # fmt: skip
        create_and_start(cfg, store, segment='country = "DE"')
        await run_worker(cfg, store)
        got = sorted(_to(m.data) for m in sim.received)
    odd = [e for i, e in enumerate(emails) if i % 2]  # the DE ones
    assert got == sorted(e for e in odd if e not in (emails[1], emails[3]))
    assert emails[5] in got  # another list's unsubscribe does not apply
    campaign = store.campaigns.get("dec")
    assert campaign.skipped == 10 and campaign.state is CampaignState.FINISHED


async def test_role_accounts_are_never_mailed_on_an_outreach_lane(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(Behaviour()) as sim:
        cfg = make_config(
            store_url, [relay("r1", sim.port)],
            [lane("cold", ["r1"], "outreach")], tmp_path,
        )  # fmt: skip
        add_contacts(store, 4)
        list_id = store.contacts.ensure_list("news")
        role = "postmaster@corp.test"
        fields = {"first_name": "P", "country": "DE"}
        contact = Contact(9, role, address_key(role), fields, None, None)
        store.contacts.import_batch(list_id, [contact], time.time())
        create_and_start(cfg, store, lane="cold")
        await run_worker(cfg, store)
        got = sorted(_to(m.data) for m in sim.received)
    assert role not in got and len(got) == 4
    assert _states(store) == {"sent": 4, "suppressed": 1}


async def test_max_per_hour_queues_no_more_than_that_per_hour(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(Behaviour()) as sim:
        cfg = campaign_config(store_url, [sim.port], tmp_path)
        add_contacts(store, 30)
        create_and_start(cfg, store, max_per_hour=7)
        await run_worker(cfg, store)
        assert len(sim.received) == 7
    campaign = store.campaigns.get("dec")
    assert campaign.state is CampaignState.RUNNING and campaign.fed == 7


async def test_a_render_error_at_send_time_fails_that_contact_and_pauses_the_campaign(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(Behaviour()) as sim:
        cfg = campaign_config(store_url, [sim.port], tmp_path)
        emails = add_contacts(store, 5)
        create_and_start(cfg, store)
        # a contact whose data changed after the start: its subject now breaks
        list_id = store.contacts.ensure_list("news")
        bad = Contact(3, emails[2], address_key(emails[2]), {"first_name": "x\ny"}, None, None)
        store.contacts.import_batch(list_id, [bad], time.time())
        feeder = CampaignFeeder(store.campaigns, store.tracking, cfg)
        worker = Worker(cfg, store.queue, idle_quit=0.5, feeder=feeder)
        await worker.run(until_idle=True)
        assert len(sim.received) == 4
    campaign = store.campaigns.get("dec")
    assert campaign.state is CampaignState.PAUSED
    assert campaign.reason is not None and campaign.reason.startswith("render error")
    assert "subject" in campaign.reason


def test_start_refuses_a_template_that_fails_for_a_sample_contact(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    cfg = campaign_config(store_url, [2700], tmp_path)
    add_contacts(store, 3)
    store.templates.add("broken", "Hi {{ frist_name }}", "<p>x</p>", None, time.time())
    store.campaigns.create(
        new_campaign(
            cfg, name="b", list_name="news", segment=None, template="broken", lane="news",
            from_header="news@news.acme.test", reply_to=None, strategy="sticky",
            send_window=None, tz=None, not_before=None, max_per_hour=None, tracking=None,
        ),
        time.time(),
    )  # fmt: skip
    with pytest.raises(RenderError, match=r'"frist_name" is undefined'):
        start(cfg, store, "b", time.time())
    assert store.campaigns.get("b").state is CampaignState.DRAFT
    assert store.campaigns.get("b").message_id is None


def test_create_refuses_a_transactional_lane_and_weighted_across_identities(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    cfg = campaign_config(store_url, [2700, 2701], tmp_path)
    common = {
        "name": "x", "list_name": "news", "segment": None, "template": "t",
        "from_header": "news@news.acme.test", "reply_to": None, "send_window": None,
        "tz": None, "not_before": None, "max_per_hour": None, "tracking": None,
    }  # fmt: skip
    tx = make_config(store_url, [relay("r1", 2700)], [lane("tx", ["r1"])], tmp_path)
    with pytest.raises(InputError, match="transactional"):
        new_campaign(tx, lane="tx", strategy="sticky", **common)
    with pytest.raises(InputError, match="not a campaign strategy"):
        new_campaign(cfg, lane="news", strategy="random", **common)
    # both relays are plain MTAs with the same return path and signer: one identity
    assert new_campaign(cfg, lane="news", strategy="weighted", **common).strategy == "weighted"


async def test_hard_bounces_over_the_limit_pause_the_campaign_with_the_reason(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    bounce = Behaviour(rcpt_rules=[(r"user(1|2)\d*@", "550 5.1.1 no such user")])
    async with SimRelay(bounce) as sim:
        cfg = campaign_config(store_url, [sim.port], tmp_path)
        cfg = cfg.model_copy(
            update={"campaigns": cfg.campaigns.model_copy(update={"min_deliveries": 20})}
        )
        add_contacts(store, 30)
        create_and_start(cfg, store)
        await run_worker(cfg, store)
    campaign = store.campaigns.get("dec")
    assert campaign.state is CampaignState.PAUSED
    assert campaign.reason is not None and campaign.reason.startswith("hard-bounce rate")
    assert "over 5.0%" in campaign.reason


async def test_retry_failed_resends_only_what_failed_for_a_non_address_reason(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    behaviour = Behaviour(
        rcpt_rules=[(r"user0@", "451 4.3.0 try later"), (r"user1@", "550 5.1.1 no such user")]
    )
    async with SimRelay(behaviour) as sim:
        cfg = campaign_config(store_url, [sim.port], tmp_path, max_age="1s")
        add_contacts(store, 4)
        create_and_start(cfg, store)
        await run_worker(cfg, store)  # user0 is deferred until its max_age: failed
        await asyncio.sleep(1.1)
        await run_worker(cfg, store)
        states = _states(store)
        assert states == {"failed": 1, "bounced": 1, "sent": 2}
        assert store.campaigns.get("dec").state is CampaignState.FINISHED
        sim.behaviour.rcpt_rules = [(r"user1@", "550 5.1.1 no such user")]  # user0 recovers
        requeued = store.campaigns.retry_failed("dec", time.time(), 3600.0)
        assert requeued == 1
        assert store.campaigns.get("dec").state is CampaignState.RUNNING
        await run_worker(cfg, store)
        got = [str(_to(m.data)) for m in sim.received]
    assert got.count("user0@gmail.test") == 1 and "user1@outlook.test" not in got
    assert len(got) == 3  # user2 and user3 once each, user0 once after the retry
    assert store.campaigns.retry_failed("dec", time.time(), 3600.0) == 0  # nothing left
    assert store.campaigns.get("dec").state is CampaignState.FINISHED


async def test_cancel_stops_what_was_not_sent(store: Store, store_url: str, tmp_path: Path) -> None:
    cfg = campaign_config(store_url, [2700], tmp_path)
    add_contacts(store, 10)
    create_and_start(cfg, store)
    CampaignFeeder(store.campaigns, store.tracking, cfg).tick_sync(time.time())
    assert store.campaigns.cancel("dec", time.time()) == 10
    assert _states(store) == {"cancelled": 10}
    with pytest.raises(InputError, match="only a running campaign can pause"):
        store.campaigns.pause("dec", "x", time.time())
