"""Configuration: TOML -> typed, validated models; every problem reported with its key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from textwrap import dedent

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from relaylane.config import (
    ACCEPTED_FORMS,
    STARTER_TOML,
    Config,
    DurationError,
    LaneConfig,
    RelayConfig,
    RelayRef,
    format_duration,
    load_config,
    load_config_data,
    parse_duration,
    resolve_config_path,
    write_starter,
)
from relaylane.config.domains import DomainConfig
from relaylane.config.feedback import (
    BouncesConfig,
    ClassificationConfig,
    LaneSuppression,
)
from relaylane.config.pacing import (
    AdvanceWhen,
    PacingConfig,
    ProviderConfig,
    ProviderRule,
    WarmupConfig,
)
from relaylane.config.serving import HttpConfig, IntakeConfig, SubmissionConfig
from relaylane.config.webhooks import (
    MailgunWebhookConfig,
    PostmarkWebhookConfig,
    SendgridWebhookConfig,
    SesWebhookConfig,
)
from relaylane.errors import ConfigError, NotFoundError
from relaylane.policy.vocabulary import LanePurpose, RelayKind, Strategy, TlsMode

RELAYS = """
[[relay]]
name = "tx-primary"
host = "smtp.tx.acme.test"

[[relay]]
name = "tx-backup"
host = "smtp.backup.acme.test"

[[relay]]
name = "mkt-a"
host = "smtp.mkt-a.acme.test"

[[relay]]
name = "mkt-b"
host = "smtp.mkt-b.acme.test"
"""

LANES = """
[[lane]]
name = "transactional"
purpose = "transactional"
relays = ["tx-primary", "tx-backup"]

[[lane]]
name = "marketing"
purpose = "marketing"
relays = ["mkt-a:3", "mkt-b:1"]
strategy = "weighted"
"""

FULL = """
[store]
url = "sqlite:///relaylane.db"

[worker]
lease = "90s"
claim_batch = 64
idle_poll = "250ms"

[[relay]]
name = "tx-primary"
kind = "esp"
host = "smtp.tx.acme.test"
port = 465
tls = "implicit"
verify = false
server_name = "tx.acme.test"
username = "acme"
password_env = "TX_PRIMARY_PASSWORD"
helo = "mta1.acme.test"
max_connections = 2
max_messages_per_connection = 50
timeouts = { connect = 10, command = "2m", data_end = 900 }
smtputf8 = true

[[relay]]
name = "tx-backup"
host = "smtp.backup.acme.test"

[[relay]]
name = "mkt-a"
host = "smtp.mkt-a.acme.test"

[[relay]]
name = "mkt-b"
host = "smtp.mkt-b.acme.test"

[[relay]]
name = "out-a"
host = "smtp.out.acme.test"

[[lane]]
name = "marketing"
purpose = "marketing"
relays = ["mkt-a:3", "mkt-b"]
strategy = "weighted"

[[lane]]
name = "transactional"
purpose = "transactional"
relays = ["tx-primary", "tx-backup"]
max_age = "30m"
retry = { first = "1m", cap = "20m", factor = 3, jitter = 0.1 }

[[lane]]
name = "outreach"
purpose = "outreach"
relays = ["out-a"]
strategy = "sticky"
retry = { first = "10m" }
"""

SECRET = "s3cret-Pa55word!"


def write(tmp_path: Path, text: str, name: str = "relaylane.toml") -> Path:
    path = tmp_path / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    """Load `text` expecting a ConfigError; return its problem lines."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env or {})
    assert caught.value.path == str(path)
    return caught.value.problems


def the_line(problems: list[str], *fragments: str) -> str:
    """The one problem line containing every fragment."""
    hits = [p for p in problems if all(f in p for f in fragments)]
    assert len(hits) == 1, f"expected one line with {fragments!r} in:\n" + "\n".join(problems)
    return hits[0]


