"""Feedback-ID on bulk lanes: per stream, never per message, never on transactional mail."""

from __future__ import annotations

from pathlib import Path

from relaylane.delivery.addresses import parse_address
from relaylane.delivery.compose import compose
from relaylane.delivery.submit import Origin, build_message
from tests.helpers import lane, make_config, relay


def built(tmp_path: Path, lane_name: str, **kw: object):  # type: ignore[no-untyped-def]
    cfg = make_config(
        "sqlite://",
        [relay("r1", 1), relay("r2", 2)],
        [lane("tx", ["r1"]), lane("news", ["r2"], purpose="marketing")],
        tmp_path,
    )
    composed = compose(from_="News <hello@news.acme.test>", subject="Hi", text="x\n", **kw)  # type: ignore[arg-type]
    rcpts = [parse_address("a@example.test"), parse_address("b@example.test")]
    origin = Origin(metadata=(("campaign", "spring:sale"),))
    return build_message(cfg, lane_name, composed, rcpts, 0.0, origin=origin)


def test_bulk_lanes_carry_one_feedback_id_per_stream(tmp_path: Path) -> None:
    msg = built(tmp_path, "news")
    lines = {d.header_prefix.split(b"Feedback-ID: ")[1].split(b"\r\n")[0] for d in msg.deliveries}
    assert lines == {b"spring-sale:news:marketing:acme.test"}  # same for every recipient


def test_transactional_mail_has_none_and_an_existing_one_is_kept(tmp_path: Path) -> None:
    assert all(b"Feedback-ID" not in d.header_prefix for d in built(tmp_path, "tx").deliveries)
    own = built(tmp_path, "news", headers={"Feedback-ID": "x:y:z:acme"})
    assert all(b"Feedback-ID" not in d.header_prefix for d in own.deliveries)
