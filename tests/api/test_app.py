"""The HTTP API over real HTTP: catalog, lineage, SQL, keys and roles, errors a user can act on."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import EDITOR_KEY, LIMITED_KEY, READER_KEY


def test_catalog_search_and_card(api_url) -> None:
    found = httpx.get(f"{api_url}/catalog/search", params={"column": "product_id"}).json()
    roles = {row["table"]: row["role"] for row in found}
    assert roles["postgresql.shopify.products"] == "PK"
    assert roles["postgresql.shopify.order_items"] == "FK"
    card = httpx.get(f"{api_url}/catalog/tables/postgresql.inventory.inventory").json()
    assert card["rows"] == 300 and card["lineage_in"] == ["source:inventory-db"]
    assert "analytics.derived.demand_features" in card["lineage_out"]
    missing = httpx.get(f"{api_url}/catalog/tables/nope.nope.nope")
    assert missing.status_code == 404 and "no table" in missing.json()["detail"]
    assert len(httpx.get(f"{api_url}/catalog/tables").json()) >= 12


def test_lineage_with_columns(api_url) -> None:
    body = httpx.get(
        f"{api_url}/lineage/analytics.derived.demand_features",
        params={"columns": True, "direction": "upstream"},
    ).json()
    assert body["columns"]["is_low_stock"] == [
        "postgresql.inventory.inventory.quantity_on_hand",
        "postgresql.inventory.inventory.reorder_point",
    ]
    assert {e["source"] for e in body["edges"]} >= {"postgresql.shopify.orders", "source:shopify-orders"}


def test_query_returns_columns_rows_and_truncation(api_url) -> None:
    sql = "SELECT product_id, sale_date, units_sold FROM analytics.derived.demand_features ORDER BY 1, 2"
    body = httpx.post(f"{api_url}/query", json={"sql": sql, "limit": 5}).json()
    assert [c["name"] for c in body["columns"]] == ["product_id", "sale_date", "units_sold"]
    assert body["row_count"] == 5 and body["truncated"] is True and body["elapsed"] >= 0
    assert isinstance(body["rows"][0][1], str)  # dates as ISO text
    trino = "SELECT DATE '2026-01-01' + INTERVAL '1' DAY AS d"
    assert httpx.post(f"{api_url}/query", json={"sql": trino, "dialect": "trino"}).json()["rows"] == [
        ["2026-01-02T00:00:00"]
    ]
    param = {
        "sql": "SELECT count(*) AS n FROM analytics.derived.demand_features WHERE category = $c",
        "params": {"c": "Beauty"},
    }
    assert httpx.post(f"{api_url}/query", json=param).json()["rows"][0][0] > 0


def test_writes_need_the_editor_role(api_url) -> None:
    create = {"sql": "CREATE TABLE analytics.scratch.t AS SELECT 1 AS x"}
    for headers in ({}, {"X-API-Key": READER_KEY}):
        refused = httpx.post(f"{api_url}/query", json=create, headers=headers)
        assert refused.status_code == 403 and "editor" in refused.json()["detail"]
    exists = {"sql": "SELECT count(*) FROM information_schema.tables WHERE table_name = 't'"}
    assert httpx.post(f"{api_url}/query", json=exists).json()["rows"] == [[0]]
    assert httpx.post(f"{api_url}/query", json=create, headers={"X-API-Key": "wrong"}).status_code == 401
    done = httpx.post(f"{api_url}/query", json=create, headers={"Authorization": f"Bearer {EDITOR_KEY}"})
    assert done.status_code == 200, done.text
    assert httpx.post(f"{api_url}/query", json=exists).json()["rows"] == [[1]]


def test_every_write_is_audited_with_who_what_when_and_outcome_and_no_values(api_url, demo_run) -> None:
    from matih.api.audit import entries

    ws = demo_run.workspace
    before = len(entries(ws))
    secret = "s3cr3t-literal-42"
    create = {"sql": f"CREATE OR REPLACE TABLE analytics.scratch.audited AS SELECT '{secret}' AS x"}
    assert httpx.post(f"{api_url}/query", json=create, headers={"X-API-Key": READER_KEY}).status_code == 403
    assert httpx.post(f"{api_url}/query", json=create, headers={"X-API-Key": EDITOR_KEY}).status_code == 200
    broken = {"sql": "INSERT INTO analytics.scratch.audited SELECT * FROM no_such_table"}
    assert httpx.post(f"{api_url}/query", json=broken, headers={"X-API-Key": EDITOR_KEY}).status_code == 400
    httpx.post(f"{api_url}/query", json={"sql": "SELECT 1"}, headers={"X-API-Key": EDITOR_KEY})  # a read
    new = entries(ws)[before:]
    assert [(e["who"], e["role"], e["outcome"], e["status"]) for e in new] == [
        ("key:MATIH_TEST_READER_KEY", "reader", "refused", 403),
        ("key:MATIH_TEST_EDITOR_KEY", "editor", "ok", 200),
        ("key:MATIH_TEST_EDITOR_KEY", "editor", "failed", 400),
    ]
    assert all(e["action"] == "POST /query" and e["at"] and e["sql_sha256"] for e in new)
    assert new[1]["statements"] == ["CREATE"] and new[1]["tables"] == ["analytics.scratch.audited"]
    assert new[2]["statements"] == ["INSERT"] and "no_such_table" in new[2]["error"]
    text = (ws.state / "audit" / "api.jsonl").read_text()
    for value in (secret, READER_KEY, EDITOR_KEY, LIMITED_KEY):
        assert value not in text


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(api_url) -> None:
    limited = {"X-API-Key": LIMITED_KEY}
    answers = [httpx.get(f"{api_url}/catalog/tables", headers=limited) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    detail = refused.json()["detail"]
    assert "3/minute" in detail and "MATIH_TEST_LIMITED_KEY" in detail and LIMITED_KEY not in detail
    # the limit is the key's own: other callers go on
    assert httpx.get(f"{api_url}/catalog/tables", headers={"X-API-Key": READER_KEY}).status_code == 200
    assert httpx.get(f"{api_url}/catalog/tables").status_code == 200


def test_errors_name_the_line_and_column(api_url) -> None:
    bad = httpx.post(f"{api_url}/query", json={"sql": "SELECT product_id,\n  FROM WHERE"})
    assert bad.status_code == 400
    detail = bad.json()["detail"]
    assert detail["line"] == 2 and detail["column"] is not None and "syntax" in detail["message"].lower()
    missing = httpx.post(f"{api_url}/query", json={"sql": "SELECT * FROM analytics.derived.nope"})
    assert missing.status_code == 400 and "nope" in missing.json()["detail"]["message"]
    # readers cannot reach the file system through SQL
    files = httpx.post(f"{api_url}/query", json={"sql": "SELECT * FROM read_csv('/etc/passwd')"})
    assert files.status_code == 400 and "disabled" in files.json()["detail"]["message"]


def test_unterminated_quotes_and_noise_are_400_not_500(api_url) -> None:
    for sql in ('SELECT "abc', 'õã󍫃}󶠺õ􅅦"¬ÇS񢤤d®æ', "SELECT 'x"):
        reply = httpx.post(f"{api_url}/query", json={"sql": sql})
        assert reply.status_code == 400, (sql, reply.text)
        assert "syntax" in reply.json()["detail"]["message"].lower()


@pytest.mark.parametrize("name", ["0", "nope", "x.y", "shopify"])
def test_unknown_lineage_nodes_are_404(api_url, name: str) -> None:
    answer = httpx.get(f"{api_url}/lineage/{name}")
    assert answer.status_code == 404, answer.text
    assert "no table or node named" in answer.json()["detail"]


def test_lineage_right_after_a_query_still_shows_the_model_versions(api_url) -> None:
    """The API holds its database open between requests, and a process may attach a DuckDB file once:
    lineage reads the forecast tables through that same database instead of a second one."""
    assert httpx.post(f"{api_url}/query", json={"sql": "SELECT 1"}).status_code == 200
    answer = httpx.get(f"{api_url}/lineage/analytics.forecasts.demand_14d")
    assert answer.status_code == 200, answer.text
    assert any("@v" in e["source"] for e in answer.json()["edges"])


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
        "ATTACH '{tmp}/evil.duckdb' AS evil",
        "COPY (SELECT 42 AS x) TO '{tmp}/leak.csv'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
    ],
    ids=["read_csv", "read_text", "glob", "http", "attach", "copy_to", "install", "load", "set"],
)
def test_sql_through_the_api_reaches_no_file_network_or_extension_even_for_editors(
    api_url, tmp_path, sql: str
) -> None:
    answer = httpx.post(
        f"{api_url}/query", json={"sql": sql.format(tmp=tmp_path)}, headers={"X-API-Key": EDITOR_KEY}
    )
    assert answer.status_code == 400, answer.text
    assert "root:" not in answer.text  # nothing of the file came back
    assert list(tmp_path.iterdir()) == []  # nothing was written or attached
    # and the connection still refuses files afterwards (SET did not stick)
    again = httpx.post(
        f"{api_url}/query",
        json={"sql": "SELECT * FROM read_csv('/etc/passwd')"},
        headers={"X-API-Key": EDITOR_KEY},
    )
    assert again.status_code == 400 and "disabled" in again.text


def test_a_session_cookie_stands_for_its_key_until_tampered_expired_or_removed(api_url, demo_run) -> None:
    from matih.api.auth import SESSION_COOKIE, Principal, session_cookie

    ws = demo_run.workspace
    signed = httpx.post(f"{api_url}/ui/signin", json={"key": EDITOR_KEY})
    assert signed.status_code == 200 and signed.json() == {
        "who": "key:MATIH_TEST_EDITOR_KEY",
        "role": "editor",
    }
    header = signed.headers["set-cookie"].lower()
    assert (
        "httponly" in header
        and "samesite=strict" in header
        and EDITOR_KEY not in signed.headers["set-cookie"]
    )
    cookie = signed.cookies[SESSION_COOKIE]
    me = httpx.get(f"{api_url}/auth/me", cookies={SESSION_COOKIE: cookie}).json()
    assert me["who"] == "key:MATIH_TEST_EDITOR_KEY" and me["role"] == "editor"
    # a reader's cookie with the editor's name swapped in fails its signature: the caller is local again
    _, signature = cookie.split(".")
    forged = (
        session_cookie(ws, Principal("reader", "key:MATIH_TEST_READER_KEY")).split(".")[0] + "." + signature
    )
    assert (
        httpx.get(f"{api_url}/auth/me", cookies={SESSION_COOKIE: forged}).json()["who"].startswith("local:")
    )
    expired = session_cookie(ws, Principal("editor", "key:MATIH_TEST_EDITOR_KEY"), seconds=-1)
    assert httpx.get(f"{api_url}/auth/me", cookies={SESSION_COOKIE: expired}).json()["role"] == "reader"
    gone = session_cookie(ws, Principal("editor", "key:NOT_IN_MATIH_YAML"))
    assert httpx.get(f"{api_url}/auth/me", cookies={SESSION_COOKIE: gone}).json()["role"] == "reader"
    assert httpx.post(f"{api_url}/ui/signin", json={"key": "wrong"}).status_code == 401
    out = httpx.post(f"{api_url}/ui/signout", cookies={SESSION_COOKIE: cookie})
    assert SESSION_COOKIE in out.headers["set-cookie"] and "max-age=0" in out.headers["set-cookie"].lower()


def test_starting_a_run_needs_an_editor_and_unknown_pipelines_are_named(api_url, demo_run) -> None:
    from matih.api.audit import entries

    listed = httpx.get(f"{api_url}/pipelines").json()
    ids = {p["pipeline_id"]: p for p in listed}
    assert {"demand-forecast-daily", "sync-shopify-orders", "batch-demand-forecaster"} <= set(ids)
    assert [t["task_id"] for t in ids["demand-forecast-daily"]["tasks"]][:2] == [
        "sync_sources",
        "feature_engineering",
    ]
    assert ids["demand-forecast-daily"]["tasks"][1]["depends_on"] == ["sync_sources"]
    refused = httpx.post(
        f"{api_url}/pipelines/batch-demand-forecaster/runs", headers={"X-API-Key": READER_KEY}
    )
    assert refused.status_code == 403 and "editor role" in refused.json()["detail"]
    assert entries(demo_run.workspace)[-1]["outcome"] == "refused"
    unknown = httpx.post(f"{api_url}/pipelines/nope/runs", headers={"X-API-Key": EDITOR_KEY})
    assert unknown.status_code == 400 and "batch-demand-forecaster" in unknown.json()["detail"]["message"]
    assert httpx.get(f"{api_url}/runs/x/tasks/..%2F..%2Fetc/log").status_code == 404


def test_sources_show_streams_runs_and_next_syncs(api_url) -> None:
    found = {s["name"]: s for s in httpx.get(f"{api_url}/sources").json()}
    orders = found["shopify-orders"]
    assert orders["sync_pipeline"] == "sync-shopify-orders" and orders["schedule"] == "0 * * * *"
    assert {s["stream"] for s in orders["streams"]} >= {"orders", "products"}
    assert orders["runs"][0]["status"] == "succeeded" and orders["runs"][0]["rows"] > 0
    assert len(orders["next_runs"]) == 3


def test_query_export_explain_and_cancel(api_url) -> None:
    import io

    import pyarrow.parquet as pq

    sql = {"sql": "SELECT product_id FROM postgresql.shopify.products ORDER BY 1"}
    parquet = httpx.post(f"{api_url}/query/export", json={**sql, "format": "parquet"})
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == int(parquet.headers["x-row-count"]) > 0
    csv = httpx.post(f"{api_url}/query/export", json=sql)
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.count("\n") == table.num_rows + 1
    write = {"sql": "CREATE TABLE analytics.scratch.x AS SELECT 1"}
    assert httpx.post(f"{api_url}/query/export", json=write).status_code == 403
    assert httpx.post(f"{api_url}/query/explain", json=write).status_code == 403
    assert "SCAN" in httpx.post(f"{api_url}/query/explain", json=sql).json()["plan"].upper()
    # nothing runs under this id: the cancel reaches nothing and says so
    assert httpx.post(f"{api_url}/query/idle-1/cancel").json() == {"query_id": "idle-1", "cancelled": False}


def test_the_lineage_graph_is_rebuilt_when_a_query_changes(api_url, demo_run) -> None:
    ws = demo_run.workspace
    before = httpx.get(f"{api_url}/lineage").json()
    assert httpx.get(f"{api_url}/lineage").json() == before  # served from the cache, unchanged
    extra = ws.root / "queries" / "lineage_probe.sql"
    extra.write_text("SELECT product_id FROM analytics.derived.demand_features")
    try:
        after = httpx.get(f"{api_url}/lineage").json()
        assert any(n["id"] == "query:lineage_probe" for n in after["nodes"])
    finally:
        extra.unlink()
    assert httpx.get(f"{api_url}/lineage").json() == before


def test_the_models_list_follows_the_registry(api_url, demo_run) -> None:
    from matih.forecast.registry import Registry

    first = httpx.get(f"{api_url}/ml/models").json()
    assert httpx.get(f"{api_url}/ml/models").json() == first  # kept while the registry is unchanged
    registry = Registry(demo_run.workspace)
    name = first[0]["name"]
    version = first[0]["versions"][0]["version"]
    registry.client.set_model_version_tag(name, str(version), "reviewed_by", "the models test")
    try:
        after = httpx.get(f"{api_url}/ml/models").json()
        tags = next(v for v in after[0]["versions"] if v["version"] == version)["tags"]
        assert tags["reviewed_by"] == "the models test"
    finally:
        registry.client.delete_model_version_tag(name, str(version), "reviewed_by")
