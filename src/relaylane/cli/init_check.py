"""`relaylane init` and `relaylane check`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import typer
from rich.markup import escape

from relaylane.cli.common import (
    ConfigOption,
    JsonOption,
    console,
    err_console,
    load,
    print_json,
    user_errors,
)
from relaylane.config import Config, write_starter
from relaylane.unsubscribe.headers_plan import BULK_PURPOSES


def init(
    path: Path = typer.Argument(Path("relaylane.toml"), help="Where to write the starter file."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented starter relaylane.toml, and the DKIM keys it names."""
    with user_errors():
        keys = write_starter(path, force=force)
    for key in keys:
        console.print(f"wrote DKIM key {key} (mode 0600)", highlight=False)
    console.print(
        f"wrote {path}; edit it, then run [bold]relaylane check[/] and "
        "[bold]relaylane doctor[/] (it prints the DNS records to publish)"
    )


def warnings_of(cfg: Config) -> list[str]:
    """What is valid but unsafe: lanes that nothing gates; bulk mail without one-click
    unsubscribe."""
    found = [
        f'lane "{lane.name}" has no from_domains: any From domain is queued, signed or not, '
        "aligned or not; add from_domains = [...] and a [domain] with its DKIM keys "
        "(`relaylane doctor` fails this lane until then)"
        for lane in cfg.lane
        if not lane.from_domains
    ]
    return found + _unsubscribe_warnings(cfg)


def _unsubscribe_warnings(cfg: Config) -> list[str]:
    """Marketing and outreach mail needs an https public_url for one-click unsubscribe."""
    bulk = [lane.name for lane in cfg.lane if lane.purpose in BULK_PURPOSES]
    url = cfg.http.public_url
    if not bulk or (url is not None and urlsplit(url).scheme.lower() == "https"):
        return []
    what = "is not set" if url is None else f"= {url!r} is not https"
    return [
        f"[http] public_url {what}: one-click unsubscribe (RFC 8058) needs an https "
        f"public_url, so mail in lane(s) {', '.join(bulk)} carries a mailto-only "
        "List-Unsubscribe (u-TOKEN@ the return path; none where there is no return path); "
        'set public_url = "https://..." (the name that serves /u/)'
    ]


def check(config: Path | None = ConfigOption, json: bool = JsonOption) -> None:
    """Validate the configuration; exit 1 with every problem named; warn about what is
    valid but unsafe."""
    with user_errors():
        cfg = load(config)
    warnings = warnings_of(cfg)
    if json:
        print_json(
            {
                "ok": True,
                "warnings": warnings,
                "path": str(cfg.source_path),
                "relays": [r.name for r in cfg.relay],
                "lanes": [
                    {
                        "name": lane.name,
                        "purpose": lane.purpose.value,
                        "strategy": lane.strategy.value,
                        "relays": [str(r) for r in lane.relays],
                    }
                    for lane in cfg.lane
                ],
            }
        )
        return
    console.print(
        f"[green]ok[/] {cfg.source_path}: {len(cfg.relay)} relay(s), {len(cfg.lane)} lane(s)"
    )
    for lane in cfg.lanes_by_priority():
        relays = ", ".join(str(r) for r in lane.relays)
        console.print(f"  lane {lane.name} ({lane.purpose.value}, {lane.strategy.value}): {relays}")
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