# --- durations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("3d", 259_200.0),
        ("1h30m", 5400.0),
        ("1d2h3m4s5ms", 93_784.005),
        (" 1h 30m ", 5400.0),
        ("1.5h", 5400.0),
        ("30", 30.0),
        ("0.25", 0.25),
        (45, 45.0),
        (1.5, 1.5),
        ("0s", 0.0),
    ],
)
def test_parse_duration_accepts_every_form(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert isinstance(parse_duration(text), float)


@pytest.mark.parametrize("bad", ["", "1x", "h", "5 minutes", "-5s", "1hh", "1h-5m", "1e3s"])
def test_parse_duration_rejects_garbage_naming_accepted_forms(bad: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(bad)
    assert repr(bad) in str(caught.value)
    assert ACCEPTED_FORMS in str(caught.value)


@pytest.mark.parametrize("bad", [True, -1, float("nan"), float("inf"), None, [1]])
def test_parse_duration_rejects_non_durations(bad: object) -> None:
    with pytest.raises(DurationError):
        parse_duration(bad)  # type: ignore[arg-type]


def test_parse_duration_wants_units_largest_first_once() -> None:
    for bad in ("30m1h", "1h1h", "500ms1s"):
        with pytest.raises(DurationError, match="largest first"):
            parse_duration(bad)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0s"),
        (0.5, "500ms"),
        (30.0, "30s"),
        (300.0, "5m"),
        (3600.0, "1h"),
        (5400.0, "1h30m"),
        (259_200.0, "3d"),
        (90.25, "1m30s250ms"),
        (0.0001, "0.0001s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False))
def test_durations_round_trip_any_float(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(
    st.integers(0, 400),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.integers(0, 999),
)
def test_durations_round_trip_composed_text(d: int, h: int, m: int, s: int, ms: int) -> None:
    text = f"{d}d{h}h{m}m{s}s{ms}ms"
    seconds = parse_duration(text)
    assert seconds == pytest.approx(d * 86_400 + h * 3600 + m * 60 + s + ms / 1000)
    assert parse_duration(format_duration(seconds)) == seconds


# --- valid configurations --------------------------------------------------------------------


def test_starter_toml_loads_as_written(tmp_path: Path) -> None:
    write_starter(tmp_path / "relaylane.toml")
    config = load_config(tmp_path / "relaylane.toml", env={})
    assert [r.name for r in config.relay] == ["tx-primary", "tx-backup", "mkt-a", "mkt-b", "out-a"]
    lanes = {lane.name: lane for lane in config.lane}
    assert lanes["transactional"].strategy is Strategy.FAILOVER
    assert lanes["transactional"].relay_names == ("tx-primary", "tx-backup")
    assert lanes["marketing"].strategy is Strategy.WEIGHTED
    assert lanes["marketing"].relays == (RelayRef(name="mkt-a", weight=3), RelayRef(name="mkt-b"))
    assert lanes["outreach"].strategy is Strategy.STICKY
    assert lanes["outreach"].relay_names == ("out-a",)
    assert all(r.username is None and r.password() is None for r in config.relay)


def test_starter_toml_shows_every_key() -> None:
    for key in (
        *RelayConfig.model_fields,
        *LaneConfig.model_fields,
        "lease",
        "claim_batch",
        "idle_poll",
        "url",
        "data_end",
        "factor",
        "jitter",
        *HttpConfig.model_fields,
        *SubmissionConfig.model_fields,
        *IntakeConfig.model_fields,
        *BouncesConfig.model_fields,
        *ClassificationConfig.model_fields,
        *DomainConfig.model_fields,
        *LaneSuppression.model_fields,
        *SesWebhookConfig.model_fields,
        *SendgridWebhookConfig.model_fields,
        *MailgunWebhookConfig.model_fields,
        *PostmarkWebhookConfig.model_fields,
        *PacingConfig.model_fields,
        *WarmupConfig.model_fields,
        *ProviderConfig.model_fields,
        *ProviderRule.model_fields,
        *AdvanceWhen.model_fields,
    ):
        if key == "public_key_file":
            continue  # the alternative to public_key, documented in docs/bounces.md
        if key == "rule":
            assert "[[provider.google.rule]]" in STARTER_TOML  # an array of tables
            continue
        if key == "suppression":
            assert "[lane.suppression]" in STARTER_TOML  # a table, not a key
            continue
        assert f"{key} =" in STARTER_TOML, key


def test_full_config_typed_values(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    config = load_config(path, env={"TX_PRIMARY_PASSWORD": SECRET})

    assert config.source_path == path.absolute()
    assert config.store.url == f"sqlite:///{(tmp_path / 'relaylane.db').as_posix()}"
    assert (config.worker.lease, config.worker.claim_batch, config.worker.idle_poll) == (
        90.0,
        64,
        0.25,
    )

    tx = config.relay_by_name("tx-primary")
    assert tx.kind is RelayKind.ESP
    assert (tx.host, tx.port, tx.tls) == ("smtp.tx.acme.test", 465, TlsMode.IMPLICIT)
    assert tx.verify is False
    assert (tx.server_name, tx.username, tx.helo) == ("tx.acme.test", "acme", "mta1.acme.test")
    assert tx.password() == SECRET
    assert (tx.max_connections, tx.max_messages_per_connection, tx.smtputf8) == (2, 50, True)
    assert (tx.timeouts.connect, tx.timeouts.command, tx.timeouts.data_end) == (10.0, 120.0, 900.0)

    backup = config.relay_by_name("tx-backup")
    assert backup.kind is RelayKind.MTA
    assert (backup.port, backup.tls, backup.verify, backup.ca_file) == (
        587,
        TlsMode.STARTTLS,
        True,
        None,
    )
    assert (backup.max_connections, backup.max_messages_per_connection) == (4, 100)
    assert (backup.timeouts.connect, backup.timeouts.command, backup.timeouts.data_end) == (
        30.0,
        300.0,
        600.0,
    )
    assert backup.password() is None
    assert backup.smtputf8 is False

    transactional = config.lane_by_name("transactional")
    assert transactional.purpose is LanePurpose.TRANSACTIONAL
    assert transactional.max_age == 1800.0
    assert transactional.retry.model_dump() == {
        "first": 60.0,
        "cap": 1200.0,
        "factor": 3.0,
        "jitter": 0.1,
    }
    assert transactional.allow_shared_relays is False


def test_password_never_leaves_the_relay(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL), env={"TX_PRIMARY_PASSWORD": SECRET})
    relay = config.relay_by_name("tx-primary")
    assert SECRET not in repr(relay)
    assert SECRET not in str(config.model_dump())
    assert SECRET not in config.model_dump_json()
    assert "password" not in RelayConfig.model_fields


def test_defaults_by_purpose(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL), env={"TX_PRIMARY_PASSWORD": SECRET})
    marketing = config.lane_by_name("marketing")
    assert marketing.max_age == 3 * 86_400
    assert (marketing.retry.first, marketing.retry.cap) == (300.0, 4 * 3600)
    assert (marketing.retry.factor, marketing.retry.jitter) == (2.0, 0.2)
    outreach = config.lane_by_name("outreach")
    assert outreach.max_age == 3 * 86_400
    assert (outreach.retry.first, outreach.retry.cap) == (600.0, 4 * 3600)  # cap filled in

    bare = LaneConfig.model_validate({"name": "t", "purpose": "transactional", "relays": ["a"]})
    assert bare.max_age == 3600.0
    assert (bare.retry.first, bare.retry.cap) == (300.0, 3600.0)
    assert bare.strategy is Strategy.FAILOVER
    assert bare.priority == 0
    assert marketing.priority == outreach.priority == 1


def test_lanes_by_priority_puts_transactional_first_and_keeps_file_order(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL), env={"TX_PRIMARY_PASSWORD": SECRET})
    assert [lane.name for lane in config.lane] == ["marketing", "transactional", "outreach"]
    assert [lane.name for lane in config.lanes_by_priority()] == [
        "transactional",
        "marketing",
        "outreach",
    ]


def test_lookups_by_name_raise_not_found_with_known_names(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, RELAYS + LANES), env={})
    assert config.lane_by_name("marketing").purpose is LanePurpose.MARKETING
    with pytest.raises(NotFoundError) as caught:
        config.relay_by_name("mkt-c")
    assert "mkt-c" in str(caught.value)
    assert "tx-primary, tx-backup, mkt-a, mkt-b" in str(caught.value)
    with pytest.raises(NotFoundError, match="known lanes: transactional, marketing"):
        config.lane_by_name("bulk")
    assert [(r.name, w) for r, w in config.relays_of("marketing")] == [("mkt-a", 3), ("mkt-b", 1)]


def test_config_builds_from_a_dict_without_a_file() -> None:
    config = Config.model_validate(
        {
            "relay": [{"name": "local", "host": "127.0.0.1", "port": 2525, "tls": "none"}],
            "lane": [{"name": "tx", "purpose": "transactional", "relays": ["local"]}],
        }
    )
    assert config.source_path == Path("<memory>")
    assert config.store.url == "sqlite:///relaylane.db"
    assert config.worker.lease == 60.0
    assert config.worker.claim_batch == 256
    assert config.worker.idle_poll == 0.5
    assert config.relay[0].tls is TlsMode.NONE


def test_config_from_dict_still_cross_checks() -> None:
    with pytest.raises(ValidationError, match='unknown relay "nope"'):
        Config.model_validate(
            {
                "relay": [{"name": "a", "host": "a.test"}],
                "lane": [{"name": "tx", "purpose": "transactional", "relays": ["nope"]}],
            }
        )


def test_load_config_data_uses_base_dir_env_and_source(tmp_path: Path) -> None:
    data = tomllib.loads(FULL)
    config = load_config_data(
        data, source="<demo>", base_dir=tmp_path, env={"TX_PRIMARY_PASSWORD": "pw"}
    )
    assert config.source_path == Path("<demo>")
    assert config.relay_by_name("tx-primary").password() == "pw"
    assert str(tmp_path) in config.store.url


def test_model_dump_round_trips(tmp_path: Path) -> None:
    env = {"TX_PRIMARY_PASSWORD": SECRET}
    config = load_config(write(tmp_path, FULL), env=env)
    again = Config.model_validate(config.model_dump(), context={"env": env})
    assert again.model_dump() == config.model_dump()
    assert again.relay == config.relay
    assert again.lane == config.lane
    assert again.relay_by_name("tx-primary").password() == SECRET


def test_models_are_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, RELAYS + LANES), env={})
    with pytest.raises(ValidationError):
        config.relay[0].port = 25
    hash(config)


