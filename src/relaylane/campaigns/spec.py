"""What every delivery of a campaign shares, stored once, and one contact's message.

When a campaign starts, its fixed parts (the template version's source, From, Reply-To,
list, tracking) are written as JSON into the body of one `messages` row; each delivery
then holds only its contact id and its own header lines (Message-ID, Date, To,
Feedback-ID). At send time the worker renders the contact's message from the two:
`personalize`. So a 1,000,000-recipient campaign stores its template once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

from relaylane.campaigns.render import CompiledTemplate, Template, compile_template
from relaylane.delivery.compose import compose_letter, letterhead

SPEC_VERSION = 1
SPEC_MAGIC = b'{"relaylane_campaign":'  # how a stored body is recognised as a spec


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    campaign_id: int
    campaign: str
    template: Template
    from_header: str
    reply_to: str | None
    list_name: str
    strategy: str
    tracking: bool

    def to_bytes(self) -> bytes:
        data = asdict(self)
        return json.dumps({"relaylane_campaign": SPEC_VERSION, **data}).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> CampaignSpec:
        data = json.loads(raw)
        if data.pop("relaylane_campaign", None) != SPEC_VERSION:
            raise ValueError("not a relaylane campaign spec of this version")
        data["template"] = Template(**data["template"])
        return cls(**data)


def is_spec(body: bytes) -> bool:
    return body.startswith(SPEC_MAGIC)


def contact_fields(email: str, attributes: Mapping[str, object]) -> dict[str, object]:
    """A contact's template variables: its attributes, and `email` (which wins)."""
    return {**attributes, "email": email}


class Personalizer:
    """One campaign's compiled template and fixed headers; renders a contact's message."""

    def __init__(self, spec: CampaignSpec) -> None:
        self.spec = spec
        self.compiled: CompiledTemplate = compile_template(spec.template)
        self.head = letterhead(spec.from_header, spec.reply_to)

    def message(
        self, fields: Mapping[str, object], html_hook: Callable[[str], str] | None = None
    ) -> bytes:
        """The stored-body bytes for one contact (From ... MIME parts, no per-delivery
        lines). `html_hook` rewrites the rendered HTML (tracking). Raises RenderError."""
        rendered = self.compiled.render(fields)
        html = html_hook(rendered.html) if html_hook is not None else rendered.html
        return compose_letter(self.head, rendered.subject, rendered.text, html)
