"""Asynchronous outcomes: bounces (DSNs), complaints (ARF), provider events, auto-replies.

Parsers are pure (bytes in, a `ParsedReport` out, never raising); matching a report to the
delivery it belongs to (VERP token or signed X-Relaylane-ID) and acting on it live in
`ingest`; the SMTP listener that receives them lives in `receiver`.
"""
