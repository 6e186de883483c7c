"""Events out: webhooks that tell applications what became of their mail.

Events are written to a durable outbox (`event_outbox`) in the same transaction as the
change they report (`emit`), then POSTed, signed (`signing`), by a dispatcher that
retries with backoff until the endpoint answers 2xx or the event is given up
(`dispatch`). Delivery is at least once; every event carries an id for deduplication.
See docs/events.md.
"""
