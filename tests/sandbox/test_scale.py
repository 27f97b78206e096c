"""Seed scale (``make test-slow``): the full 45,291-product world has the seed's shape.

Timings live in benchmarks/seed_scale.py, not here.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from matih.sandbox import WorldConfig, generate_world


@pytest.mark.slow
def test_seed_scale_world_resembles_the_seed():
    world = generate_world(WorldConfig(products=45_291, seed=7, end_date=dt.date(2025, 12, 15), days=715))
    rows = world.row_counts()
    assert rows["products"] == rows["inventory"] == rows["product_categories"] == 45_291
    assert 20e6 < rows["order_items"] < 45e6  # the seed: 38.7M
    assert 100e3 < rows["supplier_shipments"] < 300e3  # the seed: 156K
    items = world.tables["order_items"]
    product_index = items.column("product_id").combine_chunks().indices.to_numpy()
    per_product = np.bincount(product_index, minlength=45_291)
    assert (per_product > 0).mean() > 0.99
