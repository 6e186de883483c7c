"""The commented starter relaylane.toml that `relaylane init` writes."""

from __future__ import annotations

from pathlib import Path

from relaylane.errors import ConfigError

__all__ = ["STARTER_TOML", "write_starter"]

STARTER_TOML = """\
# relaylane.toml: relays (SMTP servers you send through) and lanes (kinds of mail).
# Reference: docs/configuration.md. `relaylane check` validates this file and lists
# every problem at once, each with its fix.
#
# Durations accept "500ms", "30s", "5m", "1h", "3d", combinations such as "1h30m",
# or a bare number of seconds (30, 1.5).
# Secrets never go in this file: a relay's password is read from the environment
# variable named by password_env.

[store]
# Where relaylane keeps messages, deliveries and history.
# sqlite:///PATH (a relative PATH is relative to this file's directory)
# or postgresql://USER@HOST/DATABASE.
url = "sqlite:///relaylane.db"

[worker]
# How long a claimed delivery stays reserved for one worker; renewed while in flight.
lease = "60s"
# The most deliveries one worker claims in a single query.
claim_batch = 256
# How often an idle worker looks for work that has become due.
idle_poll = "500ms"
# `relaylane worker` also serves Prometheus metrics at http://HOST:PORT/metrics; off
# unless set (`relaylane worker --metrics-port N` sets the port for one run).
# metrics_listen = "127.0.0.1:9464"

[http]
# `relaylane serve`: the HTTP API (/v1, OpenAPI at /openapi.json) listens here.
listen = "127.0.0.1:8025"
# Base of links in messages (tracking, unsubscribe); default http://LISTEN.
# public_url = "https://mail.acme.test"
# Serve HTTPS: a PEM certificate chain and its key (both or neither).
# tls_cert = "certs/mail.acme.test.crt"
# tls_key = "certs/mail.acme.test.key"
# The largest HTTP request body accepted, and messages per batch request.
max_request_size = "50MB"
batch_limit = 1000
# Who may read /metrics (Prometheus): "open", "key" (an API key with the read scope)
# or "off". Default: open while listen is a loopback address, key otherwise.
# metrics = "open"

[log]
# `relaylane serve` and `relaylane worker` log to stderr: "text" or "json" (one object
# per line; --log-format overrides), from this level up: debug, info, warning, error.
format = "text"
level = "info"

[submission]
# SMTP submission (STARTTLS, AUTH after TLS) for applications configured for a relay.
listen = "127.0.0.1:2587"
# Implicit TLS on a second port (like 465); off unless set.
# tls_listen = "127.0.0.1:2465"
# Certificate and key; without them a self-signed pair is made at start (loopback only).
# tls_cert = "certs/mail.acme.test.crt"
# tls_key = "certs/mail.acme.test.key"
# Name in the greeting and EHLO reply; the machine's FQDN otherwise.
# hostname = "mail.acme.test"
# The largest message accepted (SMTP SIZE; the API uses it too), recipients per message.
max_message_size = "25MB"
max_recipients = 1000
# AUTH only after STARTTLS, unless this is true and the client is on loopback.
allow_plain_auth_on_loopback = false
# Failed AUTH attempts allowed per client IP within the window, then refused for lockout.
auth_max_failures = 5
auth_failure_window = "10m"
auth_lockout = "15m"
# Close a client connection idle this long.
timeout = "5m"

[intake]
# Back-pressure: refuse new mail (SMTP 451, API 503 with Retry-After) while more than
# this many deliveries wait; unset means no limit.
# max_queued = 1000000
# Group commit: concurrent submissions share one durable commit, waiting at most
# commit_window for up to commit_batch messages.
commit_window = "2ms"
commit_batch = 512

[bounces]
# The bounce receiver (part of `relaylane serve`; alone: `relaylane bounces serve`).
# Point the MX (or your MTA's transport map) of each return-path domain here.
listen = "127.0.0.1:2526"
enabled = true
# Name in the greeting; the machine's FQDN otherwise.
# hostname = "bounces.acme.test"
# The largest report accepted (bounces quote the original message), and how many bytes
# of each report are kept as evidence.
max_message_size = "10MB"
keep_raw = "256KB"

[classification]
# Your own bounce rules (regular expressions over "STAGE CODE ENHANCED TEXT"), tried
# before the shipped ones; see docs/bounces.md for the format.
# rules_file = "bounce-rules.toml"

# Sending domains. return_path: the envelope-sender domain for relays of kind "mta";
# each delivery is sent as b-<signed token>@<return_path> (VERP), so bounces name it.
# dkim: the keys relaylane signs with (RSA-2048 always; Ed25519 only in addition).
# `relaylane dkim keygen DOMAIN --selector NAME` writes a key and prints its DNS record.
# `relaylane init` made these keys (mode 0600); publish the records that
# `relaylane doctor` prints before sending for real.
[domain."tx.acme.test"]
return_path = "bounces.tx.acme.test"
dkim = [ { selector = "rl1", key_file = "keys/tx.acme.test-rl1.pem" } ]
# Add Ed25519 as a second signature (never alone):
# dkim = [ { selector = "rl1", key_file = "keys/tx.acme.test-rl1.pem" },
#          { selector = "rl1e", key_file = "keys/tx.acme.test-rl1e.pem" } ]
# An ESP that signs this domain with its own aligned keys (doctor checks its selectors):
# dkim_signed_by_relay = false
# relay_selectors = ["s1", "s2"]
# DMARC alignment the gate requires: "relaxed" (same organizational domain) or "strict".
alignment = "relaxed"
# Host of open and click tracking links (https://HOST/t/...; default: [http] public_url).
# tracking_domain = "track.tx.acme.test"

[domain."news.acme.test"]
dkim = [ { selector = "rl1", key_file = "keys/news.acme.test-rl1.pem" } ]

[domain."outreach.acme.test"]
dkim = [ { selector = "rl1", key_file = "keys/outreach.acme.test-rl1.pem" } ]

# Provider webhooks, served by `relaylane serve` under /v1/webhooks/PROVIDER. A table
# turns its endpoint on; see docs/bounces.md for each provider's set-up.
# [webhooks.ses]
# relay = "tx-backup"
# topic_arns = ["arn:aws:sns:eu-west-1:123456789012:relaylane"]
# signing_cert_file = "sns-signing-cert.pem"
# [webhooks.sendgrid]
# public_key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE..."
# max_age = "10m"
# [webhooks.mailgun]
# signing_key_env = "MAILGUN_WEBHOOK_SIGNING_KEY"
# [webhooks.postmark]
# username = "relaylane"
# password_env = "POSTMARK_WEBHOOK_PASSWORD"

# How long history is kept; `serve` prunes every `interval` in batches of `batch` rows.
# Live deliveries and suppression evidence are never pruned (docs/operations.md).
# [retention]
# bodies = "7d"        # message bodies, after the last delivery became final
# attempts = "90d"     # attempts and feedback of final deliveries
# tracking = "180d"    # opens and clicks
# metrics = "400d"     # metric buckets
# batch = 500
# interval = "5m"      # 0: only `relaylane db prune`

[pacing]
# Where hours and days begin for caps and warm-up days.
timezone = "UTC"
# Rates, caps, warm-up volumes, adaptive rates and max_connections count every worker
# process on the store together (docs/deploy.md). false: each process counts itself.
# shared_limits = true

# A warm-up schedule a relay can name with warmup = "standard": messages per step (one
# step is about a day), advancing only on volume sent while the path stays healthy.
# [warmup.standard]
# schedule = [200, 500, 1000, 2500, 5000, 10000, 20000, 40000, 80000]
# scope = "relay_and_domain"
# advance_when = { min_sent_ratio = 0.8, max_deferral_rate = 0.05, max_block_rate = 0.01 }
# step_back_after_idle = "3d"
# spill = "lane"

# Mailbox providers: relaylane ships Google, Microsoft, Yahoo/AOL, Apple and a catch-all
# "default" (src/relaylane/policy/providers.toml); any field can be overridden here.
# Rates are per relay x provider; rules slow or suspend a pair on matching replies.
# [provider.google]
# domains = ["gmail.com", "googlemail.com"]
# mx = ["*.google.com", "*.googlemail.com"]
# rate = "10/s"
# floor = "1/min"
# recover_step = 0.1
# recover_every = "5m"
# [[provider.google.rule]]
# match = '4\\.7\\.28|unusual rate'
# action = "slow"
# factor = 0.5
# duration = "30m"

# ---------------------------------------------------------------------------
# Relays: one [[relay]] table per SMTP server.
# ---------------------------------------------------------------------------

[[relay]]
# A unique name; lanes refer to relays by it.
name = "tx-primary"
# "mta" for a smarthost you run (Postfix, KumoMTA), "esp" for a provider's SMTP endpoint.
kind = "mta"
host = "smtp.tx.acme.test"
port = 587
# "starttls" (port 587, certificate verified), "implicit" (TLS from the first byte,
# port 465) or "none" (plaintext; loopback or trusted networks only).
tls = "starttls"
# Extra CA bundle to trust (relative to this file's directory); the system store otherwise.
# ca_file = "/etc/ssl/certs/ca-certificates.crt"
# Verify the relay's certificate. Turn off only for a test relay.
verify = true
# Name for SNI and the certificate check when it differs from host.
# server_name = "smtp.tx.acme.test"
# Authentication: username and password_env go together. The password itself is read
# from the environment variable named here (export TX_PRIMARY_PASSWORD=...).
# username = "acme"
# password_env = "TX_PRIMARY_PASSWORD"
# Name sent in EHLO; the machine's host name otherwise.
# helo = "mta1.acme.test"
# Simultaneous connections to this relay (>= 1).
max_connections = 4
# Messages sent over one connection before it is closed and reopened (>= 1).
max_messages_per_connection = 100
# Seconds to wait: for the connection and greeting, for each command's reply,
# and for the reply after the message data.
timeouts = { connect = 30, command = 300, data_end = 600 }
# true when the relay advertises SMTPUTF8, so lanes over it may accept UTF-8 local parts.
smtputf8 = false
# Per sending domain, a return-path domain for this relay, overriding the domain's own.
# return_path = { "tx.acme.test" = "bounces-primary.tx.acme.test" }
# For kind = "esp": "ses", "sendgrid", "mailgun", "postmark" or "other"; relaylane adds
# the header that brings each delivery's id back in that provider's webhook events.
# provider = "ses"
# Headers this relay rewrites (SES rewrites Message-ID and Date), so they are not signed.
# dkim_skip_headers = ["Message-ID", "Date"]
# What SPF on the return-path domain must authorize for this relay (doctor checks it).
# outbound_ips = ["192.0.2.10"]
# spf_include = "amazonses.com"
# Pacing: a token bucket for the whole relay ("20/s", "1200/min", "50000/h"), caps per
# hour and per day (days in [pacing] timezone; counts survive restarts), and a warm-up.
# rate = "20/s"
# hourly_cap = 40000
# daily_cap = 250000
# warmup = "standard"

[[relay]]
name = "tx-backup"
kind = "esp"
provider = "ses"
host = "smtp.backup.acme.test"
port = 465
tls = "implicit"
# username = "apikey"
# password_env = "TX_BACKUP_PASSWORD"

[[relay]]
name = "mkt-a"
kind = "esp"
host = "smtp.mkt-a.acme.test"
port = 587
tls = "starttls"
max_connections = 8
# username = "acme-marketing"
# password_env = "MKT_A_PASSWORD"

[[relay]]
name = "mkt-b"
kind = "esp"
host = "smtp.mkt-b.acme.test"
port = 587
tls = "starttls"
# username = "acme-marketing"
# password_env = "MKT_B_PASSWORD"

[[relay]]
name = "out-a"
kind = "mta"
host = "smtp.out.acme.test"
port = 587
tls = "starttls"
# username = "outreach"
# password_env = "OUT_A_PASSWORD"

# ---------------------------------------------------------------------------
# Lanes: one [[lane]] table per kind of mail. Transactional lanes are served first.
# ---------------------------------------------------------------------------

[[lane]]
name = "transactional"
# "transactional", "marketing" or "outreach".
purpose = "transactional"
# Relays in order; "name:weight" sets a weight (only with strategy = "weighted").
relays = ["tx-primary", "tx-backup"]
# "failover" (first available relay), "weighted" (by weight), "round_robin" (each in
# turn) or "sticky" (each recipient domain stays on one relay).
strategy = "failover"
# Give up on a delivery this long after it was queued (default 1h transactional, 3d others).
max_age = "1h"
# Transactional lanes may not share relays with marketing or outreach lanes unless true.
allow_shared_relays = false
# From domains this lane may send as. Other From domains are refused at intake, and so
# is mail from a domain without an aligned DKIM key (the alignment gate). Empty: any
# domain, ungated (`check` warns, `doctor` fails it).
from_domains = ["tx.acme.test"]
# Retry delays: first, then multiplied by factor, never above cap, each varied by
# +/- jitter (a fraction). Default cap 1h for transactional lanes, 4h for others.
retry = { first = "5m", cap = "1h", factor = 2.0, jitter = 0.2 }
# Send only inside a window (deliveries outside it wait as "held"), or not before a time:
# send_window = "mon-fri 08:00-18:00 Europe/Paris"
# not_before = 2026-12-01T08:00:00+01:00
# Open and click tracking of campaign mail (default: on for marketing, off otherwise):
# tracking = false

[lane.suppression]
# Where a hard bounce (invalid recipient, bad domain, inactive mailbox) suppresses the
# address: "global", "lane" or "none".
hard_bounces = "global"
# Complaints suppress every non-transactional lane; a transactional lane hears only
# complaints about its own mail, and may opt out with false.
complaints = true
# Unsubscribes suppress the list they came from, or this lane; false opts out.
unsubscribes = true
# A full mailbox suppresses after this many distinct messages within the window (0: never).
mailbox_full_limit = 3
mailbox_full_window = "14d"

[[lane]]
name = "marketing"
purpose = "marketing"
relays = ["mkt-a:3", "mkt-b:1"]
strategy = "weighted"
max_age = "3d"
from_domains = ["news.acme.test"]
retry = { first = "5m", cap = "4h", factor = 2.0, jitter = 0.2 }

[[lane]]
name = "outreach"
purpose = "outreach"
relays = ["out-a"]
strategy = "sticky"
max_age = "3d"
from_domains = ["outreach.acme.test"]
retry = { first = "5m", cap = "4h" }
"""


STARTER_KEYS = ("tx.acme.test", "news.acme.test", "outreach.acme.test")


def write_starter(path: Path, force: bool = False) -> list[Path]:
    """Write STARTER_TOML to `path`, and the DKIM keys it names (keys/DOMAIN-rl1.pem next
    to it, mode 0600, kept when they exist); refuse to replace an existing file unless
    `force`. Returns the key files made."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(str(path), ["this is a directory; give the path of the file to write"])
    if path.exists() and not force:
        raise ConfigError(
            str(path),
            ["the file already exists; pass --force to overwrite it, or choose another path"],
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(STARTER_TOML, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            str(path), [f"cannot write the file ({exc.strerror}); check the directory"]
        ) from None
    return _write_keys(path.parent / "keys")


def _write_keys(directory: Path) -> list[Path]:
    from relaylane.dkim import generate_key, write_private_key

    made = []
    directory.mkdir(parents=True, exist_ok=True)
    for domain in STARTER_KEYS:
        key = directory / f"{domain}-rl1.pem"
        if not key.exists():
            write_private_key(key, generate_key("rsa"))
            made.append(key)
    return made
