"""Signed messages survive a real SMTP hop (aiosmtplib -> SimRelay) and still verify."""

from __future__ import annotations

from collections.abc import Callable

import aiosmtplib
import pytest

from relaylane.dkim import DkimSigner
from relaylane.sim import Behaviour, SimRelay
from tests.dkim.helpers import DOMAIN, MESSAGES, all_verify, keys_for, sign

CASES = ("plain", "multipart", "8bit-qp", "8bit-base64", "utf8-headers")


@pytest.mark.parametrize("name", CASES)
async def test_signed_message_verifies_after_the_relay(name: str) -> None:
    build: Callable[[], bytes] = MESSAGES[name]
    message = sign(build(), DkimSigner(DOMAIN, keys_for(("rsa", "ed25519"))))
    async with SimRelay(Behaviour()) as relay:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=relay.port, timeout=5)
        async with client:
            await client.sendmail("no-reply@example.com", ["bob@example.org"], message)
        assert len(relay.received) == 1
        data = relay.received[0].data
    assert data == message  # byte for byte
    assert all_verify(data, 2) == [True, True]
