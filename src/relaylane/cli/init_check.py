"""`relaylane init` and `relaylane check`."""

from __future__ import annotations

from pathlib import Path

import typer

from relaylane.cli.common import ConfigOption, JsonOption, console, load, print_json, user_errors
from relaylane.config import write_starter


def init(
    path: Path = typer.Argument(Path("relaylane.toml"), help="Where to write the starter file."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented starter relaylane.toml."""
    with user_errors():
        write_starter(path, force=force)
    console.print(f"wrote {path}; edit it, then run [bold]relaylane check[/]")


def check(config: Path | None = ConfigOption, json: bool = JsonOption) -> None:
    """Validate the configuration; exit 1 with every problem named."""
    with user_errors():
        cfg = load(config)
    if json:
        print_json(
            {
                "ok": True,
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
