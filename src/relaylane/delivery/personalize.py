"""A campaign delivery's body, rendered at send time from its campaign's stored spec and
its contact: the worker keeps one compiled template per campaign message, and renders
each contact once per claim (a retry renders again: the contact's data may have been
corrected since)."""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from collections.abc import Callable

from relaylane.bounces.tokens import KeyRing
from relaylane.campaigns.spec import CampaignSpec, Personalizer, contact_fields
from relaylane.config.models import Config
from relaylane.records import StoredBody

KEEP_CAMPAIGNS = 32  # compiled campaigns a worker keeps


class CampaignBodies:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._compiled: OrderedDict[int, Personalizer] = OrderedDict()

    def personalizer(self, message_id: int, stored: StoredBody) -> Personalizer:
        found = self._compiled.get(message_id)
        if found is None:
            found = Personalizer(CampaignSpec.from_bytes(stored.body))
            self._compiled[message_id] = found
            while len(self._compiled) > KEEP_CAMPAIGNS:
                self._compiled.popitem(last=False)
        else:
            self._compiled.move_to_end(message_id)
        return found

    def strategy(self, message_id: int, stored: StoredBody) -> str:
        return self.personalizer(message_id, stored).spec.strategy

    def render(
        self,
        message_id: int,
        stored: StoredBody,
        delivery_id: int,
        contact: tuple[str, str],
        ring: KeyRing | None,
    ) -> StoredBody:
        """The contact's own body. Raises RenderError (or ValueError for a broken spec)."""
        p = self.personalizer(message_id, stored)
        email, attributes = contact
        try:
            loaded = json.loads(attributes or "{}")
        except ValueError:
            loaded = {}
        fields = contact_fields(email, loaded if isinstance(loaded, dict) else {})
        hook = self._tracking(p.spec, delivery_id, ring, stored.from_domain)
        return dataclasses.replace(stored, body=p.message(fields, hook))

    def _tracking(
        self, spec: CampaignSpec, delivery_id: int, ring: KeyRing | None, from_domain: str
    ) -> Callable[[str], str] | None:
        if not spec.tracking or ring is None:
            return None
        from relaylane.tracking.links import TrackingLinks
        from relaylane.tracking.rewrite import add_tracking

        links = TrackingLinks(ring, self.config.tracking_base(from_domain))
        return lambda html: add_tracking(html, delivery_id, links)
