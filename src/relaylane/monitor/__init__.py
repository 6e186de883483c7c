"""Events out: what relaylane counts and how it shows it.

The metric vocabulary, the worker's per-minute tallies and the rates over them
(`metrics`, `tally`, `rates`); in-process fixed-bucket histograms (`histogram`); the
Prometheus exposition read at scrape time (`prometheus`, `gauges`, `endpoint`); and
structured logs with secret redaction (`logs`, `redact`).
"""
