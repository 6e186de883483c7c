"""The benchmark suite's bookkeeping: medians, per-run ratios, targets, the README table."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def suite() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("suite")
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def readme() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module("readme")
    finally:
        sys.path.remove(str(BENCH))


def runs(*pairs: tuple[float, float]) -> list[dict[str, object]]:
    return [
        {"relaylane": {"msgs_per_sec": a}, "postfix": {"msgs_per_sec": b}, "ratio": a / b}
        for a, b in pairs
    ]


def test_the_ratio_is_the_median_of_per_run_ratios(suite: ModuleType) -> None:
    bench = next(b for b in suite.BENCHES if b.name == "e2e")
    # run 2 was a slow minute for both: its ratio still counts as measured
    line = suite.summarize(bench, runs((3000, 1000), (1000, 500), (2400, 1000)), {})[0]
    assert line["relaylane"] == 2400
    assert line["postfix"] == 1000
    assert line["ratio_runs"] == [3.0, 2.0, 2.4]
    assert line["ratio"] == 2.4
    assert line["met"] is False  # target >= 2.5x
    line = suite.summarize(bench, runs((3000, 1000), (2600, 1000), (2400, 1000)), {})[0]
    assert line["met"] is True


def test_a_lower_is_better_target_and_a_missing_run(suite: ModuleType) -> None:
    bench = next(b for b in suite.BENCHES if b.name == "campaign")
    results = [
        {"relaylane": {"peak_rss_mb": 120.0, "bytes_per_recipient": 700.0}},
        {"relaylane": {"peak_rss_mb": 320.0}},  # this run lost its store figure
        {"relaylane": {"peak_rss_mb": 110.0, "bytes_per_recipient": 1100.0}},
    ]
    lines = {line["figure"]: line for line in suite.summarize(bench, results, {})}
    assert lines["campaign.peak_rss_mb"]["relaylane"] == 120.0
    assert lines["campaign.peak_rss_mb"]["met"] is True
    store = lines["campaign.store_bytes_per_recipient"]
    assert store["runs"] == 2 and store["relaylane"] == 900.0 and store["met"] is True
    assert lines["campaign.msgs_per_sec"]["met"] is False  # no figure is not a pass


def test_the_readme_section_is_replaced_and_lists_every_run(
    suite: ModuleType, readme: ModuleType, tmp_path: Path
) -> None:
    bench = next(b for b in suite.BENCHES if b.name == "e2e")
    meta = {"date": "2026-11-29T05:00Z", "commit": "abc1234", "cpus": 2, "python": "3.11.7"}
    lines = suite.summarize(bench, runs((3000, 1000), (2600, 1000), (2400, 1000)), meta)
    results = tmp_path / "latest.jsonl"
    results.write_text("".join(json.dumps(line) + "\n" for line in lines))
    page = tmp_path / "README.md"
    page.write_text("intro\n<!-- bench:begin -->\nold table\n<!-- bench:end -->\nafter\n")
    argv = ["readme.py", "--results", str(results), "--readme", str(page)]
    monkey = pytest.MonkeyPatch()
    monkey.setattr(sys, "argv", argv)
    try:
        assert readme.main() == 0
    finally:
        monkey.undo()
    text = page.read_text()
    assert "old table" not in text and text.startswith("intro\n") and text.endswith("after\n")
    assert "| 2,600 msg/s | 1,000 msg/s | 2.60× | ≥ 2.5× | yes |" in text
    assert "relaylane 3,000, 2,600, 2,400; Postfix 1,000, 1,000, 1,000" in text
    assert "commit `abc1234`" in text


def test_the_readme_of_the_project_has_the_generated_section(readme: ModuleType) -> None:
    text = (BENCH.parent / "README.md").read_text()
    assert text.count(readme.BEGIN) == 1 and text.count(readme.END) == 1


def test_a_partial_run_replaces_only_its_own_figures(
    suite: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(suite, "RESULTS", tmp_path)
    e2e = next(b for b in suite.BENCHES if b.name == "e2e")
    dkim = next(b for b in suite.BENCHES if b.name == "dkim")
    old = suite.summarize(e2e, runs((3000, 1000)), {"date": "old"})
    sig = suite.summarize(dkim, [{"cpu_ms_per_message": {suite.DKIM_ROW: 0.25}}], {"date": "old"})
    suite.save(sig + old)
    new = suite.summarize(e2e, runs((2000, 1000)), {"date": "new"})
    suite.save(new)
    latest = [json.loads(t) for t in (tmp_path / "latest.jsonl").read_text().splitlines()]
    assert [(x["figure"], x["date"]) for x in latest] == [
        ("e2e.msgs_per_sec", "new"),
        ("dkim.cpu_ms_per_signature", "old"),
        ("dkim.openssl_floor_ms", "old"),
    ]
    history = (tmp_path / "history.jsonl").read_text().splitlines()
    assert len(history) == 4
