"""Shared spec types: durations, cron expressions, secret references."""

from __future__ import annotations

import copy
import pickle
from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from matih.exceptions import SecretError
from matih.specs import CronExpression, Duration, SpecModel, find_secret_refs, json_path, resolve_secrets
from matih.specs.common import parse_notification_target


class _Timed(SpecModel):
    every: Duration
    when: CronExpression | None = None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("60s", timedelta(seconds=60)),
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("14d", timedelta(days=14)),
        ("5m", timedelta(minutes=5)),
    ],
)
def test_duration_parses_and_keeps_text(text: str, expected: timedelta) -> None:
    model = _Timed(every=text)  # type: ignore[arg-type]
    assert model.every == expected
    assert isinstance(model.every, timedelta)
    assert model.every.text == text
    assert model.model_dump(mode="json") == {"every": text, "when": None}


@pytest.mark.parametrize("text", ["5x", "", "m5", "1.5h", "-3m", "0s", "10 minutes"])
def test_duration_rejects_other_forms_naming_the_accepted_ones(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        _Timed(every=text)  # type: ignore[arg-type]
    message = info.value.errors()[0]["msg"]
    assert "'60s'" in message or "positive" in message


def test_duration_accepts_timedelta_and_survives_copies() -> None:
    model = _Timed(every=timedelta(hours=3))  # type: ignore[arg-type]
    assert model.every.text == "3h"
    assert _Timed(every=timedelta(seconds=90)).every.text == "90s"  # type: ignore[arg-type]
    for clone in (copy.deepcopy(model.every), pickle.loads(pickle.dumps(model.every))):
        assert clone == timedelta(hours=3)
        assert clone.text == "3h"
    assert model.model_copy(deep=True).model_dump(mode="json")["every"] == "3h"


@pytest.mark.parametrize("expr", ["0 2 * * *", "*/15 * * * mon-fri", "0 */6 * * *", "30 5 1 1,7 *"])
def test_cron_accepts_five_fields(expr: str) -> None:
    assert _Timed(every="1h", when=expr).when == expr  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("0 2 * *", "has 4 field(s)"),
        ("61 * * * *", "out of range"),
        ("0 2 * * * *", "has 6 field(s)"),
        ("@daily", "has 1 field(s)"),
        ("a b c d e", "not a valid cron expression"),
    ],
)
def test_cron_rejections_show_the_expected_form(expr: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        _Timed(every="1h", when=expr)  # type: ignore[arg-type]
    message = info.value.errors()[0]["msg"]
    assert fragment in message
    assert "expected a 5-field cron expression like '0 2 * * *'" in message


def test_find_secret_refs_walks_nested_values_in_order() -> None:
    doc = {
        "a": "${SHOPIFY_API_KEY}",
        "b": ["plain", {"c": "postgresql://u:${PG_PASSWORD}@h/db?x=${SHOPIFY_API_KEY}"}],
        "n": 3,
    }
    assert find_secret_refs(doc) == ["SHOPIFY_API_KEY", "PG_PASSWORD"]
    assert find_secret_refs("no refs, $HOME or ${lower-case-dash}") == []


def test_find_secret_refs_accepts_models() -> None:
    class Holder(BaseModel):
        token: str

    assert find_secret_refs(Holder(token="${TOKEN}")) == ["TOKEN"]


def test_resolve_secrets_returns_a_resolved_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_PASSWORD", "pw-123")
    original = {"dsn": "postgresql://u:${PG_PASSWORD}@h/db", "list": ["${PG_PASSWORD}"], "n": 1}
    resolved = resolve_secrets(original)
    assert resolved == {"dsn": "postgresql://u:pw-123@h/db", "list": ["pw-123"], "n": 1}
    assert original["dsn"] == "postgresql://u:${PG_PASSWORD}@h/db"


def test_resolve_secrets_names_the_missing_variable_file_and_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SET_ONE", "value-that-must-not-leak")
    monkeypatch.delenv("MISSING_ONE", raising=False)
    doc = {"config": {"credentials": {"a": "${SET_ONE}", "b": "${MISSING_ONE}"}}}
    with pytest.raises(SecretError) as info:
        resolve_secrets(doc, file="sources/x.json")
    err = info.value
    assert err.name == "MISSING_ONE"
    assert err.file == "sources/x.json"
    assert err.path == "$.config.credentials.b"
    assert "MISSING_ONE" in str(err)
    assert "value-that-must-not-leak" not in str(err)


def test_resolve_secrets_uses_the_given_path_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE", raising=False)
    with pytest.raises(SecretError) as info:
        resolve_secrets(["${NOPE}"], path="$.api_keys")
    assert info.value.path == "$.api_keys[0]"


@pytest.mark.parametrize(
    ("loc", "expected"),
    [
        ((), "$"),
        (("tasks", 2, "config", "write_mode"), "$.tasks[2].config.write_mode"),
        (("x", "Food & Grocery"), "$.x['Food & Grocery']"),
    ],
)
def test_json_path(loc: tuple[str | int, ...], expected: str) -> None:
    assert json_path(loc) == expected


def test_notification_target() -> None:
    parsed = parse_notification_target("slack:#ml-ops-alerts")
    assert (parsed.channel, parsed.target) == ("slack", "#ml-ops-alerts")
    with pytest.raises(ValueError, match="slack:#ml-ops-alerts"):
        parse_notification_target("email:ops@example.com")


def test_spec_models_reject_unknown_fields() -> None:
    with pytest.raises(ValidationError) as info:
        _Timed(every="1h", surprise=1)  # type: ignore[call-arg]
    assert info.value.errors()[0]["type"] == "extra_forbidden"
