"""Pacing as pure policy: how fast, how much and when mail may leave each path.

- `bucket`: token buckets for message rates (per relay, per relay × provider);
- `caps`: hourly and daily caps, with hours and days in a configurable time zone;
- `warmup`: warm-up schedules per path that advance only on volume actually sent;
- `aimd`: adaptive backoff from reply text (slow or suspend, additive recovery);
- `windows`: send windows ("mon-fri 08:00-18:00") and not-before times;
- `providers`: which provider a recipient domain belongs to;
- `plan` / `simulate`: forecast when N deliveries finish, checked against a simulation.

Nothing here does I/O or reads a clock: time is float seconds since the epoch, passed in.
"""