def test_store_url_paths(tmp_path: Path) -> None:
    for url, expected in [
        ("sqlite:///data/rl.db", f"sqlite:///{(tmp_path / 'data/rl.db').as_posix()}"),
        ("sqlite:////var/lib/rl.db", "sqlite:////var/lib/rl.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql://rl@db.acme.test/relaylane", "postgresql://rl@db.acme.test/relaylane"),
        ("postgresql+psycopg://rl@db/relaylane", "postgresql+psycopg://rl@db/relaylane"),
    ]:
        text = f'[store]\nurl = "{url}"\n' + RELAYS + LANES
        config = load_config(write(tmp_path, text), env={})
        assert config.store.url == expected


def test_default_store_url_is_next_to_the_config_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, RELAYS + LANES), env={})
    assert config.store.url == f"sqlite:///{(tmp_path / 'relaylane.db').as_posix()}"


def test_relative_ca_file_resolves_against_config_dir(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("x")
    text = RELAYS.replace(
        'host = "smtp.tx.acme.test"', 'host = "smtp.tx.acme.test"\nca_file = "certs/ca.pem"'
    )
    config = load_config(write(tmp_path, text + LANES), env={})
    assert config.relay_by_name("tx-primary").ca_file == tmp_path / "certs" / "ca.pem"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.5", "::1", "localhost", "LOCALHOST"])
def test_clear_text_credentials_allowed_on_loopback(tmp_path: Path, host: str) -> None:
    text = f"""
    [[relay]]
    name = "local"
    host = "{host}"
    tls = "none"
    username = "u"
    password_env = "LOCAL_PW"

    [[lane]]
    name = "tx"
    purpose = "transactional"
    relays = ["local"]
    """
    config = load_config(write(tmp_path, text), env={"LOCAL_PW": "pw"})
    assert config.relay[0].password() == "pw"


def test_shared_relays_allowed_with_flag(tmp_path: Path) -> None:
    text = RELAYS + LANES.replace('relays = ["tx-primary", "tx-backup"]', 'relays = ["mkt-a"]')
    assert problems_of(tmp_path, text)
    allowed = text.replace('relays = ["mkt-a"]', 'relays = ["mkt-a"]\nallow_shared_relays = true')
    config = load_config(write(tmp_path, allowed), env={})
    assert config.lane_by_name("transactional").allow_shared_relays is True


def test_two_transactional_lanes_may_share_relays(tmp_path: Path) -> None:
    text = (
        RELAYS
        + LANES
        + """
[[lane]]
name = "password-resets"
purpose = "transactional"
relays = ["tx-backup", "tx-primary"]
"""
    )
    config = load_config(write(tmp_path, text), env={})
    assert len(config.lane) == 3


# --- path resolution and file problems ----------------------------------------------------


def test_path_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    from_env = write(tmp_path, RELAYS + LANES, "from-env.toml")
    explicit = write(tmp_path, RELAYS + LANES, "explicit.toml")
    write(tmp_path, RELAYS + LANES)
    env = {"RELAYLANE_CONFIG": str(from_env)}
    assert resolve_config_path(explicit, env) == explicit
    assert resolve_config_path(None, env) == from_env
    assert resolve_config_path(None, {}) == Path("relaylane.toml")
    assert load_config(env=env).source_path == from_env
    assert load_config(explicit, env=env).source_path == explicit
    assert load_config(env={}).source_path == tmp_path / "relaylane.toml"


def test_missing_file_tells_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml", env={})
    (line,) = caught.value.problems
    assert "relaylane init" in line
    assert "--config PATH" in line
    assert "RELAYLANE_CONFIG" in line
    assert caught.value.path == str(tmp_path / "nope.toml")


def test_missing_file_named_by_env_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env={"RELAYLANE_CONFIG": str(tmp_path / "gone.toml")})
    assert "RELAYLANE_CONFIG names this file" in caught.value.problems[0]


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    (line,) = problems_of(tmp_path, '[store]\nurl = "sqlite:///x.db"\nbroken = \n')
    assert "TOML syntax error" in line
    assert "line 3" in line
    assert "column" in line


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "relaylane.toml"
    path.write_bytes(b'[store]\nurl = "\xff"\n')
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(path, env={})


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="directory"):
        load_config(tmp_path, env={})


