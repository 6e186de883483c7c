"""The dashboard runs inside the API app: its tests use the API's fixtures."""

from tests.api.conftest import api, start_api

__all__ = ["api", "start_api"]
