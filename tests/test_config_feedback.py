"""[domain."..."], [bounces], [classification] and [lane.suppression]."""

from __future__ import annotations

from pathlib import Path

from relaylane.config import load_config
from relaylane.policy.suppression import HardBounceScope, Scope, ScopeKind
from tests.test_config import problems_of, write

BASE = """
[[relay]]
name = "pf"
host = "mx.acme.test"

[[relay]]
name = "ses"
kind = "esp"
provider = "ses"
host = "email-smtp.eu-west-1.amazonaws.com"

[[lane]]
name = "tx"
purpose = "transactional"
relays = ["pf"]
"""


def test_return_paths_per_domain_and_per_relay(tmp_path: Path) -> None:
    text = (
        """
[domain."News.Acme.Test"]
return_path = "Bounces.News.Acme.Test"

[domain."tx.acme.test"]
return_path = "bounces.tx.acme.test"
"""
        + BASE.replace(
            'host = "mx.acme.test"',
            'host = "mx.acme.test"\nreturn_path = { "news.acme.test" = "rp-pf.news.acme.test" }',
        )
        + """
[[lane]]
name = "news"
purpose = "marketing"
relays = ["ses"]
"""
    )
    config = load_config(write(tmp_path, text), env={})
    pf, ses = config.relay
    assert config.return_path_for(pf, "news.acme.test") == "rp-pf.news.acme.test"
    assert config.return_path_for(pf, "tx.acme.test") == "bounces.tx.acme.test"
    assert config.return_path_for(pf, "other.acme.test") is None
    assert config.return_path_for(ses, "tx.acme.test") is None  # ESPs rewrite the sender
    hash(config)


def test_lane_suppression_defaults_and_overrides(tmp_path: Path) -> None:
    text = (
        BASE
        + """
[lane.suppression]
complaints = false
unsubscribes = false

[[lane]]
name = "news"
purpose = "marketing"
relays = ["ses"]

[lane.suppression]
hard_bounces = "lane"
mailbox_full_limit = 5
mailbox_full_window = "30d"
"""
    )
    config = load_config(write(tmp_path, text), env={})
    policy = config.suppression_policy()
    tx, news = config.lane
    assert tx.suppression.hard_bounces is HardBounceScope.GLOBAL
    assert news.suppression.mailbox_full_window == 30 * 86400
    assert policy.hard_bounce_scope("tx") == Scope(ScopeKind.GLOBAL)
    assert policy.hard_bounce_scope("news") == Scope(ScopeKind.LANE, "news")
    assert policy.complaint_scopes("tx") == [Scope(ScopeKind.LANE, "news")]
    assert policy.complaint_scopes("news") == [Scope(ScopeKind.LANE, "news")]
    assert policy.unsubscribe_scope("tx", None) is None
    assert policy.unsubscribe_scope("news", "weekly") == Scope(ScopeKind.LIST, "weekly")
    assert policy.mailbox_full_limit("news") == (5, 30 * 86400)


def test_bad_feedback_keys_name_the_key_and_the_fix(tmp_path: Path) -> None:
    text = (
        """
[bounces]
listen = "nowhere"
keep_raw = "lots"

[domain."acme"]
return_path = "x.test"

[domain."tx.acme.test"]
return_pth = "b.tx.acme.test"

[classification]
rules_file = "missing.toml"
"""
        + BASE
        + """
[lane.suppression]
hard_bounces = "everywhere"
"""
    )
    problems = "\n".join(problems_of(tmp_path, text))
    assert 'bounces: listen = "nowhere" is not HOST:PORT' in problems
    assert 'bounces: keep_raw = "lots" is not a size' in problems
    assert "domain.\"acme\": 'acme' is not a domain name" in problems
    assert 'unknown key "return_pth"; did you mean "return_path"?' in problems
    assert 'classification: rules_file = "missing.toml" does not exist' in problems
    assert (
        'suppression.hard_bounces = "everywhere" is not valid; use one of: global, lane, none'
        in problems
    )


def test_a_bad_rules_file_is_reported_at_load_with_its_rule(tmp_path: Path) -> None:
    (tmp_path / "rules.toml").write_text("[[rule]]\nmatch = '('\nclass = \"policy\"\n")
    text = '[classification]\nrules_file = "rules.toml"\n' + BASE
    [problem] = problems_of(tmp_path, text)
    assert "classification.rules_file" in problem and "rule[0]: match = '('" in problem


def test_a_config_with_keys_pickles_without_key_material(tmp_path: Path) -> None:
    """Benchmarks and process pools hand the config to another process."""
    import pickle

    from tests.helpers import lane, make_config, relay

    config = make_config("sqlite://", [relay("r", 1)], [lane("tx", ["r"])], tmp_path)
    blob = pickle.dumps(config)
    assert b"PRIVATE KEY" not in blob and b"RSAPrivateKey" not in blob
    again = pickle.loads(blob)
    assert again.model_dump() == config.model_dump()
    assert again.domain["acme.test"].dkim[0].signing_key().kind == "rsa"
