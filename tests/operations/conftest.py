"""Operations tests drive the CLI, the API and the dashboard: the API's fixtures."""

from tests.api.conftest import api, start_api

__all__ = ["api", "start_api"]
