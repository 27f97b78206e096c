"""The Slack incoming-webhook sandbox answers as Slack documents it, over real HTTP."""

from __future__ import annotations

import json

import httpx

from tests.doubles.slack_webhook import SlackWebhookSandbox
from tests.servers import serve_in_thread


def test_webhook_answers_like_slack():
    hook = SlackWebhookSandbox(channels={"#data-pipelines"})
    with serve_in_thread(hook.app) as url:
        post = url + hook.path
        assert httpx.post(post, json={"text": "hi", "channel": "#data-pipelines"}).text == "ok"
        form = {"payload": json.dumps({"text": "from a form"})}
        assert httpx.post(post, data=form).text == "ok"  # the legacy form encoding
        bad = httpx.post(post, content=b"{not json", headers={"content-type": "application/json"})
        assert (bad.status_code, bad.text) == (400, "invalid_payload")
        assert httpx.post(post, json={"channel": "#data-pipelines"}).text == "no_text"
        wrong = httpx.post(url + "/services/T0/B0/guessed", json={"text": "x"})
        assert (wrong.status_code, wrong.text) == (404, "no_service")
        unknown = httpx.post(post, json={"text": "x", "channel": "#random"})
        assert (unknown.status_code, unknown.text) == (404, "channel_not_found")
        httpx.post(f"{url}/_sandbox/slack/faults", json={"status": 429, "retry_after": 3})
        limited = httpx.post(post, json={"text": "x"})
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
        listed = httpx.get(f"{url}/_sandbox/slack/messages").json()
    assert [m["text"] for m in listed["messages"]] == ["hi", "from a form"]
    assert listed["attempts"] == 7
