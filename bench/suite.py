"""bench/suite: every benchmark of the performance table, several runs each, one table.

Runs each benchmark script below `--runs` times (3 by default), in rounds (all of them
once, then all again) so that a slow minute of a shared machine does not fall on one
benchmark's every run. Each script reports relaylane and Postfix from the SAME run; a
ratio is taken per run and the table shows the median of those ratios, with the median
of each side beside it.

Output:
- a table on stdout (figure, relaylane, Postfix, ratio, target, met);
- one machine-readable line per figure, `BENCH {json}`, on stdout and in
  `bench/results/latest.jsonl` (replaced each run) and `bench/results/history.jsonl`
  (appended), so figures can be compared over time;
- `bench/readme.py` turns latest.jsonl into the README's performance section.

    python bench/suite.py [--runs 3] [--only e2e,campaign,...] [--quick]

`--quick` runs each benchmark once at a tenth of its volume: a smoke test of the harness,
not figures to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
PY = sys.executable

Result = dict[str, Any]
Pick = Callable[[Result], float | None]


def at(*path: str) -> Pick:
    """A picker for result[path[0]][path[1]]...; None when a key is missing."""

    def pick(result: Result) -> float | None:
        value: Any = result
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return None if value is None else float(value)

    return pick


@dataclass(frozen=True)
class Figure:
    """One row of the table."""

    name: str  # machine name, e.g. "e2e.msgs_per_sec"
    label: str  # what the row measures, for people
    unit: str
    ours: Pick
    peer: Pick | None = None  # Postfix's figure from the same run
    ratio: Pick | None = None  # per-run ratio (ours / peer), when the target is a ratio
    target: str = ""  # e.g. ">= 2.5x", "<= 0.3", "" for context only
    higher_is_better: bool = True

    def met(self, ours: float | None, ratio: float | None) -> bool | None:
        if not self.target:
            return None
        op, _, number = self.target.partition(" ")
        value = ratio if number.endswith("x") else ours
        if value is None:
            return False
        limit = float(number.rstrip("x"))
        return {">=": value >= limit, "<=": value <= limit, "<": value < limit}[op]


@dataclass(frozen=True)
class Bench:
    name: str
    args: list[str]  # the script and its arguments (--json is added)
    quick: list[str]  # arguments for --quick
    figures: list[Figure] = field(default_factory=list)
    timeout: float = 1800


def ratio_of(ours: Pick, peer: Pick) -> Pick:
    def pick(result: Result) -> float | None:
        a, b = ours(result), peer(result)
        return None if a is None or not b else a / b

    return pick


DKIM_ROW = "relaylane RSA-2048, body hash every message"

BENCHES = [
    Bench(
        "e2e",
        ["throughput.py", "--no-dkim", "--messages", "20000"],
        ["throughput.py", "--no-dkim", "--messages", "2000"],
        [
            Figure(
                "e2e.msgs_per_sec",
                "end to end, 20,000 × 4 KB, one lane over 4 relays, no DKIM",
                "msg/s",
                at("relaylane", "msgs_per_sec"),
                at("postfix", "msgs_per_sec"),
                at("ratio"),
                ">= 2.5x",
            ),
        ],
    ),
    Bench(
        "campaign",
        ["campaign.py", "--contacts", "100000"],
        ["campaign.py", "--contacts", "10000"],
        [
            Figure(
                "campaign.msgs_per_sec",
                "campaign, 100,000 contacts, personalized, tracked, DKIM RSA-2048, "
                "4 relays, 1 worker process",
                "msg/s",
                at("relaylane", "msgs_per_sec"),
                at("postfix", "msgs_per_sec"),
                at("ratio"),
                ">= 2x",
            ),
            Figure(
                "campaign.peak_rss_mb",
                "peak RSS of the worker process during the campaign",
                "MB",
                at("relaylane", "peak_rss_mb"),
                target="< 300",
                higher_is_better=False,
            ),
            Figure(
                "campaign.store_bytes_per_recipient",
                "store growth per recipient after the campaign (checkpointed, indexes included)",
                "B",
                at("relaylane", "bytes_per_recipient"),
                target="< 1024",
                higher_is_better=False,
            ),
        ],
        timeout=3600,
    ),
    Bench(
        "intake",
        ["intake.py", "--messages", "20000"],
        ["intake.py", "--messages", "2000"],
        [
            Figure(
                "intake.smtp_msgs_per_sec",
                "SMTP intake, 10 sessions, STARTTLS + AUTH, 4 KB, 250 after fsync; Postfix "
                "smtpd fed by smtp-source",
                "msg/s",
                at("relaylane_smtp"),
                at("postfix_smtpd_smtp_source"),
                ratio_of(at("relaylane_smtp"), at("postfix_smtpd_smtp_source")),
                ">= 1x",
            ),
            Figure(
                "intake.smtp_same_client_msgs_per_sec",
                "SMTP intake as above, Postfix fed by the same Python client (no TLS, no AUTH)",
                "msg/s",
                at("relaylane_smtp"),
                at("postfix_smtpd_same_client"),
                ratio_of(at("relaylane_smtp"), at("postfix_smtpd_same_client")),
            ),
            Figure(
                "intake.api_batch_msgs_per_sec",
                "HTTP intake, batch endpoint (100 per request), 1 KB text, 1 recipient",
                "msg/s",
                at("relaylane_api_batch"),
                target=">= 10000",
            ),
            Figure(
                "intake.api_single_msgs_per_sec",
                "HTTP intake, one message per request, 20 in flight",
                "msg/s",
                at("relaylane_api_single"),
            ),
        ],
    ),
    Bench(
        "latency",
        ["latency.py", "--flood", "20000", "--probes", "40"],
        ["latency.py", "--flood", "2000", "--probes", "10"],
        [
            Figure(
                "latency.p95_ms",
                "transactional p95, submission → accepted at its relay, during a 20,000-message "
                "marketing flood (40 probes)",
                "ms",
                at("relaylane", "p95_ms"),
                at("postfix", "p95_ms"),
                ratio_of(at("relaylane", "p95_ms"), at("postfix", "p95_ms")),
                "<= 1x",
                higher_is_better=False,
            ),
            Figure(
                "latency.p50_ms",
                "transactional p50, same probes",
                "ms",
                at("relaylane", "p50_ms"),
                at("postfix", "p50_ms"),
                ratio_of(at("relaylane", "p50_ms"), at("postfix", "p50_ms")),
                higher_is_better=False,
            ),
            Figure(
                "latency.max_ms",
                "transactional max, same probes",
                "ms",
                at("relaylane", "max_ms"),
                at("postfix", "max_ms"),
                ratio_of(at("relaylane", "max_ms"), at("postfix", "max_ms")),
                higher_is_better=False,
            ),
        ],
    ),
    Bench(
        "dkim",
        ["dkim_signing.py", "--messages", "10000"],
        ["dkim_signing.py", "--messages", "1000", "--dkimpy", "30"],
        [
            Figure(
                "dkim.cpu_ms_per_signature",
                "DKIM RSA-2048, CPU per signature over 10,000 × 4 KB",
                "ms",
                at("cpu_ms_per_message", DKIM_ROW),
                target="<= 0.3",
                higher_is_better=False,
            ),
            Figure(
                "dkim.openssl_floor_ms",
                "the RSA-2048 private-key operation alone (OpenSSL via cryptography), same run",
                "ms",
                at("cpu_ms_per_message", "floor: OpenSSL RSA-2048 sign alone"),
                higher_is_better=False,
            ),
        ],
    ),
]


def run_once(bench: Bench, quick: bool) -> tuple[Result | None, str]:
    """One run of a benchmark script: its JSON answer, or None and why not."""
    args = bench.quick if quick else bench.args
    cmd = [PY, str(HERE / args[0]), *args[1:], "--json"]
    started = time.monotonic()
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=bench.timeout, cwd=ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {bench.timeout:.0f} s"
    took = time.monotonic() - started
    text = done.stdout
    start = text.find("{")
    try:
        result = json.loads(text[start:]) if start >= 0 else None
    except json.JSONDecodeError:
        result = None
    if result is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        return None, f"exit {done.returncode}, no JSON answer: " + " | ".join(tail)
    result["_seconds"] = round(took, 1)
    result["_exit"] = done.returncode
    return result, "" if done.returncode == 0 else f"exit {done.returncode}"


def median(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


def summarize(bench: Bench, runs: list[Result], meta: dict[str, Any]) -> list[dict[str, Any]]:
    lines = []
    for fig in bench.figures:
        ours = [fig.ours(r) for r in runs]
        peer = [fig.peer(r) for r in runs] if fig.peer else []
        ratios = [fig.ratio(r) for r in runs] if fig.ratio else []
        line: dict[str, Any] = {
            "figure": fig.name,
            "label": fig.label,
            "unit": fig.unit,
            "relaylane": _round(median(ours)),
            "postfix": _round(median(peer)) if fig.peer else None,
            "ratio": _round(median(ratios), 3) if fig.ratio else None,
            "target": fig.target,
            "higher_is_better": fig.higher_is_better,
            "runs": len([v for v in ours if v is not None]),
            "relaylane_runs": [_round(v) for v in ours],
            "postfix_runs": [_round(v) for v in peer],
            "ratio_runs": [_round(v, 3) for v in ratios],
            **meta,
        }
        line["met"] = fig.met(median(ours), median(ratios) if fig.ratio else None)
        lines.append(line)
    return lines


def _round(value: float | None, digits: int = 1) -> float | None:
    """`digits` decimals, but at least three significant digits for small values."""
    if value is None:
        return None
    if value and abs(value) < 10:
        digits = max(digits, 3)
    return round(value, digits)


def machine() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ"),
        "commit": commit or "unknown",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def show(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
    return f"{text} {unit}".strip()


def table(lines: list[dict[str, Any]]) -> str:
    rows = [("figure", "relaylane", "Postfix", "ratio", "target", "met", "runs")]
    for line in lines:
        met = {True: "yes", False: "NO", None: ""}[line["met"]]
        ratio = "" if line["ratio"] is None else f"{line['ratio']:.2f}x"
        rows.append(
            (
                line["figure"],
                show(line["relaylane"], line["unit"]),
                show(line["postfix"], line["unit"]) if line["postfix"] is not None else "",
                ratio,
                line["target"],
                met,
                str(line["runs"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        out.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def save(lines: list[dict[str, Any]]) -> None:
    """Replace these figures in latest.jsonl (the others stay, from their own run) and
    append them to history.jsonl."""
    RESULTS.mkdir(exist_ok=True)
    latest = RESULTS / "latest.jsonl"
    fresh = {line["figure"] for line in lines}
    kept = []
    if latest.exists():
        kept = [json.loads(t) for t in latest.read_text().splitlines() if t.strip()]
    order = [f.name for b in BENCHES for f in b.figures]
    merged = [k for k in kept if k["figure"] not in fresh and k["figure"] in order] + lines
    merged.sort(key=lambda line: order.index(line["figure"]))
    latest.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in merged))
    with (RESULTS / "history.jsonl").open("a") as history:
        history.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    print(f"\nwritten: {latest} (and appended to history.jsonl)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join(
        b.name for b in BENCHES))  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="one small run each (smoke test)")
    parser.add_argument("--no-save", action="store_true", help="print only; write no results")
    args = parser.parse_args()
    chosen = [b for b in BENCHES if not args.only or b.name in args.only.split(",")]
    runs = 1 if args.quick else args.runs
    meta = machine() | {"quick": args.quick}
    results: dict[str, list[Result]] = {b.name: [] for b in chosen}
    failures: list[str] = []
    for round_ in range(1, runs + 1):
        for bench in chosen:
            print(f"[round {round_}/{runs}] {bench.name} ...", flush=True)
            result, problem = run_once(bench, args.quick)
            if result is not None:
                results[bench.name].append(result)
            if problem:
                failures.append(f"{bench.name} round {round_}: {problem}")
                print(f"  {problem}", flush=True)
    lines = [line for b in chosen for line in summarize(b, results[b.name], meta)]
    print()
    print(table(lines))
    print()
    for line in lines:
        print("BENCH " + json.dumps(line, ensure_ascii=False))
    if not args.no_save and not args.quick:
        save(lines)
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
