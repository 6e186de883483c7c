"""Running the asyncio side of relaylane: on uvloop, a faster drop-in event loop.

uvloop cuts the per-message cost of the event loop by about a quarter on the send
path (measured in bench/); plain asyncio is used where uvloop is unavailable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(main)
    return uvloop.run(main)
