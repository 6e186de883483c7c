"""routing: deterministic relay choice inside one lane."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaylane.policy.routing import Route, Router, sticky_score
from relaylane.policy.vocabulary import Strategy


def everyone(_: str) -> bool:
    return True


def only(*names: str) -> Callable[[str], bool]:
    return lambda name: name in names


def picks(router: Router, n: int, available: Callable[[str], bool] = everyone) -> list[str | None]:
    return [router.choose("example.com", available) for _ in range(n)]


def route(strategy: Strategy, *relays: tuple[str, int]) -> Route:
    return Route("lane", strategy, tuple(relays))


# --- Route


@pytest.mark.parametrize(
    ("relays", "problem"),
    [
        ((), "at least one relay"),
        ((("a", 1), ("a", 2)), "listed twice: a"),
        ((("a", 0),), "a=0"),
        ((("a", 1), ("b", -3)), "b=-3"),
    ],
)
def test_invalid_routes_are_refused(relays: tuple[tuple[str, int], ...], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Route("lane", Strategy.FAILOVER, relays)


# --- failover


def test_failover_uses_the_first_available_in_order() -> None:
    router = Router(route(Strategy.FAILOVER, ("a", 1), ("b", 1), ("c", 1)))
    assert picks(router, 3) == ["a", "a", "a"]
    assert picks(router, 2, only("b", "c")) == ["b", "b"]
    assert picks(router, 1, only("c")) == ["c"]
    assert picks(router, 1) == ["a"]  # back as soon as a is available again


def test_no_available_relay_gives_none() -> None:
    for strategy in Strategy:
        router = Router(route(strategy, ("a", 1), ("b", 2)))
        assert router.choose("example.com", only()) is None


# --- round robin


def test_round_robin_in_turn() -> None:
    router = Router(route(Strategy.ROUND_ROBIN, ("a", 5), ("b", 1), ("c", 1)))
    assert picks(router, 7) == ["a", "b", "c", "a", "b", "c", "a"]


def test_round_robin_skips_unavailable_without_losing_turns() -> None:
    router = Router(route(Strategy.ROUND_ROBIN, ("a", 1), ("b", 1), ("c", 1)))
    assert picks(router, 1) == ["a"]
    assert picks(router, 4, only("a", "c")) == ["c", "a", "c", "a"]
    assert picks(router, 4) == ["b", "c", "a", "b"]


# --- weighted


def test_weighted_3_to_1_sequence() -> None:
    router = Router(route(Strategy.WEIGHTED, ("a", 3), ("b", 1)))
    assert picks(router, 12) == ["a", "a", "b", "a"] * 3


def test_weighted_5_1_1_is_nginx_smooth_sequence() -> None:
    router = Router(route(Strategy.WEIGHTED, ("a", 5), ("b", 1), ("c", 1)))
    assert picks(router, 14) == list("aabacaa") * 2


def test_weighted_exact_proportions_over_10000_picks() -> None:
    router = Router(route(Strategy.WEIGHTED, ("a", 5), ("b", 3), ("c", 2)))
    assert Counter(picks(router, 10_000)) == {"a": 5_000, "b": 3_000, "c": 2_000}


def test_weighted_every_window_of_the_total_weight_is_exact() -> None:
    router = Router(route(Strategy.WEIGHTED, ("a", 3), ("b", 1)))
    seq = picks(router, 400)
    for start in range(len(seq) - 4 + 1):
        assert Counter(seq[start : start + 4]) == {"a": 3, "b": 1}


def test_weighted_over_available_relays_only() -> None:
    router = Router(route(Strategy.WEIGHTED, ("a", 5), ("b", 3), ("c", 2)))
    assert Counter(picks(router, 5_000, only("b", "c"))) == {"b": 3_000, "c": 2_000}
    # a returns: a fresh cycle over all three, exact again
    assert Counter(picks(router, 1_000)) == {"a": 500, "b": 300, "c": 200}


@given(st.lists(st.integers(1, 12), min_size=1, max_size=6), st.integers(1, 20))
def test_weighted_proportions_are_exact_per_cycle(weights: list[int], cycles: int) -> None:
    relays = tuple((f"r{i}", w) for i, w in enumerate(weights))
    router = Router(Route("lane", Strategy.WEIGHTED, relays))
    total = sum(weights)
    seq = picks(router, total * cycles)
    assert Counter(seq) == {name: w * cycles for name, w in relays}
    for start in range(0, len(seq) - total + 1, max(1, total // 3)):
        assert Counter(seq[start : start + total]) == {name: w for name, w in relays}


def test_weighted_is_deterministic() -> None:
    make = lambda: Router(route(Strategy.WEIGHTED, ("a", 7), ("b", 2), ("c", 4)))  # noqa: E731
    assert picks(make(), 500) == picks(make(), 500)


# --- sticky


def test_sticky_keeps_a_domain_on_one_relay_case_insensitively() -> None:
    router = Router(route(Strategy.STICKY, ("a", 1), ("b", 1), ("c", 1)))
    first = router.choose("Example.COM", everyone)
    assert all(router.choose("example.com", everyone) == first for _ in range(20))
    assert router.choose("EXAMPLE.com.", everyone) == first


def test_sticky_hash_is_pinned() -> None:
    # Pinned: changing the hash moves every domain to another relay; do it only on purpose.
    assert sticky_score("example.com", "a") == 7076632752260151659
    router = Router(route(Strategy.STICKY, ("a", 1), ("b", 1), ("c", 1)))
    domains = ["gmail.com", "yahoo.com", "outlook.com", "example.org"]
    assert [router.choose(d, everyone) for d in domains] == ["c", "b", "c", "a"]


def test_sticky_spreads_domains() -> None:
    router = Router(route(Strategy.STICKY, ("a", 1), ("b", 1), ("c", 1)))
    counts = Counter(router.choose(f"d{i}.example", everyone) for i in range(3_000))
    assert set(counts) == {"a", "b", "c"}
    assert all(850 <= n <= 1_150 for n in counts.values()), counts


def test_sticky_domains_move_only_while_their_relay_is_away() -> None:
    router = Router(route(Strategy.STICKY, ("a", 1), ("b", 1), ("c", 1)))
    domains = [f"d{i}.example" for i in range(500)]
    before = {d: router.choose(d, everyone) for d in domains}
    during = {d: router.choose(d, only("a", "c")) for d in domains}
    after = {d: router.choose(d, everyone) for d in domains}
    moved = {d for d in domains if before[d] != during[d]}
    assert moved == {d for d in domains if before[d] == "b"}
    assert moved  # some domains were on b
    assert after == before


@given(
    st.lists(st.text(min_size=1, max_size=8), min_size=2, max_size=6, unique=True),
    st.lists(st.text(max_size=30), min_size=1, max_size=30),
    st.data(),
)
def test_sticky_removing_one_relay_moves_only_its_domains(
    names: list[str], domains: list[str], data: st.DataObject
) -> None:
    gone = data.draw(st.sampled_from(names))
    router = Router(Route("lane", Strategy.STICKY, tuple((n, 1) for n in names)))
    for domain in domains:
        before = router.choose(domain, everyone)
        during = router.choose(domain, lambda n: n != gone)
        assert during != gone
        if before != gone:
            assert during == before


# --- every strategy


@given(
    st.sampled_from(list(Strategy)),
    st.lists(
        st.tuples(st.text(min_size=1, max_size=6), st.integers(1, 9)),
        min_size=1,
        max_size=5,
        unique_by=lambda r: r[0],
    ),
    st.lists(st.tuples(st.text(max_size=12), st.sets(st.integers(0, 4))), max_size=30),
)
def test_never_outside_the_route_and_never_an_unavailable_relay(
    strategy: Strategy,
    relays: list[tuple[str, int]],
    attempts: list[tuple[str, set[int]]],
) -> None:
    router = Router(Route("lane", strategy, tuple(relays)))
    names = [name for name, _ in relays]
    for domain, down in attempts:
        asked: list[str] = []

        def available(name: str, down: set[int] = down, asked: list[str] = asked) -> bool:
            asked.append(name)
            return names.index(name) not in down

        chosen = router.choose(domain, available)
        assert asked == names  # asked once about each relay of the lane, in order
        up = [n for i, n in enumerate(names) if i not in down]
        if up:
            assert chosen in up
        else:
            assert chosen is None
