"""`relaylane demo`: the main job on embedded defaults, with simulated relays."""

from __future__ import annotations

from pathlib import Path

import typer

from relaylane.cli.common import JsonOption, console, print_json, user_errors
from relaylane.demo.run import demo_main


def demo(
    quick: bool = typer.Option(False, "--quick", help="A smaller mix (a few seconds)."),
    keep: Path | None = typer.Option(
        None, "--keep", help="Keep the demo's database in this directory to inspect it."
    ),
    json: bool = JsonOption,
) -> None:
    """Run the main job end to end on loopback relays: three lanes, failover, throttling."""
    with user_errors():
        summary = demo_main(quick, keep, None if json else console)
    if json:
        print_json(summary)
