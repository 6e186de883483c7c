"""The relational schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Invariant that keeps claiming cheap: `deliveries.due_at` is set exactly when a
delivery may be claimed (queued, deferred, blocked) and NULL otherwise, so the
claim query is one index range scan on (lane, due_at) however many rows are final.
Likewise `lease_expires` is set only while a delivery is `sending`.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("ref", sa.String(32), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("lane", sa.String(64), nullable=False),
    sa.Column("mail_from", sa.String(512), nullable=False),
    sa.Column("from_domain", sa.String(255), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("smtputf8", sa.Boolean, nullable=False),
    # Where it came from: "cli", "api", "smtp" or "dsn"; and who sent it (key id or user).
    sa.Column("source", sa.String(8), nullable=False, server_default="cli"),
    sa.Column("submitter", sa.String(128), nullable=True),
    sa.Column("notify", sa.String(16), nullable=True),  # "dsn": report failures by DSN
    sa.Column("tags", sa.Text, nullable=True),  # JSON list
    sa.Column("meta", sa.Text, nullable=True),  # JSON object ("metadata" in the API)
    # a send's own timing: no earlier than `not_before`, only inside `send_window`
    sa.Column("not_before", sa.Float, nullable=True),
    sa.Column("send_window", sa.String(128), nullable=True),
    # when retention emptied the body (all its deliveries long final); None: kept
    sa.Column("pruned_at", sa.Float, nullable=True),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column(
        "message_id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        sa.ForeignKey("messages.id"),
        nullable=False,
    ),
    sa.Column("lane", sa.String(64), nullable=False),
    sa.Column("recipient", sa.String(512), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("due_at", sa.Float, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("retries", sa.Integer, nullable=False, server_default="0"),
    sa.Column("relay", sa.String(64), nullable=True),
    sa.Column("pinned", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("lease_owner", sa.String(128), nullable=True),
    sa.Column("lease_expires", sa.Float, nullable=True),
    sa.Column("lease_token", sa.Integer, nullable=False, server_default="0"),
    sa.Column("header_message_id", sa.Text, nullable=False),  # a message's own may be long
    sa.Column("header_prefix", sa.LargeBinary, nullable=False),
    sa.Column("last_code", sa.Integer, nullable=True),
    sa.Column("last_reply", sa.Text, nullable=True),
    sa.Column("bounce_class", sa.String(32), nullable=True),
    sa.Column("relay_queue_id", sa.String(255), nullable=True),
    sa.Column("sent_at", sa.Float, nullable=True),
    sa.Column("notified", sa.Boolean, nullable=False, server_default=sa.false()),
    # what suppression matches on (policy.suppression.address_key), and the entry that
    # stopped this delivery when it did
    sa.Column("recipient_key", sa.String(512), nullable=False, server_default=""),
    sa.Column("suppressed_by", ID, nullable=True),
    # the recipient's provider group when it was last routed (health holds and drains
    # are per relay x provider), and a relay an operator drained it away from
    sa.Column("provider", sa.String(128), nullable=True),
    sa.Column("avoid_relay", sa.String(64), nullable=True),
    # the operator (actor) holding it with `queue hold`; None: not an operator's hold
    sa.Column("held_by", sa.String(128), nullable=True),
    # campaigns (issue 8): which campaign and contact; one delivery per pair, ever
    sa.Column("campaign_id", ID, nullable=True),
    sa.Column("contact_id", ID, nullable=True),
    sa.Index("uq_deliveries_campaign_contact", "campaign_id", "contact_id", unique=True),
    sa.Index("ix_deliveries_claim", "lane", "due_at"),
    sa.Index("ix_deliveries_recipient_key", "recipient_key"),
    sa.Index("ix_deliveries_lease", "lease_expires"),
    sa.Index("ix_deliveries_state", "state", "lane"),
    sa.Index("ix_deliveries_message", "message_id"),
    sa.Index("ix_deliveries_relay_state", "relay", "state"),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column(
        "delivery_id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        sa.ForeignKey("deliveries.id"),
        nullable=False,
    ),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("relay", sa.String(64), nullable=True),
    sa.Column("stage", sa.String(16), nullable=False),
    sa.Column("code", sa.Integer, nullable=True),
    sa.Column("reply", sa.Text, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("bounce_class", sa.String(32), nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("failover", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("stale", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("worker", sa.String(128), nullable=True),
    sa.Index("ix_attempts_delivery", "delivery_id"),
    sa.Index("ix_attempts_relay_at", "relay", "at"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("key_id", sa.String(32), nullable=False, unique=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("scopes", sa.String(64), nullable=False),  # comma-separated
    sa.Column("lanes", sa.Text, nullable=False),  # comma-separated, in order
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
    sa.Column("hourly_quota", sa.Integer, nullable=True),  # messages an hour; None: no quota
    sa.Column("daily_quota", sa.Integer, nullable=True),  # messages a day; None: no quota
)

smtp_users = sa.Table(
    "smtp_users",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("lanes", sa.Text, nullable=False),
    sa.Column("notify", sa.String(16), nullable=False, server_default="none"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
    sa.Column("hourly_quota", sa.Integer, nullable=True),
    sa.Column("daily_quota", sa.Integer, nullable=True),
)

# One row per Idempotency-Key and API key: the request's hash and the answer it got,
# written in the same transaction as the messages it queued.
idempotency = sa.Table(
    "idempotency",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("principal", sa.String(128), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("owner", sa.String(32), nullable=False),  # the commit that created it
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("response", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("principal", "key", name="uq_idempotency_key"),
    sa.Index("ix_idempotency_created", "created_at"),
)

suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("address_key", sa.String(512), nullable=False),
    sa.Column("address", sa.String(512), nullable=False),  # as first given
    sa.Column("scope_kind", sa.String(8), nullable=False),
    sa.Column("scope_name", sa.String(64), nullable=False, server_default=""),
    sa.Column("reason", sa.String(24), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=True),
    sa.Column("delivery_id", ID, nullable=True),  # the delivery whose outcome caused it
    sa.UniqueConstraint("address_key", "scope_kind", "scope_name", name="uq_suppression"),
)

# The HMAC keys that sign delivery tokens (VERP addresses, X-Relaylane-ID). The newest
# signs; a replaced key keeps verifying for 30 days after `retired_at`.
token_keys = sa.Table(
    "token_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("secret", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("retired_at", sa.Float, nullable=True),
)

# Everything that came back: bounces, delay notices, delivery reports, complaints,
# unsubscribes, auto-replies and provider events, one row per recipient finding, matched
# to the delivery it belongs to (or `unmatched`, acted on by nothing), with the raw
# report kept as evidence.
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("source", sa.String(32), nullable=False),  # receiver, import, webhook:ses, ...
    sa.Column("kind", sa.String(16), nullable=False),  # dsn, arf, plain, auto_reply, ...
    sa.Column("event", sa.String(16), nullable=False),  # bounced, delayed, complained, ...
    sa.Column("delivery_id", ID, nullable=True),
    sa.Column("relay", sa.String(64), nullable=True),
    sa.Column("recipient", sa.String(512), nullable=True),
    sa.Column("bounce_class", sa.String(32), nullable=False),
    sa.Column("code", sa.Integer, nullable=True),
    sa.Column("status", sa.String(16), nullable=True),
    sa.Column("diagnostic", sa.Text, nullable=False, server_default=""),
    sa.Column("action", sa.String(24), nullable=False),  # what relaylane did about it
    sa.Column("raw", sa.LargeBinary, nullable=True),
    sa.Index("ix_feedback_delivery", "delivery_id"),
    sa.Index("ix_feedback_received", "received_at"),
)

# DKIM key rotations (`relaylane dkim rotate`): a new key waits (`pending`) until doctor
# sees its record published, then signs instead of the old selector (`switched`); the old
# public key must stay published for 7 days after `switched_at` (`done` after that).
dkim_rotations = sa.Table(
    "dkim_rotations",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("domain", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # rsa | ed25519
    sa.Column("old_selector", sa.String(63), nullable=True),
    sa.Column("new_selector", sa.String(63), nullable=False),
    sa.Column("key_file", sa.Text, nullable=False),  # a path: the key itself never is here
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("switched_at", sa.Float, nullable=True),
    sa.UniqueConstraint("domain", "new_selector", name="uq_dkim_rotation_selector"),
)

# Pacing: how much each relay (and each warm-up path) sent per hour and per day, so caps
# and warm-up survive a restart; and every adaptive-backoff change with its cause.
pacing_counts = sa.Table(
    "pacing_counts",
    metadata,
    sa.Column("relay", sa.String(64), nullable=False),
    sa.Column("path", sa.String(320), nullable=False),  # "" for the relay, else domain|provider
    sa.Column("period", sa.String(8), nullable=False),  # hour | day
    sa.Column("period_start", sa.Float, nullable=False),
    sa.Column("sent", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("relay", "path", "period", "period_start", name="pk_pacing_counts"),
)

pacing_events = sa.Table(
    "pacing_events",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("relay", sa.String(64), nullable=False),
    sa.Column("provider", sa.String(128), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # slow | suspend | recover | warmup
    sa.Column("rate", sa.Float, nullable=True),  # messages/s after the change
    sa.Column("until", sa.Float, nullable=True),  # suspended until
    sa.Column("cause", sa.Text, nullable=False),  # the reply or event text
    sa.Index("ix_pacing_events_relay_at", "relay", "at"),
)

# Each warming path's progress (relaylane.policy.pacing.warmup.WarmupState as JSON), so a
# restart neither resets a warm-up nor lets it skip ahead.
warmup_paths = sa.Table(
    "warmup_paths",
    metadata,
    sa.Column("relay", sa.String(64), nullable=False),
    sa.Column("path", sa.String(320), nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.PrimaryKeyConstraint("relay", "path", name="pk_warmup_paths"),
)

# Metrics in compact time buckets: one row per (relay, provider, lane, campaign, metric)
# and minute, rolled up to hours once older than two days, so history survives restarts
# and stays small. "" in a dimension means "not about one": a relay-wide count has
# provider "", a count from feedback without a campaign has campaign "".
metric_buckets = sa.Table(
    "metric_buckets",
    metadata,
    sa.Column("relay", sa.String(64), nullable=False),
    sa.Column("resolution", sa.String(6), nullable=False),  # minute | hour
    sa.Column("start", sa.Float, nullable=False),
    sa.Column("provider", sa.String(128), nullable=False),
    sa.Column("lane", sa.String(64), nullable=False),
    sa.Column("campaign", sa.String(128), nullable=False),
    sa.Column("metric", sa.String(48), nullable=False),
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint(
        "relay",
        "resolution",
        "start",
        "provider",
        "lane",
        "campaign",
        "metric",
        name="pk_metric_buckets",
    ),
    sa.Index("ix_metric_buckets_lane", "lane", "resolution", "start"),
    sa.Index("ix_metric_buckets_start", "resolution", "start"),
)

# Each relay's (provider "") and each relay x provider's health, shared by every worker
# and changed by operators (`relaylane relays pause|resume`).
relay_health = sa.Table(
    "relay_health",
    metadata,
    sa.Column("relay", sa.String(64), nullable=False),
    sa.Column("provider", sa.String(128), nullable=False),  # "" for the relay as a whole
    sa.Column("state", sa.String(12), nullable=False),  # healthy|degraded|paused|probing
    sa.Column("cause", sa.String(16), nullable=False),  # policy.health.Cause
    sa.Column("since", sa.Float, nullable=False),
    sa.Column("until", sa.Float, nullable=True),  # paused: when probing may start
    sa.Column("cool_down", sa.Float, nullable=False),  # the current pause's length
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.PrimaryKeyConstraint("relay", "provider", name="pk_relay_health"),
)

# Every health transition with its evidence (rates, window, sample replies) and who made
# it ("auto" or "operator:<name>"); operator drains are recorded here too.
health_events = sa.Table(
    "health_events",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("relay", sa.String(64), nullable=False),
    sa.Column("provider", sa.String(128), nullable=False),
    sa.Column("from_state", sa.String(12), nullable=False),
    sa.Column("to_state", sa.String(12), nullable=False),
    sa.Column("cause", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evidence", sa.Text, nullable=False),  # JSON object
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Index("ix_health_events_relay_at", "relay", "at"),
)

# Outgoing webhook events: written in the same transaction as the change they report,
# then sent by a dispatcher (at least once, retried with backoff). `due_at` is NULL once
# delivered or given up, so the dispatcher's claim is one index range scan.
event_outbox = sa.Table(
    "event_outbox",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),
    sa.Column("endpoint", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # the JSON body, exactly as sent
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("due_at", sa.Float, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lease_owner", sa.String(128), nullable=True),
    sa.Column("lease_expires", sa.Float, nullable=True),
    sa.Column("delivered_at", sa.Float, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index("ix_event_outbox_due", "endpoint", "due_at"),
)

# Contacts (issue 8): one row per address (its suppression key is unique), its custom
# fields as a JSON object; membership of lists with consent facts per list.
contacts = sa.Table(
    "contacts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("email", sa.String(512), nullable=False),
    sa.Column("email_key", sa.String(512), nullable=False, unique=True),
    sa.Column("attributes", sa.Text, nullable=False, server_default="{}"),  # JSON object
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

lists = sa.Table(
    "lists",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("double_opt_in", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.Float, nullable=False),
)

list_members = sa.Table(
    "list_members",
    metadata,
    sa.Column("list_id", ID, sa.ForeignKey("lists.id"), nullable=False),
    sa.Column("contact_id", ID, sa.ForeignKey("contacts.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # subscribed | pending | unsubscribed
    sa.Column("subscribed_at", sa.Float, nullable=True),
    sa.Column("source", sa.String(128), nullable=True),
    sa.Column("added_at", sa.Float, nullable=False),
    sa.PrimaryKeyConstraint("list_id", "contact_id", name="pk_list_members"),
    sa.Index("ix_list_members_contact", "contact_id"),
)

# Templates (issue 8): every version kept; a campaign keeps the version it started with.
templates = sa.Table(
    "templates",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("html", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("name", "version", name="uq_template_version"),
)

# Campaigns (issue 8): one template version, one list (and segment), one lane, one fixed
# From. The feeder turns list members into deliveries in contact-id order; `cursor` is
# the last contact id it has looked at, advanced in the same transaction as the inserts.
campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("list_id", ID, sa.ForeignKey("lists.id"), nullable=False),
    sa.Column("segment", sa.Text, nullable=True),
    sa.Column("template", sa.String(64), nullable=False),
    sa.Column("template_version", sa.Integer, nullable=True),  # fixed at start
    sa.Column("lane", sa.String(64), nullable=False),
    sa.Column("from_header", sa.Text, nullable=False),
    sa.Column("reply_to", sa.Text, nullable=True),
    sa.Column("strategy", sa.String(16), nullable=False),
    sa.Column("send_window", sa.String(128), nullable=True),
    sa.Column("not_before", sa.Float, nullable=True),
    sa.Column("max_per_hour", sa.Integer, nullable=True),
    sa.Column("tracking", sa.Boolean, nullable=True),  # None: the lane's default
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),  # why it paused or stopped
    sa.Column("changed_at", sa.Float, nullable=True),  # its last state change
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Column("message_id", ID, nullable=True),  # the one stored message all share
    sa.Column("cursor", ID, nullable=False, server_default="0"),
    sa.Column("fed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("skipped", sa.Integer, nullable=False, server_default="0"),
    sa.Column("hour_start", sa.Float, nullable=True),
    sa.Column("hour_fed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("audience", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_contact", ID, nullable=False, server_default="0"),
)

# Opens and clicks (issue 8), attributed to delivery, campaign, contact and relay.
tracking_events = sa.Table(
    "tracking_events",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # open | click
    sa.Column("delivery_id", ID, nullable=False),
    sa.Column("campaign_id", ID, nullable=True),
    sa.Column("contact_id", ID, nullable=True),
    sa.Column("relay", sa.String(64), nullable=True),
    sa.Column("url", sa.Text, nullable=True),  # clicks: the link's target
    sa.Index("ix_tracking_campaign", "campaign_id", "kind"),
    sa.Index("ix_tracking_contact", "contact_id", "at"),
    sa.Index("ix_tracking_delivery", "delivery_id"),
)


# -- operations (0010) -------------------------------------------------------------------
# Every operator action: who, when, what with which arguments, and its effect (counts).
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),  # operator:<user>, key:<id>, ...
    sa.Column("action", sa.String(48), nullable=False),  # an AuditAction value
    sa.Column("target", sa.String(255), nullable=False, server_default=""),
    sa.Column("args", sa.Text, nullable=False, server_default="{}"),  # JSON object
    sa.Column("effect", sa.Text, nullable=False, server_default="{}"),  # JSON object
    sa.Index("ix_audit_at", "at"),
    sa.Index("ix_audit_action", "action", "at"),
)

# A lane an operator paused: workers claim nothing of it until it is resumed.
lane_states = sa.Table(
    "lane_states",
    metadata,
    sa.Column("lane", sa.String(64), primary_key=True),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)

# Messages accepted per API key or SMTP user ("key:<id>", "smtp:<name>") and period.
quota_counts = sa.Table(
    "quota_counts",
    metadata,
    sa.Column("principal", sa.String(160), nullable=False),
    sa.Column("period", sa.String(4), nullable=False),  # hour | day
    sa.Column("period_start", sa.Float, nullable=False),
    sa.Column("n", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("principal", "period", "period_start", name="pk_quota_counts"),
)

# Each running serve or worker process, its heartbeat and the configuration it runs.
processes = sa.Table(
    "processes",
    metadata,
    sa.Column("id", sa.String(96), primary_key=True),  # host:pid:start
    sa.Column("role", sa.String(16), nullable=False),  # serve | worker
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("seen_at", sa.Float, nullable=False),
    sa.Column("config_hash", sa.String(64), nullable=False),  # sha256 of the file's bytes
    sa.Column("config_loaded_at", sa.Float, nullable=False),
    sa.Column("claimed", sa.BigInteger, nullable=False, server_default="0"),  # since start
    sa.Column("sent", sa.BigInteger, nullable=False, server_default="0"),
)

# Limits shared by every worker (relaylane.policy.pacing.allotment): how much of one
# limit's slot (a rate's second, a cap's hour or day, a warm-up path's day) the workers
# together have been granted. Old rate slots are deleted as they pass.
limit_allotments = sa.Table(
    "limit_allotments",
    metadata,
    sa.Column("key", sa.String(400), nullable=False),  # rate|relay[|provider], hour|relay, ...
    sa.Column("slot_start", sa.Float, nullable=False),
    sa.Column("slot_end", sa.Float, nullable=False),
    sa.Column("granted", sa.BigInteger, nullable=False),
    sa.PrimaryKeyConstraint("key", "slot_start", name="pk_limit_allotments"),
    sa.Index("ix_limit_allotments_end", "slot_end"),
)

# A relay's connection slots: a worker opens a connection only while it holds one of the
# relay's first `max_connections` slots, leased and renewed like deliveries.
relay_slots = sa.Table(
    "relay_slots",
    metadata,
    sa.Column("relay", sa.String(64), nullable=False),
    sa.Column("slot", sa.Integer, nullable=False),
    sa.Column("holder", sa.String(160), nullable=True),  # worker owner#connection
    sa.Column("expires", sa.Float, nullable=True),
    sa.PrimaryKeyConstraint("relay", "slot", name="pk_relay_slots"),
)

# Each relay x provider pair's adaptive rate (relaylane.policy.pacing.aimd), shared so a
# slow-down one worker met slows every worker.
pair_rates = sa.Table(
    "pair_rates",
    metadata,
    sa.Column("relay", sa.String(64), nullable=False),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("state", sa.Text, nullable=False),  # PathRate's fields, without its changes
    sa.Column("changed_at", sa.Float, nullable=False),  # the change it reflects
    sa.PrimaryKeyConstraint("relay", "provider", name="pk_pair_rates"),
)
