"""Random bits for identifiers that must be unique, not secret (Message-ID tokens, MIME
boundaries).

One generator per process, seeded from the OS (and again in a forked child, so two
processes never share a sequence). It never releases the GIL: `os.urandom` does, and a
thread that composes a batch of messages then waits for the event loop's thread to hand
the GIL back on every call (the interpreter's switch interval, up to 5 ms), which made a
batch of 100 messages take longer to compose than to commit. Secrets (API keys,
passwords, tracking keys) still come from the `secrets` module.
"""

from __future__ import annotations

import os
import random

_generator = random.Random(os.urandom(32))


def _reseed() -> None:
    _generator.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)


def random_bits(bits: int) -> int:
    """A non-negative integer of `bits` uniformly random bits."""
    return _generator.getrandbits(bits)


def random_below(bound: int) -> int:
    """A uniformly random integer in [0, bound)."""
    return _generator.randrange(bound)
