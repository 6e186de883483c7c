"""`relaylane check` warns when bulk mail cannot carry one-click unsubscribe."""

from __future__ import annotations

from pathlib import Path

from tests.cli_run import as_json, one_relay_config


def warnings_for(tmp_path: Path, purpose: str, http: str = "") -> list[str]:
    path = Path(one_relay_config(tmp_path, "sqlite:///x.db", "news", purpose))
    if http:
        path.write_text(path.read_text() + f"\n[http]\n{http}\n")
    found: list[str] = as_json("check", "--config", str(path))["warnings"]
    return [w for w in found if "public_url" in w]


def test_a_marketing_lane_without_an_https_public_url_is_warned_about(tmp_path: Path) -> None:
    [unset] = warnings_for(tmp_path, "marketing")
    assert unset.startswith("[http] public_url is not set: one-click unsubscribe (RFC 8058)")
    assert "needs an https public_url" in unset and "mailto-only" in unset and "news" in unset
    [plain] = warnings_for(tmp_path, "outreach", 'public_url = "http://mail.acme.test"')
    assert "'http://mail.acme.test' is not https" in plain


def test_no_warning_with_https_or_without_bulk_lanes(tmp_path: Path) -> None:
    assert warnings_for(tmp_path, "marketing", 'public_url = "https://mail.acme.test"') == []
    assert warnings_for(tmp_path, "transactional") == []
