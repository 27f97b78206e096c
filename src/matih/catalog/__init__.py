"""Discovery: what tables exist, what they hold, and where they come from."""

from matih.catalog.lineage import Edge, LineageGraph, build_lineage, parse_query
from matih.catalog.tables import Catalog, ColumnInfo, TableInfo, annotate, load_catalog, refresh

__all__ = [
    "Catalog",
    "ColumnInfo",
    "Edge",
    "LineageGraph",
    "TableInfo",
    "annotate",
    "build_lineage",
    "load_catalog",
    "parse_query",
    "refresh",
]
