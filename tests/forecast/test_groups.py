"""Grouping rows by label: what np.unique(return_inverse=True) gives, for either kind of string array."""

from __future__ import annotations

import numpy as np
import pytest

from matih.forecast.groups import group_rows


@pytest.mark.parametrize("dtype", [object, str])
def test_groups_equal_numpys_unique(dtype: type) -> None:
    rng = np.random.default_rng(0)
    labels = np.array(["fallback", "Toys & Games", "Électronique", "Books"], dtype=dtype)[
        rng.integers(0, 4, 5000)
    ]
    names, inverse = group_rows(labels)
    expected_names, expected_inverse = np.unique(labels, return_inverse=True)
    assert names.tolist() == expected_names.tolist()
    np.testing.assert_array_equal(inverse, expected_inverse)
    np.testing.assert_array_equal(names[inverse], labels)


def test_no_rows_no_groups() -> None:
    names, inverse = group_rows(np.array([], dtype=object))
    assert len(names) == 0 and len(inverse) == 0
