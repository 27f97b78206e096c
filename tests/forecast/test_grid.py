from __future__ import annotations

import numpy as np

from matih.forecast.config import ColumnRoles
from matih.forecast.grid import load_grid
from matih.warehouse import Warehouse


def test_dense_grid_fills_zero_days_and_reports_gaps(tmp_path):
    wh = Warehouse(tmp_path)
    wh.run("""CREATE TABLE analytics.derived.d AS
              SELECT * FROM (VALUES ('a', DATE '2024-01-01', 3, 'X'), ('a', DATE '2024-01-04', 5, 'X'),
                                    ('b', DATE '2024-01-02', 1, 'Y'), ('b', DATE '2024-01-03', 2, 'Y'),
                                    ('b', DATE '2024-01-04', 4, 'Y'))
                     t(product_id, sale_date, units_sold, category)""")
    g = load_grid(wh, "analytics.derived.d", ColumnRoles())
    assert g.series.tolist() == ["a", "b"] and g.n_days == 4
    assert np.array_equal(g.Y[0], [3, 0, 0, 5])
    assert np.isnan(g.Y[1, 0]) and np.array_equal(g.Y[1, 1:], [1, 2, 4])
    assert g.first.tolist() == [0, 1]
    assert g.gaps is not None and g.gaps.gappy_series == 1 and g.gaps.missing_days == 2
    assert "skip 2 calendar days" in (g.gaps.warning() or "")


def test_rows_sharing_a_day_are_summed(tmp_path):
    wh = Warehouse(tmp_path)
    wh.run("""CREATE TABLE analytics.derived.d AS
              SELECT * FROM (VALUES ('a', DATE '2024-01-01', 3, 10.0), ('a', DATE '2024-01-02', 5, 10.0),
                                    ('a', DATE '2024-01-02', 2, 12.0), ('b', DATE '2024-01-02', 1, 4.0))
                     t(product_id, sale_date, units_sold, avg_selling_price)""")
    g = load_grid(wh, "analytics.derived.d", ColumnRoles())
    assert np.array_equal(g.Y[0], [3, 7]) and np.isnan(g.Y[1, 0]) and g.Y[1, 1] == 1
    assert g.price[0, 1] == 11.0  # the day's prices are averaged
    assert g.selling_days.tolist() == [2, 1]
