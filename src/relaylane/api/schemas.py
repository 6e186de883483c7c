"""Request bodies of the API (pydantic, `extra="forbid"`), documented for /openapi.json.

Bodies are read and validated by the routes themselves (see `body.py`): a batch is
validated item by item so that one bad message does not sink the others.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

MAX_ADDRESSES = 10_000  # per list in the schema; [submission] max_recipients applies on top
MAX_BATCH_SCHEMA = 10_000  # the schema's cap; [http] batch_limit is the real one

AddressText = Annotated[
    str,
    Field(
        max_length=998,
        description="An address: `bob@example.com` or `Bob <bob@example.com>`.",
        examples=["Bob <bob@example.com>"],
    ),
]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
MetaKey = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
]
MetaValue = Annotated[str, StringConstraints(max_length=1024)]


class AttachmentIn(BaseModel):
    """A file to attach. With `content_id` it is shown inline (an image the HTML body
    shows as `<img src="cid:...">`)."""

    model_config = ConfigDict(extra="forbid", title="Attachment")

    filename: str = Field(min_length=1, max_length=255, examples=["invoice.pdf"])
    content: str = Field(
        description="The file's bytes, base64 (standard alphabet; line breaks allowed).",
        examples=["JVBERi0xLjQK"],
    )
    content_type: str = Field(
        default="application/octet-stream",
        max_length=255,
        description="A MIME type without parameters, e.g. `application/pdf`.",
        examples=["application/pdf"],
    )
    content_id: str | None = Field(
        default=None,
        max_length=255,
        description="Makes the attachment inline with this Content-ID (no angle brackets).",
        examples=["logo@acme.test"],
    )


class EnvelopeIn(BaseModel):
    """The SMTP envelope of a `raw` message: who bounces go to, and who receives it."""

    model_config = ConfigDict(extra="forbid", title="Envelope")

    from_: str = Field(
        alias="from",
        max_length=998,
        description="The envelope sender (MAIL FROM): a bare address, no display name.",
        examples=["bounces@tx.acme.test"],
    )
    to: list[str] = Field(
        min_length=1,
        max_length=MAX_ADDRESSES,
        description="The recipients (RCPT TO): bare addresses. Only these receive it.",
        examples=[["bob@example.com"]],
    )


class MessageIn(BaseModel):
    """One message: either built from parts (`from`, `to`, `subject`, `text`/`html`,
    ...) or a complete RFC 5322 message in `raw` (or `raw_base64`) with an `envelope`.

    Every recipient in `to`, `cc` and `bcc` gets a delivery of its own. `bcc` addresses
    receive the message but are never written into it. A Bcc header inside `raw` is
    removed. Headers a client may not set, in `headers` or in `raw`: Return-Path,
    DKIM-Signature, Received and any X-Relaylane-*. The composed message may not exceed
    `[submission] max_message_size` (attachments count base64-encoded)."""

    model_config = ConfigDict(
        extra="forbid",
        title="Message",
        json_schema_extra={
            "examples": [
                {
                    "from": "Acme <no-reply@tx.acme.test>",
                    "to": ["Bob <bob@example.com>"],
                    "subject": "Reset your password",
                    "text": "Follow this link to choose a new password: ...",
                    "lane": "transactional",
                    "tags": ["password-reset"],
                    "metadata": {"user_id": "42"},
                },
                {
                    "raw": "From: no-reply@tx.acme.test\r\nTo: bob@example.com\r\n"
                    "Subject: Hi\r\n\r\nHello\r\n",
                    "envelope": {"from": "no-reply@tx.acme.test", "to": ["bob@example.com"]},
                },
            ]
        },
    )

    from_: AddressText | None = Field(
        default=None, alias="from", description="The From header. Required unless `raw`."
    )
    to: list[AddressText] = Field(default_factory=list, max_length=MAX_ADDRESSES)
    cc: list[AddressText] = Field(
        default_factory=list, max_length=MAX_ADDRESSES, description="Written as a Cc header."
    )
    bcc: list[AddressText] = Field(
        default_factory=list,
        max_length=MAX_ADDRESSES,
        description="Recipients only: never written into the message.",
    )
    reply_to: AddressText | None = None
    subject: str | None = Field(default=None, max_length=2000, description="Default: empty.")
    text: str | None = Field(default=None, description="The plain-text body (UTF-8).")
    html: str | None = Field(default=None, description="The HTML body (UTF-8).")
    headers: dict[str, str] = Field(
        default_factory=dict,
        max_length=100,
        description='Extra headers by name, e.g. `{"X-Campaign": "spring"}`.',
    )
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=100)
    lane: str | None = Field(
        default=None,
        max_length=64,
        description="The lane to send in; default: the API key's first lane.",
        examples=["transactional"],
    )
    not_before: AwareDatetime | None = Field(
        default=None,
        description="Send no earlier than this (ISO 8601 with a zone); it waits as `held`.",
        examples=["2026-12-01T08:00:00+01:00"],
    )
    send_window: str | None = Field(
        default=None,
        max_length=128,
        description='Send only inside this window, e.g. "mon-fri 08:00-18:00 Europe/Paris" '
        "(zone optional; default [pacing] timezone); outside it, deliveries wait as `held`.",
        examples=["08:00-18:00"],
    )
    tags: list[Tag] = Field(default_factory=list, max_length=20, description="Stored with it.")
    metadata: dict[MetaKey, MetaValue] = Field(
        default_factory=dict, max_length=50, description="Stored with it (string values)."
    )
    raw: str | None = Field(
        default=None,
        description="A complete RFC 5322 message as text (sent as UTF-8); needs `envelope`.",
    )
    raw_base64: str | None = Field(
        default=None,
        description="Like `raw`, base64-encoded (for messages that are not UTF-8 text).",
    )
    envelope: EnvelopeIn | None = Field(default=None, description="Required with `raw`.")


class BatchIn(BaseModel):
    """Up to `[http] batch_limit` messages. Each is validated on its own and answered
    in `results` at its index; the valid ones are queued together, in one commit."""

    model_config = ConfigDict(extra="forbid", title="Batch")

    messages: list[MessageIn] = Field(min_length=1, max_length=MAX_BATCH_SCHEMA)


class BatchShape(BaseModel):
    """What the batch route validates up front: the items come later, one by one."""

    model_config = ConfigDict(extra="forbid")

    messages: list[Any] = Field(min_length=1)
