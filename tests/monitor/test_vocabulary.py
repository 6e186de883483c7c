"""The metric vocabulary and what one attempt counts as."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from relaylane.monitor.metrics import (
    LATENCY_BOUNDS,
    Metric,
    bounced,
    is_metric,
    latency_bucket,
    latency_bucket_bound,
    metrics_of_attempt,
)
from relaylane.policy.classify import Fault, classify
from relaylane.policy.vocabulary import BounceClass, Outcome, Stage
from relaylane.store.schema import metric_buckets

FAULT_KINDS = {
    Metric.CONN_FAILURES,
    Metric.TLS_FAILURES,
    Metric.AUTH_FAILURES,
    Metric.THROTTLED,
    Metric.RELAY_CONFIG,
}
OUTCOME_METRICS = {"sent", "deferred", "blocked", "failed", "suppressed", "relay_faults"}


@pytest.mark.parametrize(
    ("stage", "outcome", "bounce_class", "expected"),
    [
        (Stage.DATA_END, Outcome.SENT, BounceClass.NONE, ("attempts", "answered", "sent")),
        (Stage.RCPT, Outcome.DEFERRED, BounceClass.TRANSIENT, ("attempts", "answered", "deferred")),
        (
            Stage.RCPT,
            Outcome.BOUNCED,
            BounceClass.INVALID_RECIPIENT,
            ("attempts", "answered", "bounced:invalid_recipient"),
        ),
        (
            Stage.RCPT,
            Outcome.BLOCKED,
            BounceClass.REPUTATION_BLOCK,
            ("attempts", "answered", "blocked"),
        ),
        (
            Stage.CONNECT,
            Outcome.RELAY_FAULT,
            BounceClass.RELAY_UNAVAILABLE,
            ("attempts", "relay_faults", "conn_failures"),
        ),
        (
            Stage.STARTTLS,
            Outcome.RELAY_FAULT,
            BounceClass.RELAY_UNAVAILABLE,
            ("attempts", "relay_faults", "tls_failures"),
        ),
        (
            Stage.AUTH,
            Outcome.RELAY_FAULT,
            BounceClass.RELAY_CONFIG,
            ("attempts", "relay_faults", "auth_failures"),
        ),
        (
            Stage.MAIL,
            Outcome.RELAY_FAULT,
            BounceClass.RELAY_CONFIG,
            ("attempts", "relay_faults", "relay_config"),
        ),
        (
            Stage.CONNECT,
            Outcome.RELAY_FAULT,
            BounceClass.RATE_LIMITED,
            ("attempts", "relay_faults", "throttled"),
        ),
        (
            Stage.RCPT,
            Outcome.DEFERRED,
            BounceClass.RATE_LIMITED,
            ("attempts", "answered", "deferred", "throttled"),
        ),
        (Stage.LOCAL, Outcome.SUPPRESSED, BounceClass.NONE, ("suppressed",)),
        (Stage.LOCAL, Outcome.FAILED, BounceClass.EXPIRED, ("failed",)),
        (Stage.REPORT, Outcome.BOUNCED, BounceClass.BAD_DOMAIN, ("bounced:bad_domain",)),
    ],
)
def test_an_attempt_counts_its_outcome_and_its_kind_of_fault(
    stage: Stage, outcome: Outcome, bounce_class: BounceClass, expected: tuple[str, ...]
) -> None:
    assert metrics_of_attempt(stage, outcome, bounce_class) == expected


@pytest.mark.parametrize(
    ("stage", "code", "text", "fault", "kind"),
    [
        (Stage.CONNECT, None, "connection refused", Fault.REFUSED, "conn_failures"),
        (Stage.DATA_END, None, "dropped", Fault.DISCONNECTED, "conn_failures"),
        (Stage.STARTTLS, None, "certificate verify failed", Fault.TLS, "tls_failures"),
        (Stage.AUTH, 535, "5.7.8 Authentication credentials invalid", None, "auth_failures"),
        (Stage.AUTH, None, "no mechanism", Fault.AUTH_UNSUPPORTED, "auth_failures"),
        (Stage.RCPT, 421, "4.7.0 Too many connections, slow down", None, "throttled"),
        (Stage.RCPT, 554, "5.7.1 Relay access denied", None, "relay_config"),
        (Stage.EHLO, 421, "Service not available", None, "conn_failures"),
    ],
)
def test_classified_relay_faults_land_in_the_expected_kind(
    stage: Stage, code: int | None, text: str, fault: Fault | None, kind: str
) -> None:
    verdict = classify(stage, code, text, fault)
    assert verdict.outcome is Outcome.RELAY_FAULT
    assert kind in metrics_of_attempt(stage, verdict.outcome, verdict.bounce_class)


@given(st.sampled_from(Stage), st.sampled_from(Outcome), st.sampled_from(BounceClass))
def test_every_attempt_counts_names_of_the_vocabulary(
    stage: Stage, outcome: Outcome, bounce_class: BounceClass
) -> None:
    names = metrics_of_attempt(stage, outcome, bounce_class)
    assert all(is_metric(n) and type(n) is str for n in names)
    assert len(set(names)) == len(names)
    own = [n for n in names if n in OUTCOME_METRICS or n.startswith("bounced:")]
    assert len(own) == 1  # exactly one outcome metric
    kinds = [n for n in names if n in FAULT_KINDS]
    assert len(kinds) <= 1
    if outcome is Outcome.RELAY_FAULT:
        assert len(kinds) == 1  # every relay fault has exactly one kind
    at_relay = stage not in (Stage.LOCAL, Stage.REPORT)
    assert ("attempts" in names) == at_relay
    assert ("answered" in names) == (at_relay and outcome is not Outcome.RELAY_FAULT)


def test_every_name_fits_the_metric_column() -> None:
    column = metric_buckets.c.metric.type
    assert isinstance(column, sa.String) and column.length is not None
    width = column.length
    names = [m.value for m in Metric] + [bounced(c) for c in BounceClass]
    names += [latency_bucket(b) for b in LATENCY_BOUNDS]
    assert max(len(n) for n in names) <= width
    assert all(is_metric(n) for n in names)
    assert not is_metric("bounced:nonsense") and not is_metric("latency_le:3")


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-10, max_value=1e7))
def test_a_latency_falls_in_the_first_bucket_whose_bound_holds_it(seconds: float) -> None:
    name = latency_bucket(seconds)
    bound = latency_bucket_bound(name)
    assert bound is not None and seconds <= bound
    index = LATENCY_BOUNDS.index(bound)
    assert index == 0 or seconds > LATENCY_BOUNDS[index - 1]