# --- every problem, one line each, naming the key ----------------------------------------


def test_bad_enum_value_names_key_value_and_choices(tmp_path: Path) -> None:
    text = RELAYS.replace('host = "smtp.backup.acme.test"', 'host = "b"\ntls = "startls"') + LANES
    line = the_line(problems_of(tmp_path, text), "tls")
    assert line == (
        'relay[1] "tx-backup": tls = "startls" is not valid; use one of: none, starttls, implicit'
    )


def test_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    typo = 'purpose = "transactional"\nstratgy = "failover"'
    text = RELAYS + LANES.replace('purpose = "transactional"', typo)
    line = the_line(problems_of(tmp_path, text), "stratgy")
    assert line == 'lane[0] "transactional": unknown key "stratgy"; did you mean "strategy"?'


def test_unknown_nested_and_top_level_keys(tmp_path: Path) -> None:
    text = (
        "[stores]\n"
        + RELAYS.replace(
            'host = "smtp.mkt-b.acme.test"',
            'host = "smtp.mkt-b.acme.test"\ntimeouts = { conect = 5 }\nbogus = 1',
        )
        + LANES
    )
    problems = problems_of(tmp_path, text)
    assert 'did you mean "store"' in the_line(problems, '"stores"')
    assert 'did you mean "timeouts.connect"' in the_line(problems, '"timeouts.conect"')
    line = the_line(problems, '"bogus"')
    assert line.startswith('relay[3] "mkt-b": unknown key "bogus"; valid keys: name, kind, host')


