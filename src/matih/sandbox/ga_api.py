"""NovaMart's web analytics as the Google Analytics Data API (v1beta) and Google's OAuth token endpoint.

- ``POST /token``: the service-account flow (RFC 7523). The client posts a JWT signed with the
  account's private key; the sandbox checks the signature with the account's public key, the audience
  and the expiry, and answers an access token, as ``oauth2.googleapis.com/token`` does.
- ``POST /v1beta/properties/{id}:runReport``: ``dateRanges``, ``dimensions`` (date, pagePath,
  eventName), ``metrics`` (sessions, screenPageViews, activeUsers, eventCount), ``limit``/``offset``
  paging and ``rowCount``, with Google's error body (``{"error": {"code", "message", "status"}}``).

Like GA4, the last two days are still being processed: their numbers grow when the clock moves on, so
an incremental sync has to re-read them and keep the last version.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import duckdb
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MAX_LIMIT = 250_000
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/analytics.readonly"
_PROCESSING = {0: 0.9, 1: 0.97}
"""Share of a day's final numbers reported while it is still processing (days before the clock)."""

_DIMENSIONS = {"date", "pagePath", "eventName"}
_METRICS = {"sessions", "screenPageViews", "activeUsers", "eventCount"}
_PAGE_METRICS = {"sessions": "sessions", "screenPageViews": "page_views", "activeUsers": "unique_visitors"}


