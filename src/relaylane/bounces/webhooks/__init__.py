"""ESP event webhooks: verify a provider's request, normalise its events to `Finding`s.

Pure code, no I/O: each provider module exposes

    verify_and_parse(headers, body, config, now) -> list[ProviderEvent]

with `headers` keyed in lower case, `body` the raw request bytes, `config` the provider's
table of [webhooks] and `now` Unix seconds. It raises `WebhookRejected` (and nothing else)
for a request that is not believed or not readable; its `status` is the HTTP answer.
Events relaylane does not act on (opens, clicks, "processed", "Send", ...) are left out.
"""

from __future__ import annotations

from relaylane.bounces.webhooks import mailgun, postmark, sendgrid, ses
from relaylane.bounces.webhooks.common import ProviderEvent, WebhookRejected
from relaylane.bounces.webhooks.ses import SnsEnvelope

__all__ = [
    "ProviderEvent",
    "SnsEnvelope",
    "WebhookRejected",
    "mailgun",
    "postmark",
    "sendgrid",
    "ses",
]
