"""Open and click tracking of campaign messages (issue 8).

- `links`: the signed open-pixel and click URLs (pure).
- `rewrite`: `add_tracking`, which wraps a message's links and adds the pixel (pure).
- `relaylane.store.tracking.SqlTracking`: the recorded events and their counts.
- `relaylane.api.routes_tracking`: `GET /t/o/{token}.gif` and `GET /t/c/{token}`.

See docs/tracking.md.
"""

from __future__ import annotations

from enum import StrEnum

from relaylane.tracking.links import TrackingLinks, target_url, verify_click, verify_open
from relaylane.tracking.rewrite import add_tracking


class TrackingKind(StrEnum):
    """The values of `tracking_events.kind`."""

    OPEN = "open"  # the open pixel was fetched (by a person, or by an image proxy)
    CLICK = "click"  # a wrapped link was followed (by a person, or by a link scanner)


__all__ = [
    "TrackingKind",
    "TrackingLinks",
    "add_tracking",
    "target_url",
    "verify_click",
    "verify_open",
]