def make_service_account(token_uri: str, project: str = "novamart-sandbox") -> tuple[dict[str, str], str]:
    """A fresh service account (the JSON Google issues) and the PEM of its public key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    key_id = secrets.token_hex(20)
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": key_id,
        "private_key": private_pem,
        "client_email": f"matih-ingest@{project}.iam.gserviceaccount.com",
        "client_id": str(secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    return info, public_pem


def _google_error(code: int, status: str, message: str) -> Response:
    body = {"error": {"code": code, "message": message, "status": status}}
    return Response(orjson.dumps(body), code, media_type="application/json")


@dataclass
class GoogleAnalyticsSandbox:
    """The HTTP application: token endpoint plus ``runReport`` over the world's web sessions."""

    world_db: Path
    property_id: str
    client_email: str
    public_key_pem: str
    clock: Any
    token_uri: str = ""
    duplicate_rows: int = 0
    duplicate_dimension: str = "pagePath"
    _tokens: dict[str, float] = field(default_factory=dict)
    _cache: dict[tuple[Any, ...], pa.Table] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0

    def __post_init__(self) -> None:
        number = self.property_id.split("/")[-1]
        self.app = Starlette(
            routes=[
                Route("/token", self.token, methods=["POST"]),
                Route("/v1beta/properties/{call}", self.run_report, methods=["POST"]),
                Route("/_sandbox/duplicates", self.set_duplicates, methods=["POST"]),
                Route("/healthz", lambda _r: Response(b"ok")),
            ]
        )
        self._number = number

    async def token(self, request: Request) -> Response:
        from google.auth import exceptions, jwt

        # application/x-www-form-urlencoded, as google-auth posts it
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return Response(
                orjson.dumps({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}),
                400,
                media_type="application/json",
            )
        try:
            claims = jwt.decode(
                str(form.get("assertion", "")),
                certs=self.public_key_pem,
                # google-auth addresses its assertions to Google's token endpoint, whatever token_uri says
                audience=[GOOGLE_TOKEN_AUDIENCE, self.token_uri],
            )
        except (ValueError, exceptions.GoogleAuthError):
            return Response(
                orjson.dumps({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
                400,
                media_type="application/json",
            )
        if claims.get("iss") != self.client_email or SCOPE not in str(claims.get("scope", "")).split():
            return Response(
                orjson.dumps({"error": "invalid_scope", "error_description": "Invalid issuer or scope."}),
                400,
                media_type="application/json",
            )
        access = "ya29.sandbox-" + secrets.token_urlsafe(32)
        self._tokens[access] = time.time() + 3600
        body = {"access_token": access, "expires_in": 3599, "token_type": "Bearer"}
        return Response(orjson.dumps(body), media_type="application/json")

    async def set_duplicates(self, request: Request) -> Response:
        raw = orjson.loads(await request.body())
        self.duplicate_rows = int(raw["rows"])
        self.duplicate_dimension = str(raw.get("dimension", "pagePath"))
        return Response(b"{}", media_type="application/json")

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip()
        return bool(token) and self._tokens.get(token, 0) > time.time()

    async def run_report(self, request: Request) -> Response:
        self.requests += 1
        number, _, method = request.path_params["call"].partition(":")
        if method != "runReport":
            return _google_error(404, "NOT_FOUND", f"Method {method!r} not found.")
        if not self._authorised(request):
            return _google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            )
        if number != self._number:
            return _google_error(
                403, "PERMISSION_DENIED", "User does not have sufficient permissions for this property."
            )
        try:
            body = orjson.loads(await request.body())
            dims = [d["name"] for d in body.get("dimensions", [])]
            metrics = [m["name"] for m in body["metrics"]]
            ranges = body["dateRanges"]
            limit = int(body.get("limit", 10_000))
            offset = int(body.get("offset", 0))
        except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as err:
            return _google_error(400, "INVALID_ARGUMENT", f"Invalid request body: {err}")
        unknown = [d for d in dims if d not in _DIMENSIONS] + [m for m in metrics if m not in _METRICS]
        if unknown:
            return _google_error(
                400, "INVALID_ARGUMENT", f"Field {unknown[0]} is not a valid dimension or metric."
            )
        if "date" not in dims:
            return _google_error(
                400, "INVALID_ARGUMENT", "The sandbox serves reports with the date dimension only."
            )
        if not 1 <= limit <= MAX_LIMIT:
            return _google_error(400, "INVALID_ARGUMENT", f"limit must be between 1 and {MAX_LIMIT}.")
        as_of = self.clock.as_of
        try:
            start = self._day(ranges[0]["startDate"], as_of)
            end = min(self._day(ranges[0]["endDate"], as_of), as_of)
        except (KeyError, ValueError, IndexError):
            return _google_error(
                400, "INVALID_ARGUMENT", "dateRanges[0] needs startDate and endDate as YYYY-MM-DD."
            )
        table = self._report(tuple(dims), tuple(metrics), start, end, as_of)
        page = table.slice(offset, limit)
        rows = self._rows(page, dims, metrics)
        if self.duplicate_rows and rows and self.duplicate_dimension in dims:
            # a late re-delivery of rows already sent, with revised numbers: the later copy wins
            rows += self._rows(page.slice(0, self.duplicate_rows), dims, metrics, bump=1)
            self.duplicate_rows = 0
        head = {
            "dimensionHeaders": [{"name": d} for d in dims],
            "metricHeaders": [{"name": m, "type": "TYPE_INTEGER"} for m in metrics],
        }
        tail = {
            "rowCount": table.num_rows,
            "metadata": {"currencyCode": "USD", "timeZone": "Etc/UTC"},
            "kind": "analyticsData#runReport",
        }
        # the rows are rendered as JSON text column-wise (Arrow string kernels), not as Python dicts
        body = b"".join(
            [
                orjson.dumps(head)[:-1],
                b',"rows":[' if rows else b"",
                ",".join(rows).encode(),
                b"]," if rows else b",",
                orjson.dumps(tail)[1:],
            ]
        )
        return Response(body, media_type="application/json")

    @staticmethod
    def _day(text: str, as_of: dt.date) -> dt.date:
        named = {"today": as_of + dt.timedelta(days=1), "yesterday": as_of}
        if text in named:
            return named[text]
        if text.endswith("daysAgo"):
            return as_of + dt.timedelta(days=1) - dt.timedelta(days=int(text.removesuffix("daysAgo")))
        return dt.date.fromisoformat(text)

    @staticmethod
    def _rows(page: pa.Table, dims: list[str], metrics: list[str], bump: int = 0) -> list[str]:
        """Each row as the JSON text GA sends: ``{"dimensionValues":[{"value":"..."}],...}``."""
        if page.num_rows == 0:
            return []

        def quoted(values: Any) -> Any:
            text = pc.cast(values, pa.string())
            text = pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), '"', '\\"')
            return pc.binary_join_element_wise('{"value":"', text, '"}', "")

        metric_values = [pc.add(page[m], bump) if bump else page[m] for m in metrics]
        parts = [
            '{"dimensionValues":[',
            pc.binary_join_element_wise(*[quoted(page[d]) for d in dims], ","),
            '],"metricValues":[',
            pc.binary_join_element_wise(*[quoted(v) for v in metric_values], ","),
            "]}",
        ]
        return list(pc.binary_join_element_wise(*parts, "").to_pylist())

    def _report(
        self, dims: tuple[str, ...], metrics: tuple[str, ...], start: dt.date, end: dt.date, as_of: dt.date
    ) -> pa.Table:
        key = (dims, metrics, start, end, as_of)
        with self._lock:
            if key not in self._cache:
                self._cache = {key: self._query(dims, metrics, start, end, as_of)}
            return self._cache[key]

    def _query(
        self, dims: tuple[str, ...], metrics: tuple[str, ...], start: dt.date, end: dt.date, as_of: dt.date
    ) -> pa.Table:
        processing = " ".join(
            f"WHEN s.date = DATE '{as_of - dt.timedelta(days=lag)}' THEN {share}"
            for lag, share in _PROCESSING.items()
        )
        if "eventName" in dims:
            base = """
                SELECT date, unnest(['session_start', 'page_view', 'add_to_cart']) AS eventName,
                       unnest([sessions, page_views, (page_views * 0.08)::INTEGER]) AS eventCount,
                       sessions, page_views AS screenPageViews, unique_visitors AS activeUsers
                FROM world.source.web_sessions
            """
        else:
            base = """
                SELECT date, page_path AS pagePath, sessions, page_views AS screenPageViews,
                       unique_visitors AS activeUsers, 0 AS eventCount
                FROM world.source.web_sessions
            """
        if "date" not in dims:
            raise ValueError("the sandbox reports need the date dimension")
        others = [d for d in dims if d != "date"]
        dim_sql = ["strftime(s.date, '%Y%m%d') AS date_key", *others]
        met_sql = [
            f"CAST(round(sum({m}) * (CASE {processing} ELSE 1 END)) AS BIGINT) AS {m}" for m in metrics
        ]
        keys = ", ".join(["s.date", *others])
        sql = f"""
            SELECT {", ".join(dim_sql + met_sql)} FROM ({base}) s
            WHERE s.date BETWEEN $start AND $end
            GROUP BY {keys} ORDER BY {keys}
        """
        con = duckdb.connect()
        try:
            con.execute(f"ATTACH '{self.world_db}' AS world (READ_ONLY)")
            table = con.execute(sql, {"start": start, "end": end}).to_arrow_table()
            return table.rename_columns(["date", *table.column_names[1:]])
        finally:
            con.close()
