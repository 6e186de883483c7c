"""The dashboard runs inside the API app: its tests use the API's fixtures, and the
browser tests Debian's Chromium (`tests/dashboard/browser.py`)."""

from tests.api.conftest import api, start_api
from tests.dashboard.browser import browser

__all__ = ["api", "browser", "start_api"]
