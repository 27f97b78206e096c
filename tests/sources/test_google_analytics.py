"""source-google-analytics-data-api against the sandbox's GA4 Data API and OAuth token endpoint."""

from __future__ import annotations

import datetime as dt

import httpx

from matih.sources import sync

SOURCE = "google-analytics"


def test_mapping_and_last_write_wins_dedup(served) -> None:
    httpx.post(f"{served.endpoints.ga_url}/_sandbox/duplicates", json={"rows": 5})
    sync(served.ws, SOURCE, full_refresh=True)
    columns = [r[0] for r in served.warehouse("DESCRIBE ga4.pages", "google_analytics")]
    assert {"date", "page_url", "sessions", "screen_page_views", "unique_visitors"} <= set(columns)
    assert not {"page_path", "pagePath", "active_users"} & set(columns)
    rows, keys = served.warehouse(
        "SELECT count(*), count(DISTINCT (date, page_url)) FROM ga4.pages", "google_analytics"
    )[0]
    assert rows == keys
    # the first five report rows were delivered twice, the second time revised (+1): the revision wins
    first = served.world(
        "SELECT date, page_path, sum(sessions) FROM source.web_sessions WHERE date >= DATE '2024-01-01'"
        " GROUP BY ALL ORDER BY date, page_path LIMIT 5"
    )
    for day, page, sessions in first:
        got = served.warehouse(
            f"SELECT sessions FROM ga4.pages WHERE date = DATE '{day}' AND page_url = '{page}'",
            "google_analytics",
        )
        assert got == [(sessions + 1,)]
    # everything else equals the world (older days are final)
    (total,) = served.world(
        "SELECT count(*) FROM (SELECT DISTINCT date, page_path FROM source.web_sessions"
        " WHERE date >= DATE '2024-01-01' AND date <= $d)",
        {"d": served.clock()},
    )[0]
    assert rows == total


def test_incremental_sync_rereads_the_days_ga_still_revises(served) -> None:
    sync(served.ws, SOURCE, full_refresh=True)
    before = served.warehouse("SELECT count(*) FROM ga4.pages", "google_analytics")[0][0]
    run = sync(served.ws, SOURCE)
    pages = next(s for s in run.streams if s.name == "pages")
    last = served.clock()
    (recent,) = served.world(
        "SELECT count(*) FROM (SELECT DISTINCT date, page_path FROM source.web_sessions"
        " WHERE date BETWEEN $a AND $b)",
        {"a": last - dt.timedelta(days=2), "b": last},
    )[0]
    assert pages.rows == recent
    assert pages.cursor == last.isoformat()
    assert served.warehouse("SELECT count(*) FROM ga4.pages", "google_analytics")[0][0] == before


def test_an_unreachable_token_endpoint_is_named_with_its_cause_and_no_key() -> None:
    """The drill's finding: a GA4 server killed mid-sync answered 'cannot reach the token endpoint:
    TransportError'. The error names the endpoint and the cause, never the key."""
    import json
    from types import SimpleNamespace

    import pytest

    from matih.exceptions import SourceError
    from matih.processes import free_port
    from matih.sandbox.ga_api import make_service_account
    from matih.sources.connectors.google_analytics import _access_token

    token_uri = f"http://127.0.0.1:{free_port()}/token"  # nothing listens there
    info, _ = make_service_account(token_uri)
    ctx = SimpleNamespace(config={"credentials": {"credentials_json": json.dumps(info)}}, source="ga")
    with pytest.raises(SourceError) as failure:
        _access_token(ctx)  # type: ignore[arg-type]
    message = str(failure.value)
    assert token_uri in message and "check the network" in message and failure.value.transient
    assert info["private_key_id"] not in message and "PRIVATE KEY" not in message
