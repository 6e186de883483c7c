"""`relaylane stats` as tables (rich): the report document `cli.stats.build_report` made."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table

from relaylane.cli.common import age, console

__all__ = ["percent", "print_report", "seconds_text"]

# (count, label); the first five show even when zero, the others only when counted.
COUNT_ROWS: tuple[tuple[str, str], ...] = (
    ("attempts", "attempts"),
    ("sent", "sent"),
    ("deferred", "deferred"),
    ("blocked", "blocked"),
    ("bounced", "bounced"),
    ("answered", "answered"),
    ("delivered", "delivered"),
    ("failed", "failed"),
    ("suppressed", "suppressed"),
    ("relay_faults", "relay faults"),
    ("conn_failures", "  connection"),
    ("tls_failures", "  TLS"),
    ("auth_failures", "  AUTH"),
    ("throttled", "  throttled"),
    ("relay_config", "  relay config"),
    ("complaints", "complaints"),
    ("unsubscribes", "unsubscribes"),
    ("opens", "opens"),
    ("opens_machine", "opens (machines)"),
    ("clicks", "clicks"),
    ("clicks_scanner", "clicks (scanners)"),
)
ALWAYS_SHOWN = 5
RATE_ROWS: tuple[tuple[str, str], ...] = (
    ("block_rate", "block rate"),
    ("deferral_rate", "deferral rate"),
    ("bounce_rate", "bounce rate"),
    ("relay_fault_rate", "relay fault rate"),
    ("throttle_rate", "throttle rate"),
    ("delivered_rate", "delivered rate"),
    ("complaint_rate", "complaint rate"),
    ("unsubscribe_rate", "unsubscribe rate"),
    ("open_rate", "open rate"),
    ("click_rate", "click rate"),
)
RATES_SHOWN = 3  # block, deferral and bounce rates always show, the others when not 0
LATENCY_ROWS = (("p50", "latency p50"), ("p95", "latency p95"), ("p99", "latency p99"))
STATES = ("queued", "sending", "deferred", "blocked", "held")


def percent(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def seconds_text(value: float | None) -> str:
    """A latency for people: "120ms", "4.2s", "12m", "3.1h"."""
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 120:
        return f"{value:.1f}s"
    return age(value)


def _title(report: dict[str, Any]) -> str:
    f = report["filters"]
    parts = [f"relay {f['relay']}" if f["relay"] else "all relays"]
    parts += [f"{key} {f[key]}" for key in ("lane", "provider", "campaign") if f[key]]
    return f"relaylane stats: {', '.join(parts)}, last {report['since']}"


def _windows_table(report: dict[str, Any]) -> Table:
    windows: dict[str, Any] = report["windows"]
    table = Table(title=escape(_title(report)), caption=f"* the asked window ({report['since']})")
    table.add_column("")
    for name in windows:
        table.add_column(f"{name}*" if name == report["since"] else name, justify="right")
    for index, (key, label) in enumerate(COUNT_ROWS):
        values = [w["counts"][key] for w in windows.values()]
        if index < ALWAYS_SHOWN or any(values):
            table.add_row(label, *[f"{v:,}" for v in values])
    table.add_section()
    for index, (key, label) in enumerate(RATE_ROWS):
        rates = [w["rates"][key] for w in windows.values()]
        if index < RATES_SHOWN or any(rates):
            table.add_row(label, *[percent(r) for r in rates])
    table.add_section()
    for key, label in LATENCY_ROWS:
        table.add_row(label, *[seconds_text(w["latency"][key]) for w in windows.values()])
    return table


def _groups_table(title: str, first: str, groups: dict[str, Any]) -> Table:
    """Counts and the main rates (per answered attempt) per provider or relay."""
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column(first, no_wrap=True)
    for name in ("attempts", "sent", "complaints", "block", "deferral", "bounce", "p95"):
        table.add_column(name, justify="right", no_wrap=True)
    for key, summary in groups.items():
        counts, rates = summary["counts"], summary["rates"]
        table.add_row(
            escape(key or "(none)"),
            *[f"{counts[c]:,}" for c in ("attempts", "sent", "complaints")],
            *[percent(rates[r], 1) for r in ("block_rate", "deferral_rate", "bounce_rate")],
            seconds_text(summary["latency"]["p95"]),
        )
    return table


def _bounces_table(since: str, bounces: dict[str, int]) -> Table:
    table = Table(title=f"bounces by class, last {since}")
    table.add_column("class")
    table.add_column("bounced", justify="right")
    for name, n in sorted(bounces.items(), key=lambda item: -item[1]):
        table.add_row(name, f"{n:,}")
    return table


def _queue_table(lanes: Sequence[dict[str, Any]]) -> Table:
    table = Table(title="queue now (not yet final)", box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("lane", no_wrap=True)
    for name in ("depth", *STATES, "oldest"):
        table.add_column(name, justify="right", no_wrap=True)
    for lane in lanes:
        by_state = lane["by_state"]
        table.add_row(
            escape(lane["lane"]),
            f"{lane['depth']:,}",
            *[f"{by_state.get(s, 0):,}" for s in STATES],
            age(lane["oldest_age"]),
        )
    return table


def print_report(report: dict[str, Any]) -> None:
    since = report["since"]
    console.print(_windows_table(report))
    if report["window"]["bounces"]:
        console.print(_bounces_table(since, report["window"]["bounces"]))
    if report["by_provider"]:
        title = f"by provider, last {since}"
        console.print(_groups_table(title, "provider", report["by_provider"]))
    if report["by_relay"] and not report["filters"]["relay"]:
        console.print(_groups_table(f"by relay, last {since}", "relay", report["by_relay"]))
    if report["queue"]:
        console.print(_queue_table(report["queue"]))
    else:
        console.print("queue: nothing waits in these lanes", highlight=False)
    if not any(report["window"]["counts"].values()):
        console.print(
            f"no metrics recorded in the last {since} for this selection", highlight=False
        )
