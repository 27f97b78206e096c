"""Property-based: any change to any value of the seed's documents gives a model or a SpecError that
says where, never another exception (a crash would reach the user as a stack trace)."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matih.exceptions import SpecError
from matih.specs import parse_spec
from matih.specs.loader import SPEC_KINDS
from tests.conftest import EXAMPLE

SEEDS = [
    (kind, path.name, json.loads(path.read_text()))
    for kind in SPEC_KINDS
    for path in sorted((EXAMPLE / kind).glob("*.json"))
]
#: values a user might put anywhere: wrong types, empty and odd text, grammar look-alikes
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "0 * * * *",
            "*/0 * * * *",
            "60 24 * * *",
            "5m",
            "-1s",
            "2h30",
            "last_0_days",
            "mape_overall > 0.12 for 3 consecutive days",
            "mape > for days",
            "${",
            "${X}",
        ]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _set(node: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


@pytest.mark.parametrize(("kind", "name", "seed"), SEEDS, ids=[f"{k}/{n}" for k, n, _ in SEEDS])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_value_anywhere_gives_a_model_or_a_located_spec_error(kind, name, seed, data) -> None:
    document = copy.deepcopy(seed)
    path = data.draw(st.sampled_from(_paths(document)))
    _set(document, path, data.draw(VALUES))
    try:
        parse_spec(document, kind, file=f"{kind}/{name}")
    except SpecError as err:
        assert err.file == f"{kind}/{name}" and str(err)


GRAMMAR_TEXT = st.text(max_size=40) | st.from_regex(
    r"[a-z_]{1,12} ?[<>=!]{1,2} ?-?[0-9.]{1,6}( for -?[0-9]{1,3} consecutive days?)?", fullmatch=True
)


@settings(max_examples=400, deadline=None)
@given(text=GRAMMAR_TEXT)
def test_the_small_grammars_answer_a_value_or_a_value_error(text: str) -> None:
    """Cron, durations and the monitor and routing conditions: pydantic turns a ValueError into the
    located SpecError; any other exception would escape as a crash."""
    from matih.specs.common import Duration, _check_cron
    from matih.specs.monitor import parse_retrain_condition
    from matih.specs.routing import parse_reassign_condition

    for parse in (_check_cron, Duration.parse, parse_retrain_condition, parse_reassign_condition):
        with contextlib.suppress(ValueError):
            parse(text)
