"""The sandbox's GA4 Data API: Google's service-account token flow and runReport's shapes."""

from __future__ import annotations

import json

import httpx
import pytest
from google.auth import exceptions
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from matih.sandbox import server
from matih.sandbox.ga_api import make_service_account

SCOPES = ["https://www.googleapis.com/auth/analytics.readonly"]
BODY = {
    "dateRanges": [{"startDate": "2026-06-01", "endDate": "yesterday"}],
    "dimensions": [{"name": "date"}, {"name": "pagePath"}],
    "metrics": [{"name": "sessions"}],
    "limit": 1000,
}


def _token(info: dict) -> str:
    credentials = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    credentials.refresh(Request())
    return str(credentials.token)


def test_service_account_token_then_paged_report(served) -> None:
    info = json.loads(server.sandbox_secrets(served.ws)["GA_SERVICE_ACCOUNT_JSON"])
    token = _token(info)
    url = f"{served.endpoints.ga_url}/v1beta/properties/349871234:runReport"
    first = httpx.post(url, json=BODY, headers={"Authorization": f"Bearer {token}"}).json()
    assert [h["name"] for h in first["dimensionHeaders"]] == ["date", "pagePath"]
    assert len(first["rows"]) == 1000 and first["rowCount"] > 1000
    assert first["rows"][0]["dimensionValues"][0]["value"] == "20260601"
    rest = httpx.post(
        url, json={**BODY, "offset": 1000, "limit": 250_000}, headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert len(first["rows"]) + len(rest["rows"]) == first["rowCount"]


def test_a_key_the_sandbox_did_not_issue_is_refused(served) -> None:
    info = json.loads(server.sandbox_secrets(served.ws)["GA_SERVICE_ACCOUNT_JSON"])
    forged, _ = make_service_account(info["token_uri"])
    forged["client_email"] = info["client_email"]
    with pytest.raises(exceptions.RefreshError, match="invalid_grant"):
        _token(forged)


def test_report_errors_use_googles_shape(served) -> None:
    info = json.loads(server.sandbox_secrets(served.ws)["GA_SERVICE_ACCOUNT_JSON"])
    token = _token(info)
    base = f"{served.endpoints.ga_url}/v1beta/properties"
    unauthenticated = httpx.post(f"{base}/349871234:runReport", json=BODY)
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["status"] == "UNAUTHENTICATED"
    other = httpx.post(f"{base}/1:runReport", json=BODY, headers={"Authorization": f"Bearer {token}"})
    assert other.status_code == 403 and other.json()["error"]["status"] == "PERMISSION_DENIED"
    bad = {**BODY, "metrics": [{"name": "revenuePerUnicorn"}]}
    invalid = httpx.post(
        f"{base}/349871234:runReport", json=bad, headers={"Authorization": f"Bearer {token}"}
    )
    assert invalid.status_code == 400 and invalid.json()["error"]["status"] == "INVALID_ARGUMENT"
