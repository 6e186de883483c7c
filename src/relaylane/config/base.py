"""What every configuration model shares: strictness and a few small checks."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """A configuration table: unknown keys are errors, values never change after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1: traffic that never leaves the machine."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
