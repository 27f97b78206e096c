"""Rows grouped by a label (the model that answers them, their category): every forecast step of a batch
does this over 634K rows at the seed's scale."""

from __future__ import annotations

import numpy as np
import pandas as pd


def group_rows(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct labels, sorted; each row's index into them), as ``np.unique(labels,
    return_inverse=True)`` gives them. Hashing instead of sorting: a seed-scale batch's model names group
    in 0.03 s as Python strings (0.1 s as numpy's fixed-width ones) instead of 0.3 s."""
    codes, uniques = pd.factorize(np.asarray(labels), sort=True)
    return np.asarray(uniques), codes.astype(np.intp, copy=False)
