"""``source-google-analytics-data-api``: GA4 reports through the Data API's ``runReport``.

Authentication is Google's service-account flow, done by the ``google-auth`` library: a JWT signed
with the account's private key is exchanged for an access token at the ``token_uri`` of the
credentials JSON (``${GA_SERVICE_ACCOUNT_JSON}``).

Streams (one report each, by day): ``daily_active_users`` (date; activeUsers), ``pages`` (date,
pagePath; sessions, screenPageViews, activeUsers), ``events`` (date, eventName; eventCount).
Incremental by date: each sync re-reads from a few days before the last loaded date, because GA keeps
revising recent days, and the spec's ``deduplication`` keeps the last version of a (date, pagePath)
row. ``transformation.schema_mapping`` renames report fields (pagePath -> page_url).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from matih.exceptions import SourceError
from matih.sources.connector import Connector, StreamInfo, SyncContext
from matih.sources.http import ApiClient

API_ROOT = "https://analyticsdata.googleapis.com"
SCOPES = ["https://www.googleapis.com/auth/analytics.readonly"]
PAGE_ROWS = 100_000
LOOKBACK_DAYS = 3
"""GA revises the last days of data for up to 72 hours; re-reading them keeps the warehouse current."""

REPORTS: dict[str, tuple[list[str], list[str]]] = {
    "daily_active_users": (["date"], ["activeUsers"]),
    "pages": (["date", "pagePath"], ["sessions", "screenPageViews", "activeUsers"]),
    "events": (["date", "eventName"], ["eventCount"]),
}


def _access_token(ctx: SyncContext) -> str:
    from google.auth import exceptions
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    raw = ctx.config["credentials"]["credentials_json"]
    try:
        info = json.loads(raw)
        credentials = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    except (ValueError, KeyError) as err:
        # the message of a JSON or key error could quote the key material: keep only its type
        raise SourceError(
            f"the service-account credentials are not valid JSON key material ({type(err).__name__}); set "
            "the variable named in credentials.credentials_json to the key file's contents",
            source=ctx.source,
        ) from None
    try:
        credentials.refresh(Request())
    except exceptions.RefreshError as err:
        reason = str(err.args[0]) if err.args else "refused"
        raise SourceError(
            f"Google refused the service account {info.get('client_email', '?')} ({reason[:200]}); check "
            "the key is current and the account has the Viewer role on the property",
            source=ctx.source,
        ) from None
    except exceptions.TransportError as err:
        # a transport error is about the connection (it quotes the URL, never the key)
        cause = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise SourceError(
            f"cannot reach the token endpoint {info.get('token_uri', '?')} ({cause}); check the network "
            "path to it, then sync again",
            source=ctx.source,
            transient=True,
        ) from None
    return str(credentials.token)


def _explain(property_id: str) -> Any:
    def explain(status: int, body: str) -> str:
        message = ""
        try:
            message = orjson.loads(body)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = body[:200]
        if status == 401:
            return f"Google rejected the access token ({message})"
        if status == 403:
            return (
                f"the service account may not read {property_id} ({message}); add it as a Viewer in GA4's "
                "property access management"
            )
        return f"{property_id} not found ({message}); check config.property_id"

    return explain


def _report_rows(
    client: ApiClient, ctx: SyncContext, stream: str, start: dt.date, dims: list[str], metrics: list[str]
) -> Iterator[pa.Table]:
    path = f"v1beta/{ctx.config['property_id']}:runReport"
    offset = 0
    while True:
        body = {
            "dateRanges": [{"startDate": start.isoformat(), "endDate": "yesterday"}],
            "dimensions": [{"name": d} for d in dims],
            "metrics": [{"name": m} for m in metrics],
            "limit": PAGE_ROWS,
            "offset": offset,
            "keepEmptyRows": False,
        }
        rows, total = _parse_report(client.request("POST", path, stream=stream, json=body).content)
        if len(rows):
            columns: dict[str, Any] = {}
            for i, name in enumerate(dims):
                columns[name] = _cell(rows, "dimensionValues", i)
            for i, name in enumerate(metrics):
                columns[name] = pc.cast(_cell(rows, "metricValues", i), pa.int64())
            columns["date"] = pc.strptime(columns["date"], "%Y%m%d", "s").cast(pa.date32())
            yield pa.table(columns)
        # pages are addressed by the limit asked for, whatever a page held (re-delivered rows included)
        offset += PAGE_ROWS
        if not len(rows) or offset >= total:
            return


_VALUES = pa.list_(pa.struct([("value", pa.string())]))
_REPORT = pa.schema(
    [
        ("rows", pa.list_(pa.struct([("dimensionValues", _VALUES), ("metricValues", _VALUES)]))),
        ("rowCount", pa.int64()),
    ]
)


def _parse_report(content: bytes) -> tuple[pa.StructArray, int]:
    """A runReport response parsed by Arrow's JSON reader: (rows, rowCount); other fields ignored."""
    if b"\n" in content:  # Google pretty-prints; the reader takes one document per line
        content = orjson.dumps(orjson.loads(content))
    options = pj.ParseOptions(explicit_schema=_REPORT, unexpected_field_behavior="ignore")
    # a document may not straddle the reader's blocks: one block holds the whole response
    reading = pj.ReadOptions(block_size=max(1 << 20, len(content) + 1))
    table = pj.read_json(io.BytesIO(content), read_options=reading, parse_options=options)
    rows = pc.list_flatten(table["rows"].combine_chunks())
    total = table["rowCount"][0].as_py() or 0
    return rows, int(total)


