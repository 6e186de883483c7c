"""Pure policy: plain functions over data and an injected clock; no I/O."""
