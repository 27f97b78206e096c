"""Table names as the seed's SQL writes them: ``catalog.schema.table``.

The catalog is the warehouse file that holds the table, so ``postgresql.shopify.orders`` is table ``orders``
in schema ``shopify`` of ``postgresql.duckdb``. A two-part ``schema.table`` is in :data:`DEFAULT_CATALOG`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from matih.exceptions import WarehouseError

DEFAULT_CATALOG = "analytics"
"""The catalog of two-part names, and the one every connection starts in (``USE``)."""

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_identifier(text: str) -> bool:
    """Whether ``text`` is a plain SQL identifier, safe to paste into a statement unquoted."""
    return bool(_IDENT.match(text))


@dataclass(frozen=True)
class TableName:
    catalog: str
    schema: str
    name: str

    @classmethod
    def parse(cls, dotted: str) -> TableName:
        parts = dotted.split(".")
        if len(parts) == 2:
            parts = [DEFAULT_CATALOG, *parts]
        if len(parts) != 3 or not all(is_identifier(p) for p in parts):
            raise WarehouseError(
                f"table name {dotted!r} must be catalog.schema.table (e.g. analytics.derived.demand_features)"
            )
        return cls(*parts)

    def sibling(self, name: str) -> TableName:
        """Table ``name`` in the same schema (checked like any parsed name)."""
        return TableName.parse(f"{self.catalog}.{self.schema}.{name}")

    def __str__(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.name}"
