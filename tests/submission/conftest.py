"""Fixtures: a submission server on loopback over a store (SQLite, or both stores)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme

from relaylane.intake.committer import IntakeStore
from tests.submission.rig import PASSWORD, Rig, config_data, make_config, quick_hash, start_rig

RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture(scope="session")
def password_hash() -> str:
    return quick_hash(PASSWORD)


@pytest.fixture
def tls_files(tls_ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost from the session CA, and its key."""
    cert = tls_ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(cert_path)
    cert.private_key_pem.write_to_path(key_path)
    return cert_path, key_path


@pytest.fixture
async def make_rig(
    tmp_path: Path,
    tls_files: tuple[Path, Path],
    tls_client_context: ssl.SSLContext,
    password_hash: str,
) -> AsyncIterator[RigFactory]:
    """Start a rig: `await make_rig(store_url=None, intake=None, intake_store=None,
    **submission)`; SQLite in tmp_path unless a store URL is given."""
    rigs: list[Rig] = []

    async def make(
        store_url: str | None = None,
        *,
        intake: dict[str, Any] | None = None,
        intake_store: IntakeStore | None = None,
        **submission: Any,
    ) -> Rig:
        url = store_url or f"sqlite:///{tmp_path / 'submission.db'}"
        data = config_data(url, tls_files, **submission)
        if intake is not None:
            data["intake"] = intake
        config = make_config(data, tmp_path)
        rig = await start_rig(config, password_hash, tls_client_context, intake=intake_store)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        await rig.close()


@pytest.fixture
async def rig(make_rig: RigFactory, store_url: str) -> Rig:
    """A rig on each store (SQLite and PostgreSQL)."""
    return await make_rig(store_url)


@pytest.fixture
async def lite(make_rig: RigFactory) -> Rig:
    """A rig on SQLite only: for protocol behaviour that does not depend on the store."""
    return await make_rig()
