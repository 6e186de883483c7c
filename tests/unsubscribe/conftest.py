"""The running-API fixtures of tests/api, for the /u/{token} tests."""

from tests.api.conftest import api, start_api

__all__ = ["api", "start_api"]