def test_unknown_relay_lists_known_ones(tmp_path: Path) -> None:
    text = RELAYS.replace('name = "mkt-b"', 'name = "mkt-bb"') + LANES.replace("mkt-b:1", "mkt-c")
    line = the_line(problems_of(tmp_path, text), "mkt-c")
    assert line.startswith('lane "marketing": relays names unknown relay "mkt-c"; known relays: ')
    assert "mkt-a, mkt-bb" in line


def test_missing_password_env_var(tmp_path: Path) -> None:
    text = (
        RELAYS.replace(
            'host = "smtp.tx.acme.test"',
            'host = "smtp.tx.acme.test"\nusername = "acme"\npassword_env = "TX_PRIMARY_PASSWORD"',
        )
        + LANES
    )
    line = the_line(problems_of(tmp_path, text, env={"OTHER": "x"}), "password_env")
    assert '"tx-primary"' in line
    assert "TX_PRIMARY_PASSWORD, which is not set" in line
    assert "export it" in line
    # An empty variable is as good as unset.
    assert problems_of(tmp_path, text, env={"TX_PRIMARY_PASSWORD": ""})


def test_password_in_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with_password = f'host = "t"\npassword = "{SECRET}"'
    text = RELAYS.replace('host = "smtp.tx.acme.test"', with_password) + LANES
    problems = problems_of(tmp_path, text)
    line = the_line(problems, "password")
    assert line.startswith('relay[0] "tx-primary": password must not be written in the file')
    assert "password_env" in line
    assert all(SECRET not in p for p in problems)


