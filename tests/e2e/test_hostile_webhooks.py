"""Text from PagerDuty and Alertmanager passes the same boundary as Slack's (issue 14): scrubbed
and control-stripped when stored, escaped when posted. SQLite and PostgreSQL."""
from __future__ import annotations

from bot.local.stack import LocalStack
from tests.e2e import test_pagerduty_and_alertmanager as webhooks
from tests.e2e.test_hostile_input import LIVE_MARKUP, everything_posted
from tests.e2e.test_pagerduty_and_alertmanager import (
    AM_TOKEN,
    alert_group,
    deliver,
    incidents,
    pd_event,
    post,
)

# the PagerDuty stand-in and the stack wired to it, as the webhook tests have them
pd = webhooks.pd
stack = webhooks.stack

HOSTILE = "<!channel> scores \x00zero, ask jane.doe@example.com or +1 415 555 0100"


def _assert_clean(stack: LocalStack, stored: str) -> None:
    for raw in ("jane.doe@example.com", "415 555 0100", "\x00"):
        assert raw not in stored
    assert "[email]" in stored and "[phone]" in stored
    for text in everything_posted(stack):
        for markup in LIVE_MARKUP:
            assert markup not in text, (markup, text[:300])
        assert "jane.doe@example.com" not in text


async def test_alertmanager_summary_labels_and_descriptions_pass_the_boundary(stack: LocalStack) -> None:
    body = alert_group("firing")
    body["commonAnnotations"]["summary"] = HOSTILE
    body["commonLabels"]["alertname"] = "owner jane.doe@example.com"
    for alert in body["alerts"]:
        alert["annotations"]["description"] = f"<!here> paged jane.doe@example.com \x00 {alert['status']}"
    status, _ = await post(stack, "/webhooks/alertmanager", body, {"Authorization": f"Bearer {AM_TOKEN}"})
    assert status == 201
    await stack.settle()
    [incident] = await incidents(stack)
    assert incident.title == "<!channel> scores zero, ask [email] or [phone]"
    _assert_clean(stack, f"{incident.title}\n{incident.description}\n{incident.labels}")
    assert "owner [email]" in incident.labels
    assert stack.slack.channel_by_name("inc-1-channel-scores-zero-ask-email-or-phone") is not None


async def test_a_pagerduty_title_passes_the_boundary(stack: LocalStack) -> None:
    triggered = pd_event("triggered", "E1", "2021-06-04T13:35:29.781Z")
    triggered["event"]["data"]["title"] = HOSTILE
    assert (await deliver(stack, triggered))[0] == 201
    await stack.settle()
    [incident] = await incidents(stack)
    assert incident.title == "<!channel> scores zero, ask [email] or [phone]"
    _assert_clean(stack, incident.title)
