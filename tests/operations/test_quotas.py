"""Message quotas per API key and SMTP user (issue 10), and the audit entries of keys and
users: the pure decision, the charge inside the group commit (SQLite and PostgreSQL,
also racing), the HTTP API's 429, SMTP's 452 4.3.1 and the CLI."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiosmtplib
import pytest
import sqlalchemy as sa

from relaylane.auth.principal import Principal, Scope
from relaylane.clock import FakeClock
from relaylane.intake.quota import QuotaAsk, QuotaWindow, check, decide
from relaylane.policy.pacing.caps import Period
from relaylane.records import NewMessage
from relaylane.store import Store, open_store
from relaylane.store.audit import AuditAction
from relaylane.store.intake import IdempotencyKey, IntakeItem
from relaylane.store.schema import quota_counts
from tests.api.conftest import (  # noqa: F401  (fixtures)
    StartApi,
    add_key,
    bearer,
    delivery_count,
    message,
    start_api,
)
from tests.cli.test_cli import run, write_config
from tests.cli.test_credentials_cli import LANES
from tests.store.test_intake_store import message as stored_message
from tests.submission.conftest import (  # noqa: F401  (fixtures)
    RigFactory,
    make_rig,
    password_hash,
    tls_files,
)
from tests.submission.rig import SENDER as SMTP_SENDER
from tests.submission.rig import message as smtp_message

HOUR = 1_800_000_000.0  # a whole UTC hour (FakeClock's default start)
BERLIN = "Europe/Berlin"


def at(text: str, tz: str = BERLIN) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


def key_principal(name: str) -> Principal:
    return Principal("api_key", name, frozenset({Scope.SEND}), ("tx",))


# -- the pure decision -----------------------------------------------------------------


def test_decide_allows_up_to_the_limit_then_waits_for_the_period_end() -> None:
    assert decide(0, None, 10**9, 100.0, 3600.0) is None  # no quota
    assert decide(2, 3, 1, 100.0, 3600.0) is None
    assert decide(3, 3, 1, 100.0, 3600.0) == 3500.0
    assert decide(0, 3, 4, 100.0, 3600.0) == 3500.0  # more than fits at once
    assert decide(0, 0, 1, 100.0, 3600.0) == 3500.0  # a quota of 0 stops it
    assert decide(9, 3, 1, 3599.7, 3600.0) == 1.0  # at least a second, rounded up


def test_windows_follow_the_local_hour_and_day() -> None:
    now = at("2027-03-15T23:40:10")
    hour = QuotaWindow.at(now, BERLIN, Period.HOUR)
    day = QuotaWindow.at(now, BERLIN, Period.DAY)
    assert (hour.start, hour.end) == (at("2027-03-15T23:00"), at("2027-03-16T00:00"))
    assert (day.start, day.end) == (at("2027-03-15T00:00"), at("2027-03-16T00:00"))
    # The spring-forward day lasts 23 hours in Berlin.
    spring = QuotaWindow.at(at("2027-03-28T12:00"), BERLIN, Period.DAY)
    assert spring.end - spring.start == 23 * 3600


def test_check_names_the_quota_and_its_reset() -> None:
    now = at("2027-03-15T23:40:10")
    ask = QuotaAsk.of(key_principal("k1"), now, BERLIN)
    assert check(ask, 1, 2, 2, 3, 10) is None
    over = check(ask, 1, 3, 3, 3, 10)
    assert over is not None and over.quota == "hourly" and over.limit == 3
    assert over.resets_at == at("2027-03-16T00:00") and over.retry_after == 1190.0
    assert "hourly quota of 3" in over.reason() and "relaylane keys quota k1" in over.fix()
    # Both exceeded: the daily one is named (the next hour would not help).
    both = check(ask, 1, 3, 10, 3, 10)
    assert both is not None and both.quota == "daily" and both.limit == 10
    whole = check(ask, 5, 0, 0, 3, None)
    assert whole is not None and whole.never_fits and "at most 3" in whole.fix()


# -- the charge inside the group commit -------------------------------------------------


def _set_key(store: Store, key_id: str, hourly: int | None, daily: int | None = None) -> None:
    token = add_key(store)
    real = token.split("_")[1]
    with store.engine.begin() as conn:  # a readable key id for the test
        conn.execute(
            sa.text(
                "UPDATE api_keys SET key_id = :new, hourly_quota = :h, daily_quota = :d "
                "WHERE key_id = :old"
            ),
            {"new": key_id, "old": real, "h": hourly, "d": daily},
        )


def _item(msg: NewMessage, key: str, now: float, n: int = 1, idem: str | None = None) -> IntakeItem:
    ask = QuotaAsk.of(key_principal(key), now, "UTC")
    idempotency = None if idem is None else IdempotencyKey(key, idem, "h")
    return IntakeItem(messages=(msg,) * n, idempotency=idempotency, quota=ask)


def _count(store: Store, principal: str, period: str) -> int:
    stmt = sa.select(sa.func.coalesce(sa.func.sum(quota_counts.c.n), 0)).where(
        quota_counts.c.principal == principal, quota_counts.c.period == period
    )
    with store.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def test_one_over_quota_item_does_not_fail_the_others(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    _set_key(store, "capped", 2)
    _set_key(store, "free", None)
    msg = stored_message(tmp_path, store_url, "u@b.test")
    items = [
        _item(msg, "capped", HOUR),
        _item(msg, "free", HOUR, n=3),
        _item(msg, "capped", HOUR, n=2, idem="order-1"),  # would make 3 of 2
        _item(msg, "capped", HOUR),
        IntakeItem(messages=(msg,)),  # no quota ask at all
    ]
    outcomes = store.intake.commit(items, HOUR)
    assert [len(o.ids) for o in outcomes] == [1, 3, 0, 1, 1]
    refused = outcomes[2].over_quota
    assert refused is not None and (refused.used, refused.asked, refused.limit) == (1, 2, 2)
    assert _count(store, "key:capped", "hour") == 2 and _count(store, "key:capped", "day") == 2
    assert _count(store, "key:free", "hour") == 3  # counted, never refused
    # The refused request's Idempotency-Key was released: it can be sent again later.
    store.credentials.set_api_key_quota("capped", HOUR, hourly=None)
    again = store.intake.commit([_item(msg, "capped", HOUR, n=2, idem="order-1")], HOUR)
    assert len(again[0].ids) == 2 and again[0].replay is None
    assert _count(store, "key:capped", "hour") == 4


def test_counts_are_per_period_and_survive_a_restart(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    _set_key(store, "capped", 1, daily=2)
    msg = stored_message(tmp_path, store_url, "u@b.test")
    assert store.intake.commit([_item(msg, "capped", HOUR)], HOUR)[0].ids
    reopened = open_store(store_url)  # another process, or after a restart
    try:
        late = reopened.intake.commit([_item(msg, "capped", HOUR + 3599)], HOUR)[0]
        assert late.over_quota is not None and late.over_quota.quota == "hourly"
        assert late.over_quota.retry_after == 1.0
        assert reopened.intake.commit([_item(msg, "capped", HOUR + 3600)], HOUR)[0].ids
        day = reopened.intake.commit([_item(msg, "capped", HOUR + 7200)], HOUR)[0]
        assert day.over_quota is not None and day.over_quota.quota == "daily"
    finally:
        reopened.close()
    use = store.credentials.usage("api_key", ["capped"], HOUR + 3600, HOUR - HOUR % 86400)
    assert use == {"capped": (1, 2)}


def test_racing_commits_never_exceed_the_quota(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    """Four engines (as four processes would) commit at once at the boundary: exactly
    `limit` messages go in, the others are refused."""
    limit = 7
    _set_key(store, "capped", limit)
    msg = stored_message(tmp_path, store_url, "u@b.test")
    stores = [open_store(store_url) for _ in range(4)]
    accepted: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def send(s: Store) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                outcome = s.intake.commit([_item(msg, "capped", HOUR)], HOUR)[0]
                accepted.append(len(outcome.ids))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for s in stores:
        s.close()
    assert errors == []
    assert sum(accepted) == limit and len(accepted) == 20
    assert _count(store, "key:capped", "hour") == limit
    assert delivery_count(store) == limit


# -- over HTTP -------------------------------------------------------------------------


async def test_http_answers_429_with_retry_after_and_the_named_quota(
    start_api: StartApi,  # noqa: F811
) -> None:
    clock = FakeClock(HOUR + 600)
    api = await start_api(clock=clock)
    capped = add_key(api.store)
    key_id = capped.split("_")[1]
    api.store.credentials.set_api_key_quota(key_id, clock.now(), hourly=3)
    for _ in range(3):
        assert (await api.send(message(), headers=bearer(capped))).status_code == 202
    refused = await api.send(message(), headers=bearer(capped))
    assert refused.status_code == 429, refused.text
    assert refused.headers["Retry-After"] == "3000"
    error = refused.json()["error"]
    assert error["code"] == "quota_exceeded"
    assert error["quota"]["quota"] == "hourly" and error["quota"]["limit"] == 3
    assert error["quota"]["resets_at"] == HOUR + 3600 and error["quota"]["used"] == 3
    assert f"relaylane keys quota {key_id} --hourly" in error["quota"]["raise_with"]
    assert error["fields"][0]["field"] == "quota.hourly" and "raise" in error["fields"][0]["fix"]
    assert delivery_count(api.store) == 3
    # Another key is unaffected.
    assert (await api.send(message())).status_code == 202
    # The next hour, the key sends again.
    clock.advance(3000)
    assert (await api.send(message(), headers=bearer(capped))).status_code == 202


async def test_http_batch_is_refused_whole_when_it_would_exceed(
    start_api: StartApi,  # noqa: F811
) -> None:
    clock = FakeClock(HOUR)
    api = await start_api(clock=clock)
    capped = add_key(api.store)
    api.store.credentials.set_api_key_quota(capped.split("_")[1], clock.now(), daily=5)

    async def batch(n: int) -> int:
        body = {"messages": [message(to=[f"u{i}@example.test"]) for i in range(n)]}
        response = await api.client.post("/v1/messages/batch", json=body, headers=bearer(capped))
        return response.status_code

    assert await batch(3) == 202
    assert await batch(3) == 429  # 6 of 5: nothing of it is queued
    assert delivery_count(api.store) == 3
    assert await batch(2) == 202
    assert await batch(1) == 429
    assert delivery_count(api.store) == 5


async def test_http_quota_change_counts_at_once_and_a_refused_key_can_be_retried(
    start_api: StartApi,  # noqa: F811
) -> None:
    clock = FakeClock(HOUR)
    api = await start_api(clock=clock)
    capped = add_key(api.store)
    key_id = capped.split("_")[1]
    api.store.credentials.set_api_key_quota(key_id, clock.now(), hourly=0)
    headers = {**bearer(capped), "Idempotency-Key": "order-9"}
    assert (await api.send(message(), headers=headers)).status_code == 429
    api.store.credentials.set_api_key_quota(key_id, clock.now(), hourly=None)
    sent = await api.send(message(), headers=headers)
    assert sent.status_code == 202 and "Idempotent-Replayed" not in sent.headers


# -- over SMTP -------------------------------------------------------------------------


async def test_smtp_user_over_quota_gets_452_with_the_reason(
    make_rig: RigFactory,  # noqa: F811
    store_url: str,
) -> None:
    rig = await make_rig(store_url)
    user = rig.add_user()
    rig.store.credentials.set_smtp_user_quota(user, rig.clock.now(), hourly=2)
    client = await rig.session(user)
    for _ in range(2):
        errors, reply = await client.sendmail(SMTP_SENDER, ["bob@example.test"], smtp_message())
        assert errors == {} and reply.startswith("2.0.0 queued as")
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await client.sendmail(SMTP_SENDER, ["bob@example.test"], smtp_message())
    assert refused.value.code == 452
    assert refused.value.message.startswith("4.3.1 ")
    assert "hourly quota of 2" in refused.value.message
    assert f"relaylane smtp-users quota {user}" in refused.value.message
    assert len(rig.deliveries()) == 2
    # Raised by the operator: the same session sends again at once.
    rig.store.credentials.set_smtp_user_quota(user, rig.clock.now(), hourly=3)
    errors, _ = await client.sendmail(SMTP_SENDER, ["bob@example.test"], smtp_message())
    assert errors == {}
    await client.quit()
    assert len(rig.deliveries()) == 3


# -- the CLI and the audit log ---------------------------------------------------------


def test_cli_quotas_and_audit_entries(tmp_path: Path, store_url: str) -> None:
    cfg = str(write_config(tmp_path, store_url, extra=LANES))
    code, out = run(
        "keys", "create", "--scope", "send", "--lanes", "transactional",
        "--hourly-quota", "100", "-c", cfg, "--json",
    )  # fmt: skip
    assert code == 0, out
    made = json.loads(out)
    key_id, token = made["key_id"], made["key"]
    assert (made["hourly_quota"], made["daily_quota"]) == (100, None)
    code, out = run("keys", "quota", key_id, "--daily", "1000", "--hourly", "none", "-c", cfg)
    assert code == 0 and "1000/day" in out, out
    assert run("keys", "quota", key_id, "-c", cfg)[0] == 2  # nothing to change
    assert run("keys", "quota", key_id, "--daily", "lots", "-c", cfg)[0] == 2
    listed = json.loads(run("keys", "list", "-c", cfg, "--json")[1])
    assert listed[0]["daily_quota"] == 1000 and listed[0]["hourly_quota"] is None
    assert (listed[0]["used_this_hour"], listed[0]["used_today"]) == (0, 0)
    code, out = run("keys", "list", "-c", cfg)
    assert code == 0 and "0/1000" in out
    assert run("keys", "revoke", key_id, "-c", cfg)[0] == 0

    code, out = run(
        "smtp-users", "create", "app", "--lanes", "transactional", "--daily-quota", "50",
        "-c", cfg, "--json",
    )  # fmt: skip
    assert code == 0, out
    password = json.loads(out)["password"]
    assert run("smtp-users", "quota", "app", "--hourly", "5", "-c", cfg)[0] == 0
    listed = json.loads(run("smtp-users", "list", "-c", cfg, "--json")[1])
    assert (listed[0]["hourly_quota"], listed[0]["daily_quota"]) == (5, 50)
    assert run("smtp-users", "quota", "nobody", "--hourly", "5", "-c", cfg)[0] == 1
    assert run("smtp-users", "revoke", "app", "-c", cfg)[0] == 0

    store = open_store(store_url)
    try:
        entries = list(reversed(store.audit.entries()))
        secret_hash = store.credentials.api_key(key_id).secret_hash
        password_hash = store.credentials.smtp_user("app").password_hash
    finally:
        store.close()
    assert [(e.action, e.target) for e in entries] == [
        (AuditAction.KEY_CREATE.value, key_id),
        (AuditAction.KEY_QUOTA.value, key_id),
        (AuditAction.KEY_REVOKE.value, key_id),
        (AuditAction.SMTP_USER_CREATE.value, "app"),
        (AuditAction.SMTP_USER_QUOTA.value, "app"),
        (AuditAction.SMTP_USER_REVOKE.value, "app"),
    ]
    assert all(e.actor.startswith("operator:") for e in entries)
    assert entries[0].args["scopes"] == ["send"] and entries[0].args["hourly_quota"] == 100
    assert entries[1].args == {"hourly_quota": None, "daily_quota": 1000}
    assert entries[1].effect == {"hourly_quota_was": 100, "daily_quota_was": None}
    assert entries[4].args == {"hourly_quota": 5, "daily_quota": 50}
    dumped = json.dumps([e.as_dict() for e in entries])
    key_secret = token.split("_", 2)[2]  # rl_<id>_<secret>: the secret may hold "_" itself
    for secret in (token, key_secret, secret_hash, password, password_hash):
        assert secret not in dumped
    assert "hash" not in dumped and "password" not in dumped and "secret" not in dumped


def test_usage_shows_this_hours_and_todays_messages(
    tmp_path: Path, store_url: str, store: Store
) -> None:
    cfg = str(write_config(tmp_path, store_url, extra=LANES))
    code, out = run(
        "smtp-users", "create", "app", "--lanes", "transactional", "--hourly-quota", "9",
        "-c", cfg, "--json",
    )  # fmt: skip
    assert code == 0, out
    msg = stored_message(tmp_path, store_url, "u@b.test")
    now = time.time()
    ask = QuotaAsk.of(Principal("smtp_user", "app", frozenset(), ()), now, "UTC")
    store.intake.commit([IntakeItem(messages=(msg, msg), quota=ask)], now)
    listed = json.loads(run("smtp-users", "list", "-c", cfg, "--json")[1])
    assert (listed[0]["used_this_hour"], listed[0]["used_today"]) == (2, 2)