def test_password_put_in_password_env_is_not_echoed(tmp_path: Path) -> None:
    text = (
        RELAYS.replace(
            'host = "smtp.tx.acme.test"',
            f'host = "t"\nusername = "u"\npassword_env = "{SECRET}"',
        )
        + LANES
    )
    problems = problems_of(tmp_path, text)
    assert "name of an environment variable" in the_line(problems, "password_env")
    assert all(SECRET not in p for p in problems)


def test_username_and_password_env_go_together(tmp_path: Path) -> None:
    only_user = RELAYS.replace('host = "smtp.tx.acme.test"', 'host = "t"\nusername = "u"')
    line = the_line(problems_of(tmp_path, only_user + LANES), "username")
    assert "password_env is not" in line
    assert line.startswith('relay[0] "tx-primary"')

    only_env = RELAYS.replace('host = "smtp.tx.acme.test"', 'host = "t"\npassword_env = "PW"')
    line = the_line(problems_of(tmp_path, only_env + LANES, env={"PW": "x"}), "password_env")
    assert "username is not" in line


def test_clear_text_credentials_refused_off_loopback(tmp_path: Path) -> None:
    text = RELAYS.replace(
        'host = "smtp.tx.acme.test"',
        'host = "smtp.tx.acme.test"\ntls = "none"\nusername = "u"\npassword_env = "PW"',
    )
    line = the_line(problems_of(tmp_path, text + LANES, env={"PW": "x"}), "clear text")
    assert line.startswith('relay[0] "tx-primary": username is set with tls = "none"')
    assert "starttls" in line


def test_weights_need_weighted_strategy(tmp_path: Path) -> None:
    text = RELAYS + LANES.replace('strategy = "weighted"', 'strategy = "round_robin"')
    line = the_line(problems_of(tmp_path, text), "strategy")
    assert line.startswith('lane[1] "marketing": relays gives weights ("mkt-a:3")')
    assert 'strategy = "weighted"' in line


@pytest.mark.parametrize("ref", ["mkt-a:0", "mkt-a:x", "mkt-a:", ":3", "mkt-a:1.5"])
def test_bad_relay_reference(tmp_path: Path, ref: str) -> None:
    text = RELAYS + LANES.replace('"mkt-a:3"', f'"{ref}"')
    line = the_line(problems_of(tmp_path, text), "relays[0]")
    assert line.startswith(f'lane[1] "marketing": relays[0] = "{ref}"')
    assert '"name:weight"' in line


def test_duplicate_names(tmp_path: Path) -> None:
    text = (
        RELAYS.replace('name = "mkt-b"', 'name = "mkt-a"')
        + LANES.replace('"mkt-a:3", "mkt-b:1"', '"mkt-a"').replace(
            'name = "marketing"', 'name = "transactional"'
        )
        + '\n[[lane]]\nname = "dup-ref"\npurpose = "outreach"\nrelays = ["mkt-a", "mkt-a"]\n'
    )
    problems = problems_of(tmp_path, text)
    line = the_line(problems, 'relay "mkt-a" is defined 2 times')
    assert "relay[2], relay[3]" in line
    assert "transactional" in the_line(problems, "lane[0], lane[1]")
    assert "more than once" in the_line(problems, 'lane[2] "dup-ref"')


