"""Simulated SMTP relays on loopback, good and bad, for tests and `relaylane demo`."""

from relaylane.sim.behaviour import Behaviour, Received
from relaylane.sim.relay import SimRelay, TlsMode, refusing_port

__all__ = ["Behaviour", "Received", "SimRelay", "TlsMode", "refusing_port"]
