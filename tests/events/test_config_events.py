"""[events] and [[events.webhook]]: defaults, the hooks they make, and every problem named."""

from __future__ import annotations

from pathlib import Path

from relaylane.config import load_config
from relaylane.events.kinds import EventKind
from tests.test_config import problems_of, the_line, write

SECRET = "0123456789abcdef0123456789abcdef"
BASE = """
[[relay]]
name = "pf"
host = "mx.acme.test"

[[relay]]
name = "bulk"
host = "bulk.acme.test"

[[lane]]
name = "transactional"
purpose = "transactional"
relays = ["pf"]

[[lane]]
name = "marketing"
purpose = "marketing"
relays = ["bulk"]
"""


def webhook(**keys: str) -> str:
    lines = ["[[events.webhook]]"]
    for key, value in keys.items():
        lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def good(**extra: str) -> str:
    keys = {"name": '"app"', "url": '"https://hooks.example/relaylane"', "secret": f'"{SECRET}"'}
    return webhook(**(keys | extra))


def test_no_events_section_means_no_hooks(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE), env={})
    assert not config.events.hooks()
    assert config.events.webhook == ()


def test_defaults_take_every_kind_lane_and_submitter(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE + good()), env={})
    [hook] = config.events.hooks()
    assert hook.name == "app"
    assert hook.url == "https://hooks.example/relaylane"
    assert hook.secret == SECRET.encode()
    assert hook.kinds == frozenset(EventKind)
    assert hook.lanes is None and hook.submitters is None
    assert hook.timeout == 10.0
    assert hook.give_up_after == 3 * 86400.0
    schedule = config.events.retry_schedule()
    assert (schedule.first, schedule.cap) == (5.0, 3600.0)
    assert config.events.concurrency == 8
    assert SECRET not in repr(config.events) and SECRET not in repr(hook)


def test_filters_durations_and_a_secret_file(tmp_path: Path) -> None:
    (tmp_path / "hook.secret").write_text(SECRET + "\n", encoding="utf-8")
    text = (
        BASE
        + '[events]\nconcurrency = 2\nretry_first = "1s"\nretry_cap = "10m"\n'
        + webhook(
            name='"shop"',
            url='"http://127.0.0.1:9000/hook"',
            secret_file='"hook.secret"',
            events='["sent", "bounced"]',
            lanes='["transactional"]',
            submitters='["shop", "key-7"]',
            timeout='"3s"',
            give_up_after='"1h"',
        )
    )
    config = load_config(write(tmp_path, text), env={})
    [hook] = config.events.hooks()
    assert hook.secret == SECRET.encode()  # the trailing newline is not part of it
    assert hook.kinds == {EventKind.SENT, EventKind.BOUNCED}
    assert hook.lanes == {"transactional"}
    assert hook.submitters == {"shop", "key-7"}
    assert (hook.timeout, hook.give_up_after) == (3.0, 3600.0)
    assert config.events.concurrency == 2
    assert config.events.retry_schedule().cap == 600.0


def test_unknown_event_kind_is_named_with_a_suggestion(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, BASE + good(events='["sent", "bounce"]'))
    line = the_line(problems, '"bounce"')
    assert 'webhook "app"' in line
    assert 'did you mean "bounced"?' in line
    assert "relay_state_changed" in line  # the valid kinds are listed


def test_unknown_lane_is_named_with_the_known_ones(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, BASE + good(lanes='["transactionl"]'))
    line = the_line(problems, '"transactionl"')
    assert 'webhook "app"' in line
    assert "known lanes: transactional, marketing" in line
    assert 'did you mean "transactional"?' in line


def test_secret_problems(tmp_path: Path) -> None:
    neither = webhook(name='"app"', url='"https://h.example/x"')
    line = the_line(problems_of(tmp_path, BASE + neither), "exactly one of secret")
    assert "openssl rand" in line
    both = good(secret_file='"s.txt"')
    (tmp_path / "s.txt").write_text(SECRET, encoding="utf-8")
    the_line(problems_of(tmp_path, BASE + both), "exactly one of secret and secret_file")
    short = good(secret='"hunter2"')
    line = the_line(problems_of(tmp_path, BASE + short), "shorter than 16")
    assert "hunter2" not in line  # never echo a secret
    missing = webhook(name='"app"', url='"https://h.example/x"', secret_file='"nope.txt"')
    line = the_line(problems_of(tmp_path, BASE + missing), "secret_file")
    assert "nope.txt" in line and "not a readable" in line


def test_url_name_and_empty_lists(tmp_path: Path) -> None:
    line = the_line(problems_of(tmp_path, BASE + good(url='"ftp://h.example/x"')), "url")
    assert "is not an http(s) URL" in line
    line = the_line(problems_of(tmp_path, BASE + good(name='"has space"')), "name")
    assert "not a valid endpoint name" in line
    line = the_line(problems_of(tmp_path, BASE + good(events="[]")), "events = []")
    assert "leave events out" in line
    the_line(problems_of(tmp_path, BASE + good(submitters="[]")), "submitters = []")


def test_duplicate_names_unknown_keys_and_bad_durations(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, BASE + good() + good())
    the_line(problems, '"app" is defined more than once')
    problems = problems_of(tmp_path, BASE + good(evnts='["sent"]'))
    the_line(problems, "webhook[0].evnts", 'did you mean "webhook[0].events"?')
    problems = problems_of(tmp_path, BASE + good(timeout='"soon"'))
    the_line(problems, "timeout", "is not a duration")
    problems = problems_of(tmp_path, BASE + '[events]\nretry_first = "1h"\nretry_cap = "1m"\n')
    the_line(problems, "retry_cap (1m) is shorter than retry_first (1h)")