def test_transactional_lane_sharing_a_bulk_relay(tmp_path: Path) -> None:
    text = RELAYS + LANES.replace('"tx-primary", "tx-backup"', '"tx-primary", "mkt-b"')
    line = the_line(problems_of(tmp_path, text), "allow_shared_relays")
    assert line.startswith('lane "transactional": relay "mkt-b" is also used by ')
    assert 'marketing lane "marketing"' in line


def test_needs_relays_and_lanes(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, '[store]\nurl = "sqlite:///x.db"\n')
    assert "[[relay]]" in the_line(problems, "no relays")
    assert "[[lane]]" in the_line(problems, "no lanes")


def test_single_brackets_where_double_are_needed(tmp_path: Path) -> None:
    text = '[relay]\nname = "a"\nhost = "a.test"\n' + LANES
    line = the_line(problems_of(tmp_path, text), "array of tables")
    assert "[[relay]]" in line


def test_empty_relays_list(tmp_path: Path) -> None:
    text = RELAYS + LANES.replace('"mkt-a:3", "mkt-b:1"', "")
    line = the_line(problems_of(tmp_path, text), "relays")
    assert line.startswith('lane[1] "marketing": relays must not be empty')


@pytest.mark.parametrize(
    ("setting", "fragments"),
    [
        ("port = 70000", ("port = 70000", "65535 or less")),
        ("port = 0", ("port = 0", "1 or more")),
        ('port = "587"', ('port = "587"', "whole number")),
        ("max_connections = 0", ("max_connections = 0", "1 or more")),
        ("max_messages_per_connection = -2", ("max_messages_per_connection", "1 or more")),
        ("verify = 1", ("verify = 1", "true or false")),
        ('kind = "smtp"', ('kind = "smtp"', "mta, esp")),
        ("timeouts = { connect = 0 }", ("timeouts.connect = 0", "greater than 0")),
        ('timeouts = { data_end = "10 min" }', ('timeouts.data_end = "10 min"', '"1h30m"')),
        ('timeouts = { "data-end" = 5 }', ('"timeouts.data-end"', '"timeouts.data_end"')),
        ('timeouts = "fast"', ('timeouts = "fast"', "use a table")),
        ('host = "smtp://x.test"', ("host", "URL")),
        ('host = "x.test:25"', ("host", "port = N")),
        ('name = "tx primary"', ('name = "tx primary"', "letters, digits")),
        ('ca_file = "missing/ca.pem"', ("ca_file", "missing/ca.pem", "system certificates")),
    ],
)
def test_relay_field_problems(tmp_path: Path, setting: str, fragments: tuple[str, ...]) -> None:
    key = setting.split(" ")[0]
    relay = 'name = "tx-backup"\nhost = "smtp.backup.acme.test"\n'
    if key in ("name", "host"):
        changed = "\n".join(setting if line.startswith(key) else line for line in relay.split("\n"))
    else:
        changed = relay + setting + "\n"
    line = the_line(problems_of(tmp_path, RELAYS.replace(relay, changed) + LANES), *fragments)
    assert line.startswith("relay[1]")


@pytest.mark.parametrize(
    ("setting", "fragments"),
    [
        ('purpose = "bulk"', ('purpose = "bulk"', "transactional, marketing, outreach")),
        ('max_age = "2 days"', ('max_age = "2 days"', "is not a duration", '"3d"')),
        ('max_age = "0s"', ('max_age = "0s"', "greater than 0")),
        ('strategy = "random"', ('strategy = "random"', "failover, weighted, round_robin, sticky")),
        ("allow_shared_relays = 1", ("allow_shared_relays = 1", "true or false")),
        ('retry = { first = "2h" }', ("retry.cap (1h)", "retry.first (2h)")),
        ('retry = { first = "5m", cap = "1m" }', ("retry.cap (1m)", "raise cap")),
        ("retry = { factor = 0.5 }", ("retry.factor = 0.5", "1 or more")),
        ("retry = { jitter = 1.0 }", ("retry.jitter = 1.0", "less than 1")),
        ("retry = { jitter = -0.1 }", ("retry.jitter = -0.1", "0 or more")),
        ('retry = { first = "soon" }', ('retry.first = "soon"', "is not a duration")),
        ('retry = { frist = "1m" }', ('"retry.frist"', 'did you mean "retry.first"')),
    ],
)
def test_lane_field_problems(tmp_path: Path, setting: str, fragments: tuple[str, ...]) -> None:
    key = setting.split(" ")[0]
    lanes = LANES.replace(
        'purpose = "transactional"\n',
        "" if key == "purpose" else 'purpose = "transactional"\n',
    ).replace('name = "transactional"', f'name = "transactional"\n{setting}')
    line = the_line(problems_of(tmp_path, RELAYS + lanes), *fragments)
    assert line.startswith('lane[0] "transactional": ')


