"""Read-only reports shared by the CLI (`--json`), the API and the dashboard: JSON-ready
views of the store's state and statistics. They read and summarise; the decisions are
policy's, so the dashboard has no logic of its own."""
