"""One-click unsubscribe (RFC 8058) for marketing and outreach mail.

`oneclick` holds the pure parts: signed unsubscribe tokens, the List-Unsubscribe,
List-Unsubscribe-Post and List-Id header fields, recognising a one-click POST body, and
recognising the `u-<token>` mailto local part the bounce receiver sees. The HTTP route,
the bounce receiver hook and the suppression ledger entry (scoped to the list, or to the
lane for mail sent without a list) build on these.
"""
