"""`relaylane dkim keygen | rotate | status`: signing keys and their DNS records."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import typer
from rich.markup import escape
from rich.table import Table

from relaylane.cli.common import (
    ConfigOption,
    JsonOption,
    console,
    load,
    print_json,
    store_for,
    user_errors,
)
from relaylane.config import Config
from relaylane.config.base import domain_name
from relaylane.dkim import dns_txt_value, generate_key, load_signing_key, write_private_key
from relaylane.dkim.rotation import Rotation, RotationState, effective_selectors
from relaylane.errors import InputError

app = typer.Typer(help="DKIM keys: make them, rotate them, print their DNS records.")
KeyType = Literal["rsa", "ed25519"]
TYPE_OPTION = typer.Option("rsa", "--type", help="rsa (RSA-2048, always needed) or ed25519.")


@app.command("keygen")
def keygen(
    domain: str = typer.Argument(..., help="The signing domain, e.g. news.acme.test."),
    selector: str = typer.Option(..., "--selector", "-s", help="The selector, e.g. rl2026a."),
    key_type: str = TYPE_OPTION,
    out: Path | None = typer.Option(
        None, "--out", help="Key file (default keys/DOMAIN-SELECTOR.pem)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing key file."),
) -> None:
    """Write a new private key (mode 0600) and print the TXT record to publish."""
    with user_errors():
        name = _domain(domain)
        kind = _kind(key_type)
        path = out or Path("keys") / f"{name}-{selector}.pem"
        txt = _make_key(path, selector, kind, force)
    _print_record(name, selector, txt, path)


@app.command("rotate")
def rotate(
    domain: str = typer.Argument(..., help="A domain with dkim keys in relaylane.toml."),
    key_type: str = TYPE_OPTION,
    selector: str | None = typer.Option(
        None, "--selector", "-s", help="Default: rlYYYYMMDD + a/e."
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Add a new key. relaylane keeps signing with the old selector until `relaylane
    doctor` sees the new record published, then switches; keep the old record published
    7 days after the switch (doctor reminds you)."""
    with user_errors():
        cfg = load(config)
        name = _domain(domain)
        kind = _kind(key_type)
        with store_for(cfg) as store:
            old = _current_selector(cfg, store.rotations.list(name), name, kind)
            new = selector or _default_selector(kind)
            path = cfg.source_path.parent / "keys" / f"{name}-{new}.pem"
            txt = _make_key(path, new, kind, force=False)
            store.rotations.add(name, kind, old, new, str(path), time.time())
    _print_record(name, new, txt, path)
    console.print(
        f"relaylane signs with {old or 'nothing'} until `relaylane doctor` finds this record; "
        "run doctor after publishing it (it is safe in cron)",
        highlight=False,
    )


@app.command("status")
def status(as_json: bool = JsonOption, config: Path | None = ConfigOption) -> None:
    """The signing selectors of each domain now, and every rotation."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            rotations = store.rotations.list()
    signing = {
        name: [
            s
            for s, _ in effective_selectors(
                [(k.selector, str(k.key_file)) for k in d.dkim],
                [r for r in rotations if r.domain == name],
            )
        ]
        for name, d in cfg.domain.items()
        if d.dkim
    }
    if as_json:
        print_json({"signing": signing, "rotations": rotations})
        return
    for name, selectors in sorted(signing.items()):
        console.print(f"{escape(name)}: signs with {', '.join(selectors)}", highlight=False)
    table = Table("domain", "kind", "from", "to", "state", "since")
    for r in rotations:
        since = r.switched_at or r.created_at
        table.add_row(r.domain, r.kind, r.old_selector or "-", r.new_selector, r.state.value,
                      datetime.fromtimestamp(since, UTC).strftime("%Y-%m-%d %H:%M"))  # fmt: skip
    if rotations:
        console.print(table)


def _make_key(path: Path, selector: str, kind: KeyType, force: bool) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_private_key(path, generate_key(kind), force=force)
    except FileExistsError as exc:
        raise InputError("--out", str(exc), "choose another path, or pass --force") from None
    return dns_txt_value(load_signing_key(path, selector))


def _print_record(domain: str, selector: str, txt: str, path: Path) -> None:
    chunks = " ".join(f'"{txt[i : i + 255]}"' for i in range(0, len(txt), 255))
    console.print(f"wrote {path} (mode 0600; never share it)", highlight=False)
    console.print("publish this DNS record:", highlight=False)
    console.print(
        f"{selector}._domainkey.{domain}. IN TXT {chunks}", highlight=False, soft_wrap=True
    )
    snippet = f'[domain."{domain}"] dkim = [ {{ selector = "{selector}", key_file = "{path}" }} ]'
    console.print(f"relaylane.toml: {escape(snippet)}", highlight=False, soft_wrap=True)


def _current_selector(
    cfg: Config, rotations: Sequence[Rotation], name: str, kind: str
) -> str | None:
    if any(r.state is RotationState.PENDING and r.kind == kind for r in rotations):
        raise InputError(
            "DOMAIN",
            f"a {kind} rotation for {name} is already waiting for its DNS record",
            "publish that record and run `relaylane doctor`, then rotate again",
        )
    domain = cfg.domain.get(name)
    if domain is None or not domain.dkim:
        raise InputError(
            "DOMAIN",
            f"{name} has no dkim keys in {cfg.source_path}",
            f'add [domain."{name}"] dkim = [...] first (`relaylane dkim keygen {name} -s NAME`)',
        )
    pairs = [(k.selector, str(k.key_file)) for k in domain.dkim]
    kinds: dict[str, str] = {k.selector: k.signing_key().kind for k in domain.dkim}
    kinds.update({r.new_selector: r.kind for r in rotations})
    for selector, _ in effective_selectors(pairs, rotations):
        if kinds.get(selector) == kind:
            return selector
    return None


def _default_selector(kind: KeyType) -> str:
    return time.strftime("rl%Y%m%d") + ("a" if kind == "rsa" else "e")


def _domain(value: str) -> str:
    try:
        return domain_name(value)
    except ValueError as exc:
        raise InputError(
            "DOMAIN", f"{value!r} is not a domain name", "e.g. news.acme.test"
        ) from exc


def _kind(value: str) -> KeyType:
    if value == "rsa":
        return "rsa"
    if value == "ed25519":
        return "ed25519"
    raise InputError("--type", f"{value!r} is not a key type", "use rsa or ed25519")
