"""The web dashboard served by `relaylane serve` at `/`.

It reads the same reports as the CLI and the API (`relaylane.reports`, the store's reads)
and has no logic of its own. `session` holds the pure parts of its login (signed session
cookie, CSRF tokens), `web` what every page shares, and one module per page its routes.
"""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["routers"]


def routers() -> list[APIRouter]:
    """Every page's router, in the order the navigation lists them."""
    from relaylane.dashboard import (
        audit,
        auth_pages,
        campaigns,
        doctor,
        lanes,
        messages,
        overview,
        relays,
        suppressions,
    )

    pages = (auth_pages, overview, lanes, relays, campaigns, messages, suppressions, doctor, audit)
    return [page.router for page in pages]
