"""Tables compared on their keys, doubles within a relative tolerance."""

from __future__ import annotations

import pyarrow as pa

from matih.warehouse import Warehouse
from matih.warehouse.compare import differing_rows


def test_rows_are_matched_on_keys_and_doubles_within_tolerance(tmp_path) -> None:
    wh = Warehouse(tmp_path)
    base = {"id": [1, 2, 3], "name": ["a", "b", None], "value": [1.0, 2.0, None]}
    wh.write_arrow("analytics.t.a", pa.table(base))
    cases = {
        "same": (base, 0),
        "last bit": ({**base, "value": [1.0 + 1e-15, 2.0, None]}, 0),
        "beyond tolerance": ({**base, "value": [1.0, 2.0001, None]}, 1),
        "null against value": ({**base, "value": [1.0, 2.0, 3.0]}, 1),
        "text": ({**base, "name": ["a", "B", None]}, 1),
        "missing row": ({k: v[:2] for k, v in base.items()}, 1),
        "extra row": (
            {k: [*v, v[0]] for k, v in {**base, "id": [1, 2, 3]}.items()} | {"id": [1, 2, 3, 4]},
            1,
        ),
    }
    for name, (rows, want) in cases.items():
        wh.write_arrow("analytics.t.b", pa.table(rows))
        assert differing_rows(wh, "analytics.t.a", "analytics.t.b", ["id"]) == want, name
