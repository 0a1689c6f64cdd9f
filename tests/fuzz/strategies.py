"""Hypothesis strategies shared by the parser property tests: JSON-like values and one-step mutations of a document."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(),  # NaN and infinities too: YAML has .nan and .inf, Python's json module reads NaN
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)


def mutations(document: Any) -> st.SearchStrategy[Any]:
    """`document` with one value anywhere replaced by any JSON value, or one mapping key dropped."""

    @st.composite
    def mutate(draw: st.DrawFn) -> Any:
        out = copy.deepcopy(document)
        node: Any = out
        while True:  # walk down a random path, stopping at a random depth
            keys = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if not isinstance(child, dict | list) or not child or draw(st.booleans()):
                if isinstance(node, dict) and draw(st.booleans()):
                    del node[key]
                else:
                    node[key] = draw(json_values)
                break
            node = child
        return out

    return mutate()
