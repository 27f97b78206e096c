"""The Slack client against the Slack webhook sandbox over real HTTP: errors map to retry decisions and
never carry the webhook URL."""

from __future__ import annotations

import pytest

from matih.exceptions import DeliveryError
from matih.slack import post
from tests.doubles.slack_webhook import SlackFault


def test_delivery(slack):
    post(slack.url, {"channel": "#data-pipelines", "text": "hello"})
    assert slack.messages == [{"channel": "#data-pipelines", "text": "hello"}]


@pytest.mark.parametrize(
    ("fault", "payload", "retryable", "answer"),
    [
        (None, {"channel": "#nowhere", "text": "x"}, False, "404 channel_not_found"),
        (None, {"channel": "#data-pipelines"}, False, "400 no_text"),
        (SlackFault(500), {"text": "x"}, True, "500 rollup_error"),
        (SlackFault(429, retry_after=7), {"text": "x"}, True, "429 rate_limited"),
    ],
)
def test_slack_errors_become_retry_decisions(slack, fault, payload, retryable, answer):
    if fault:
        slack.faults.append(fault)
    with pytest.raises(DeliveryError) as err:
        post(slack.url, payload)
    assert err.value.transient is retryable
    assert answer in str(err.value)
    assert slack.path not in str(err.value)
    if fault and fault.status == 429:
        assert err.value.retry_after == 7


def test_unreachable_slack_is_retryable_and_says_nothing_of_the_url():
    with pytest.raises(DeliveryError) as err:
        post("http://127.0.0.1:9/services/T1/B1/secret-part", {"text": "x"}, timeout=2)
    assert err.value.transient and "secret-part" not in str(err.value)