def _cell(rows: pa.StructArray, kind: str, i: int) -> pa.Array:
    return pc.struct_field(pc.list_element(pc.struct_field(rows, kind), i), "value")


def _last_wins(table: pa.Table, key: list[str], keep: str) -> pa.Table:
    """One row per ``key``: the last delivered (``last_write_wins``) or the first."""
    if table.num_rows == 0:
        return table
    indexed = table.append_column("_order", pa.array(range(table.num_rows), pa.int64()))
    pick = "max" if keep == "last_write_wins" else "min"
    chosen = indexed.group_by(key, use_threads=False).aggregate([("_order", pick)])
    rows = pc.sort_indices(chosen[f"_order_{pick}"])
    return table.take(pc.take(chosen[f"_order_{pick}"], rows))


def _resources(ctx: SyncContext) -> list[Any]:
    mapping: dict[str, str] = dict(ctx.transformation.schema_mapping) if ctx.transformation else {}
    dedup = ctx.transformation.deduplication if ctx.transformation else None
    resources = []
    for stream in ctx.streams:
        if stream.name not in REPORTS:
            raise SourceError(
                f"unknown stream (offered: {', '.join(REPORTS)})", source=ctx.source, stream=stream.name
            )
        dims, metrics = REPORTS[stream.name]
        # the dedup key applies where all its fields are in the report; otherwise the report's dims are
        key_fields = list(dedup.key) if dedup and set(dedup.key) <= set(dims) else dims
        key = [mapping.get(f, f) for f in key_fields]
        keep = dedup.strategy if dedup else "last_write_wins"
        incremental = stream.sync_mode == "incremental"

        resources.append(_report_resource(ctx, stream.name, dims, metrics, key, keep, incremental, mapping))
    return resources


def _report_resource(
    ctx: SyncContext,
    name: str,
    dims: list[str],
    metrics: list[str],
    key: list[str],
    keep: str,
    incremental: bool,
    mapping: dict[str, str],
) -> Any:
    import dlt

    first_day = dt.date.fromisoformat(str(ctx.config["date_ranges_start_date"]))

    def report() -> Iterator[pa.Table]:
        state = dlt.current.resource_state()
        start = first_day
        if incremental and state.get("cursor"):
            start = max(
                first_day, dt.date.fromisoformat(state["cursor"]) - dt.timedelta(days=LOOKBACK_DAYS - 1)
            )
        with ApiClient(
            ctx.config.get("base_url") or API_ROOT,
            headers={"Authorization": f"Bearer {_access_token(ctx)}"},
            policy=ctx.policy,
            source=ctx.source,
            explain=_explain(ctx.config["property_id"]),
            on_retry=ctx.note_retry,
        ) as client:
            parts = list(_report_rows(client, ctx, name, start, dims, metrics))
        if not parts:
            return
        table = pa.concat_tables(parts).rename_columns([mapping.get(c, c) for c in parts[0].column_names])
        table = _last_wins(table, key, keep)
        newest = pc.max(table["date"]).as_py()
        if newest and (not state.get("cursor") or newest.isoformat() > state["cursor"]):
            state["cursor"] = newest.isoformat()
        yield table

    strategy = "upsert" if keep == "last_write_wins" else "insert-only"
    return dlt.resource(  # type: ignore[call-overload]
        report,
        name=name,
        primary_key=key,
        write_disposition={"disposition": "merge", "strategy": strategy} if incremental else "replace",
    )


CONNECTOR = Connector(
    name="source-google-analytics-data-api",
    streams={
        name: StreamInfo((name,), cursor_field="date", custom_keys=False, state_resource=name)
        for name, (dims, _) in REPORTS.items()
    },
    destination=lambda _spec, _name: ("google_analytics", "ga4"),
    resources=_resources,
    transformation=True,
)

__all__ = ["CONNECTOR"]
