"""Hypothesis strategies the provider webhook tests share."""

from __future__ import annotations

from hypothesis import strategies as st

# Any JSON value, a few levels deep: what an attacker or a broken provider might post.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
