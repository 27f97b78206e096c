"""No secret value ever reaches a log, a run record, the warehouse or an error message."""

from __future__ import annotations

import json
import logging

import pytest

from matih.exceptions import SourceError
from matih.sandbox import endpoints as sandbox_endpoints
from matih.sandbox import server
from matih.sources import sync


def test_secrets_stay_out_of_logs_records_catalog_and_errors(served, caplog, capsys, monkeypatch) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = server.sandbox_secrets(served.ws)
    account = json.loads(secrets["GA_SERVICE_ACCOUNT_JSON"])
    values = [
        secrets["SHOPIFY_API_KEY"],
        secrets["INVENTORY_DB_PASSWORD"],
        account["private_key"].splitlines()[5],  # a line from the middle of the key
        account["private_key_id"],
    ]
    errors = []
    for name in ("shopify-orders", "inventory-db", "google-analytics", "product-categories"):
        sync(served.ws, name)
    # failures too: a refused login on every connector, with the real secrets in play elsewhere
    monkeypatch.setattr(
        sandbox_endpoints,
        "sandbox_secrets",
        lambda ws, **_: {**secrets, "INVENTORY_DB_PASSWORD": secrets["INVENTORY_DB_PASSWORD"] + "x"},
    )
    with pytest.raises(SourceError) as failure:
        sync(served.ws, "inventory-db")
    errors.append(str(failure.value))
    assert "refused the login" in errors[-1]

    out = capsys.readouterr()
    texts = [caplog.text, out.out, out.err, *errors]
    for value in values:
        for text in texts:
            assert value not in text
    skip = {"secrets.json", "ga_public_key.pem"}  # the sandbox's own credential store
    scanned = 0
    for path in served.ws.state.rglob("*"):
        if path.is_file() and path.name not in skip and "postgres" not in path.parts:
            data = path.read_bytes()
            scanned += 1
            for value in values:
                assert value.encode() not in data, path
    assert scanned > 10