def test_missing_required_keys(tmp_path: Path) -> None:
    text = '[[relay]]\nname = "a"\n\n[[lane]]\nname = "l"\nrelays = ["a"]\n'
    problems = problems_of(tmp_path, text)
    assert 'add host = "..."' in the_line(problems, '"host"')
    line = the_line(problems, '"purpose"')
    assert line.startswith('lane[0] "l": missing required key "purpose"')
    assert "transactional, marketing, outreach" in line


def test_store_and_worker_problems(tmp_path: Path) -> None:
    text = (
        '[store]\nurl = "mysql://db/rl"\n[worker]\nlease = "1 minute"\nclaim_batch = 0\n'
        'idle_poll = -1\nidel_poll = "1s"\n' + RELAYS + LANES
    )
    problems = problems_of(tmp_path, text)
    assert "postgresql://" in the_line(problems, 'store: url = "mysql://db/rl"')
    assert "is not a duration" in the_line(problems, 'worker: lease = "1 minute"')
    assert "1 or more" in the_line(problems, "worker: claim_batch = 0")
    assert the_line(problems, "worker: idle_poll = -1")
    assert 'did you mean "idle_poll"' in the_line(problems, '"idel_poll"')
    assert "[store]" in the_line(problems_of(tmp_path, 'store = "x"\n' + RELAYS + LANES), "store")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = """
    [worker]
    lease = "1x"

    [[relay]]
    name = "tx-primary"
    host = "smtp.tx.acme.test"
    tls = "startls"
    username = "acme"

    [[relay]]
    name = "mkt-a"
    host = "smtp.mkt-a.acme.test"
    port = 0

    [[lane]]
    name = "transactional"
    purpose = "transactional"
    relays = ["tx-primary", "mkt-a", "tx-backup"]

    [[lane]]
    name = "marketing"
    purpose = "marketing"
    relays = ["mkt-a"]

    [[lane]]
    name = "outreach"
    purpose = "outreach"
    relays = ["mkt-a:2"]
    stratgy = "weighted"
    """
    problems = problems_of(tmp_path, text)
    for fragments in [
        ('worker: lease = "1x"',),
        ('relay[0] "tx-primary": tls = "startls"',),
        ('relay[0] "tx-primary": username is set but password_env is not',),
        ('relay[1] "mkt-a": port = 0',),
        ('lane "transactional"', 'unknown relay "tx-backup"'),
        ('lane "transactional": relay "mkt-a"', 'marketing lane "marketing"'),
        ('lane[2] "outreach"', '"stratgy"'),
        ('lane[2] "outreach"', 'relays gives weights ("mkt-a:2")'),
    ]:
        the_line(problems, *fragments)
    assert len(problems) == 8
    rendered = ConfigError(str(tmp_path), problems).render()
    assert "8 problem(s)" in rendered
    assert "Traceback" not in rendered


# --- starter file --------------------------------------------------------------------------


def test_write_starter(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "relaylane.toml"
    write_starter(path)
    assert path.read_text(encoding="utf-8") == STARTER_TOML
    assert load_config(path, env={}).lane_by_name("marketing").strategy is Strategy.WEIGHTED

    path.write_text("# mine\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        write_starter(path)
    assert "--force" in caught.value.problems[0]
    assert path.read_text(encoding="utf-8") == "# mine\n"

    write_starter(path, force=True)
    assert path.read_text(encoding="utf-8") == STARTER_TOML
