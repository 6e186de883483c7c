"""What `relaylane doctor --json` prints and the dashboard's doctor page shows: every
check of `relaylane.doctor.run.run_doctor` with its status, reason and fix, and the
count of each status. JSON-ready; the checks decide, this only arranges them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from relaylane.config import Config
from relaylane.doctor.dns import Resolver
from relaylane.doctor.report import Check, counts
from relaylane.doctor.run import run_doctor

__all__ = ["doctor_json", "doctor_report"]


def doctor_json(checks: Sequence[Check]) -> dict[str, Any]:
    """`{"checks": [{subject, name, status, reason, fix}, ...], "counts": {pass, warn, fail}}`."""
    return {"checks": [c.as_dict() for c in checks], "counts": counts(checks)}


async def doctor_report(
    config: Config,
    resolver: Resolver,
    *,
    engine: sa.Engine | None = None,
    check_relays: bool = True,
    now: float | None = None,
) -> dict[str, Any]:
    """Run every check (as `relaylane doctor` does) and report them as `doctor_json`."""
    checks = await run_doctor(config, resolver, engine=engine, check_relays=check_relays, now=now)
    return doctor_json(checks)
