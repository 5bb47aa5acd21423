"""The Slack stand-in and driver, exercised with the real slack_sdk client and Bolt.

Why: every end-to-end test trusts these two; they must answer like Slack and sign like Slack.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.local.slack_driver import SlackDriver
from bot.local.slack_standin import BOT_ID, BOT_USER_ID, SlackStandIn
from tests.standins.pagerduty import PagerDutyStandIn

SECRET = "test-signing-secret"
TOKEN = "xoxb-standin-test"


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def client(slack: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=slack.url)


async def _error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value


# ---------------------------------------------------------------------- Web API: messages


async def test_base_url_and_auth_test(slack: SlackStandIn, client: AsyncWebClient) -> None:
    assert slack.url.startswith("http://127.0.0.1:") and slack.url.endswith("/api/")
    auth = await client.auth_test()
    assert auth["user_id"] == BOT_USER_ID and auth["bot_id"] == BOT_ID and auth["team_id"]


async def test_missing_or_bad_token(slack: SlackStandIn) -> None:
    err = await _error(AsyncWebClient(base_url=slack.url).auth_test())
    assert err.response["error"] == "not_authed"
    err = await _error(AsyncWebClient(token="nope", base_url=slack.url).auth_test())
    assert err.response["error"] == "invalid_auth"
    strict = SlackStandIn(bot_token=TOKEN)
    async with strict:
        assert (await AsyncWebClient(token=TOKEN, base_url=strict.url).auth_test())["ok"]
        err = await _error(AsyncWebClient(token="xoxb-other", base_url=strict.url).auth_test())
        assert err.response["error"] == "invalid_auth"


async def test_post_update_and_thread(slack: SlackStandIn, client: AsyncWebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*SEV1* drift"}}]
    first = await client.chat_postMessage(channel="ml-incidents", text="SEV1 drift", blocks=blocks)
    second = await client.chat_postMessage(channel="#ml-incidents", text="again")
    assert first["channel"] == second["channel"] == slack.incident_channel_id
    assert first["message"]["bot_id"] == BOT_ID and first["message"]["text"] == "SEV1 drift"
    assert float(first["ts"]) < float(second["ts"])
    assert first["message"]["blocks"][0]["block_id"]  # Slack assigns block ids

    reply = await client.chat_postMessage(channel=first["channel"], text="ack by bob", thread_ts=first["ts"])
    updated = await client.chat_update(channel=first["channel"], ts=first["ts"], text="SEV1 drift (acked)")
    assert updated["ts"] == first["ts"] and updated["message"]["text"] == "SEV1 drift (acked)"
    assert updated["message"]["blocks"] == first["message"]["blocks"]  # blocks kept when not sent

    thread = slack.thread("ml-incidents", first["ts"])
    assert [m["ts"] for m in thread] == [first["ts"], reply["ts"]]
    assert thread[0]["reply_count"] == 1 and thread[1]["thread_ts"] == first["ts"]
    assert [m["text"] for m in slack.top_level("ml-incidents")] == ["SEV1 drift (acked)", "again"]
    assert len(slack.messages("ml-incidents")) == 3

    replies = await client.conversations_replies(channel=first["channel"], ts=first["ts"])
    assert [m["ts"] for m in replies["messages"]] == [first["ts"], reply["ts"]]
    history = await client.conversations_history(channel=first["channel"])
    assert [m["ts"] for m in history["messages"]] == [second["ts"], first["ts"]]  # newest first

    err = await _error(client.chat_update(channel=first["channel"], ts="1.000001", text="x"))
    assert err.response["error"] == "message_not_found"
    err = await _error(client.chat_update(channel="ml-incidents", ts=first["ts"], text="x"))
    assert err.response["error"] == "channel_not_found"  # chat.update wants an id, like Slack
    err = await _error(client.chat_postMessage(channel="no-such-channel", text="x"))
    assert err.response["error"] == "channel_not_found"
    with pytest.warns(UserWarning, match="text"):  # slack_sdk itself warns before sending
        err = await _error(client.chat_postMessage(channel="ml-incidents"))
    assert err.response["error"] == "no_text"
    assert slack.anomalies == []


async def test_form_and_json_bodies_are_both_accepted(slack: SlackStandIn, client: AsyncWebClient) -> None:
    form = await client.api_call("chat.postMessage", data={
        "channel": "ml-incidents", "text": "form", "blocks": json.dumps(
            [{"type": "divider"}])})
    assert form["message"]["blocks"][0]["type"] == "divider"
    assert slack.calls_to("chat.postMessage")[0].params["blocks"][0]["type"] == "divider"
    body = await client.api_call("chat.postMessage", json={"channel": "ml-incidents", "text": "json"})
    assert body["ok"]
    assert [c.params["text"] for c in slack.calls_to("chat.postMessage")] == ["form", "json"]


async def test_block_kit_limits_are_enforced(client: AsyncWebClient) -> None:
    err = await _error(client.chat_postMessage(channel="ml-incidents", text="x", blocks=[
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]))
    assert err.response["error"] == "invalid_blocks"
    assert "json-pointer:/blocks/0/text/text" in err.response["errors"][0]
    err = await _error(client.chat_postMessage(channel="ml-incidents", text="x", blocks=[{"type": "nope"}]))
    assert err.response["error"] == "invalid_blocks"


async def test_ts_unique_and_increasing_under_concurrency(slack: SlackStandIn,
                                                          client: AsyncWebClient) -> None:
    results = await asyncio.gather(*[
        client.chat_postMessage(channel="ml-incidents", text=f"m{i}") for i in range(150)])
    stamps = [r["ts"] for r in results]
    assert len(set(stamps)) == 150
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)
    stored = [m["ts"] for m in slack.messages("ml-incidents")]
    assert stored == sorted(stored, key=lambda ts: tuple(map(int, ts.split(".")))) and len(stored) == 150


async def test_post_to_user_id_opens_a_dm(slack: SlackStandIn, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="U0RESPOND", text="you are IC for INC-3")
    assert posted["channel"].startswith("D")
    assert slack.messages(posted["channel"])[0]["text"] == "you are IC for INC-3"
    assert slack.channel(posted["channel"])["user"] == "U0RESPOND"


async def test_ephemeral_permalink_and_reactions(slack: SlackStandIn, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="ml-incidents", text="hi")
    eph = await client.chat_postEphemeral(channel="ml-incidents", user="U0DECLARER", text="only you")
    assert eph["message_ts"]
    assert slack.ephemerals[-1]["user"] == "U0DECLARER" and slack.ephemerals[-1]["text"] == "only you"
    link = await client.chat_getPermalink(channel=posted["channel"], message_ts=posted["ts"])
    assert link["permalink"].endswith("/archives/C0INCIDENT/p" + posted["ts"].replace(".", ""))
    await client.reactions_add(channel=posted["channel"], name="eyes", timestamp=posted["ts"])
    err = await _error(client.reactions_add(channel=posted["channel"], name="eyes", timestamp=posted["ts"]))
    assert err.response["error"] == "already_reacted"
    assert slack.message("ml-incidents", posted["ts"])["reactions"][0]["name"] == "eyes"
    outsider = slack.add_channel("elsewhere", members=["U0RESPOND"])
    err = await _error(client.chat_postEphemeral(channel=outsider, user="U0DECLARER", text="x"))
    assert err.response["error"] == "user_not_in_channel"


# ---------------------------------------------------------------------- Web API: conversations


async def test_conversations_create_naming_rules(slack: SlackStandIn, client: AsyncWebClient) -> None:
    created = await client.conversations_create(name="inc-42-fraud-model_drift")
    channel = created["channel"]
    assert channel["id"].startswith("C") and channel["name"] == "inc-42-fraud-model_drift"
    assert channel["is_member"] and not channel["is_private"]
    assert slack.channel_by_name("#inc-42-fraud-model_drift")["id"] == channel["id"]
    assert slack.members(channel["id"]) == [BOT_USER_ID]

    for name, error in [("Inc-42", "invalid_name_specials"), ("inc 42", "invalid_name_specials"),
                        ("inc.42", "invalid_name_specials"), ("x" * 81, "invalid_name_maxlength"),
                        ("", "invalid_name_required"), ("---", "invalid_name_punctuation"),
                        ("inc-42-fraud-model_drift", "name_taken"), ("ml-incidents", "name_taken")]:
        err = await _error(client.conversations_create(name=name))
        assert err.response["error"] == error, name
    assert (await client.conversations_create(name="x" * 80))["ok"]


async def test_topic_purpose_info_list_members(slack: SlackStandIn, client: AsyncWebClient) -> None:
    cid = (await client.conversations_create(name="inc-7"))["channel"]["id"]
    await client.conversations_setTopic(channel=cid, topic="SEV2 | fraud-v3 | IC: @bob")
    await client.conversations_setPurpose(channel=cid, purpose="INC-7 war room")
    assert slack.topic(cid) == "SEV2 | fraud-v3 | IC: @bob" and slack.purpose("inc-7") == "INC-7 war room"
    info = await client.conversations_info(channel=cid, include_num_members=True)
    assert info["channel"]["topic"]["value"] == "SEV2 | fraud-v3 | IC: @bob"
    assert info["channel"]["num_members"] == 1
    err = await _error(client.conversations_setTopic(channel=cid, topic="t" * 251))
    assert err.response["error"] == "too_long"
    names = {c["name"] for c in (await client.conversations_list())["channels"]}
    assert {"ml-incidents", "general", "inc-7"} <= names
    page = await client.conversations_members(channel=slack.incident_channel_id, limit=2)
    assert len(page["members"]) == 2 and page["response_metadata"]["next_cursor"]
    rest = await client.conversations_members(channel=slack.incident_channel_id,
                                              cursor=page["response_metadata"]["next_cursor"])
    assert page["members"] + rest["members"] == slack.members("ml-incidents")
    assert slack.messages(cid) == [] and len(slack.messages(cid, system=True)) == 2  # topic/purpose notices


async def test_invite(slack: SlackStandIn, client: AsyncWebClient) -> None:
    cid = (await client.conversations_create(name="inc-8"))["channel"]["id"]
    invited = await client.conversations_invite(channel=cid, users="U0DECLARER,U0RESPOND")
    assert invited["channel"]["id"] == cid
    assert slack.members(cid) == [BOT_USER_ID, "U0DECLARER", "U0RESPOND"]
    err = await _error(client.conversations_invite(channel=cid, users=["U0DECLARER", "U0RESPOND"]))
    assert err.response["error"] == "already_in_channel"
    partly = await client.conversations_invite(channel=cid, users="U0RESPOND,U0ONCALL")
    assert partly["ok"] and "U0ONCALL" in slack.members(cid)
    err = await _error(client.conversations_invite(channel=cid, users="U0NOBODY"))
    assert err.response["error"] == "user_not_found"
    err = await _error(client.conversations_invite(channel=cid, users=BOT_USER_ID))
    assert err.response["error"] == "cant_invite_self"
    slack.add_channel("not-mine", channel_id="C0NOTMINE", members=["U0DECLARER"])
    err = await _error(client.conversations_invite(channel="C0NOTMINE", users="U0RESPOND"))
    assert err.response["error"] == "not_in_channel"
    joined = await client.conversations_join(channel="C0NOTMINE")
    assert joined["ok"] and BOT_USER_ID in slack.members("not-mine")


async def test_pins(slack: SlackStandIn, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="ml-incidents", text="summary")
    await client.pins_add(channel=posted["channel"], timestamp=posted["ts"])
    err = await _error(client.pins_add(channel=posted["channel"], timestamp=posted["ts"]))
    assert err.response["error"] == "already_pinned"
    err = await _error(client.pins_add(channel=posted["channel"], timestamp="1.000001"))
    assert err.response["error"] == "message_not_found"
    assert slack.pins == [{"channel": posted["channel"], "ts": posted["ts"], "user": BOT_USER_ID,
                           "time": slack.pins[0]["time"]}]
    assert slack.pinned("ml-incidents") == [posted["ts"]]


# ---------------------------------------------------------------------- Web API: users, views, files


async def test_users_and_usergroups(slack: SlackStandIn, client: AsyncWebClient) -> None:
    found = await client.users_lookupByEmail(email="bob@example.com")
    assert found["user"]["id"] == "U0RESPOND" and found["user"]["name"] == "bob"
    err = await _error(client.users_lookupByEmail(email="mallory@example.com"))
    assert err.response["error"] == "users_not_found"
    slack.add_user("U0ERIN", "erin", "erin@example.com")
    assert (await client.users_lookupByEmail(email="ERIN@example.com"))["user"]["id"] == "U0ERIN"
    assert (await client.users_info(user="U0DECLARER"))["user"]["profile"]["email"] == "alice@example.com"
    err = await _error(client.users_info(user="U0NOBODY"))
    assert err.response["error"] == "user_not_found"

    gid = slack.add_usergroup("ml-oncall", ["U0ONCALL", "U0ERIN"])
    groups = await client.usergroups_list(include_users=True)
    assert groups["usergroups"][0]["handle"] == "ml-oncall" and groups["usergroups"][0]["id"] == gid
    assert (await client.usergroups_users_list(usergroup=gid))["users"] == ["U0ONCALL", "U0ERIN"]
    err = await _error(client.usergroups_users_list(usergroup="S0NOPE"))
    assert err.response["error"] == "no_such_subteam"


MODAL = {
    "type": "modal", "callback_id": "declare", "title": {"type": "plain_text", "text": "Declare"},
    "submit": {"type": "plain_text", "text": "Declare"}, "private_metadata": "C0INCIDENT",
    "blocks": [
        {"type": "input", "block_id": "title", "label": {"type": "plain_text", "text": "Title"},
         "element": {"type": "plain_text_input", "action_id": "title_input"}},
        {"type": "input", "block_id": "severity", "label": {"type": "plain_text", "text": "Severity"},
         "element": {"type": "static_select", "action_id": "sev", "options": [
             {"text": {"type": "plain_text", "text": "SEV1"}, "value": "sev1"},
             {"text": {"type": "plain_text", "text": "SEV2"}, "value": "sev2"}]}},
    ],
}


async def test_views(slack: SlackStandIn, client: AsyncWebClient) -> None:
    trigger = slack.issue_trigger_id("U0DECLARER")
    opened = await client.views_open(trigger_id=trigger, view=MODAL)
    view = opened["view"]
    assert view["id"].startswith("V") and view["callback_id"] == "declare" and view["hash"]
    assert slack.opened_views[-1]["id"] == view["id"]
    err = await _error(client.views_open(trigger_id=trigger, view=MODAL))
    assert err.response["error"] == "exchanged_trigger_id"

    changed = dict(MODAL, title={"type": "plain_text", "text": "Declaring..."})
    updated = await client.views_update(view_id=view["id"], hash=view["hash"], view=changed)
    assert updated["view"]["title"]["text"] == "Declaring..."
    err = await _error(client.views_update(view_id=view["id"], hash=view["hash"], view=changed))
    assert err.response["error"] == "hash_conflict"
    err = await _error(client.views_update(view_id="V0NOPE", view=changed))
    assert err.response["error"] == "not_found"
    too_long = dict(MODAL, title={"type": "plain_text", "text": "x" * 25})
    err = await _error(client.views_open(trigger_id=slack.issue_trigger_id(), view=too_long))
    assert err.response["error"] == "invalid_arguments"

    home = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "2 open"}}]}
    published = await client.views_publish(user_id="U0DECLARER", view=home)
    assert slack.published_views["U0DECLARER"]["id"] == published["view"]["id"]

    slack.trigger_ttl = 0.0
    stale = slack.issue_trigger_id()
    await asyncio.sleep(0.01)
    err = await _error(client.views_open(trigger_id=stale, view=MODAL))
    assert err.response["error"] == "expired_trigger_id"


async def test_files_upload_v2(slack: SlackStandIn, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel="ml-incidents", text="INC-1 declared")
    payload = b"timestamp,psi\n2024-01-01,0.31\n"
    result = await client.files_upload_v2(channel=parent["channel"], file=payload, filename="drift.csv",
                                          title="Drift report", thread_ts=parent["ts"],
                                          initial_comment="PSI over threshold")
    file_id = result["file"]["id"]
    assert file_id.startswith("F") and result["file"]["title"] == "Drift report"
    share = result["file"]["shares"]["public"][parent["channel"]][0]
    assert share["thread_ts"] == parent["ts"]

    assert slack.file_content(file_id) == payload
    recorded = slack.files[-1]
    assert recorded["name"] == "drift.csv" and recorded["thread_ts"] == parent["ts"]
    assert recorded["initial_comment"] == "PSI over threshold"
    assert recorded["channel_ids"] == [parent["channel"]]

    thread = slack.thread("ml-incidents", parent["ts"])
    assert len(thread) == 2 and thread[1]["text"] == "PSI over threshold"
    assert thread[1]["files"][0]["id"] == file_id and thread[1]["ts"] == share["ts"]
    upload_calls = [c.method for c in slack.calls if c.method.startswith("files.")]
    assert upload_calls == ["files.getUploadURLExternal", "files.completeUploadExternal"]
    assert slack.anomalies == []

    async with aiohttp.ClientSession() as http, http.get(
            result["file"]["url_private"], headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        assert await resp.read() == payload

    err = await _error(client.files_completeUploadExternal(files=[{"id": "F0NOPE"}],
                                                           channel_id=parent["channel"]))
    assert err.response["error"] == "file_not_found"


async def test_upload_url_accepts_multipart_too(slack: SlackStandIn, client: AsyncWebClient) -> None:
    ticket = await client.files_getUploadURLExternal(filename="plot.png", length=4)
    assert ticket["upload_url"].startswith(slack.origin)
    form = aiohttp.FormData()
    form.add_field("file", b"\x89PNG", filename="plot.png")
    async with aiohttp.ClientSession() as http, http.post(ticket["upload_url"], data=form) as resp:
        assert resp.status == 200 and (await resp.text()).startswith("OK")
    done = await client.files_completeUploadExternal(files=[{"id": ticket["file_id"], "title": "PSI"}])
    assert done["files"][0]["id"] == ticket["file_id"] and slack.file_content(ticket["file_id"]) == b"\x89PNG"
    assert slack.files[-1]["channel_ids"] == []  # no channel: a private file, no message


# ---------------------------------------------------------------------- fault injection


async def test_rate_limit_surfaces_as_429_with_retry_after(slack: SlackStandIn,
                                                          client: AsyncWebClient) -> None:
    slack.rate_limit_next(1, retry_after=7)
    err = await _error(client.chat_postMessage(channel="ml-incidents", text="x"))
    assert err.response.status_code == 429
    assert err.response.headers["Retry-After"] == "7"
    assert err.response["error"] == "ratelimited"
    assert (await client.chat_postMessage(channel="ml-incidents", text="x"))["ok"]  # only the next one
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [429, 200]


async def test_rate_limit_is_honoured_by_sdk_retry_handler(slack: SlackStandIn) -> None:
    retrying = AsyncWebClient(token=TOKEN, base_url=slack.url,
                              retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
    slack.rate_limit_next(1, retry_after=1)
    started = time.monotonic()
    assert (await retrying.chat_postMessage(channel="ml-incidents", text="x"))["ok"]
    assert time.monotonic() - started >= 0.9


async def test_5xx_injection_and_method_filter(slack: SlackStandIn, client: AsyncWebClient) -> None:
    slack.fail_next(2)
    for _ in range(2):
        err = await _error(client.auth_test())
        assert err.response.status_code == 503 and err.response["error"] == "service_unavailable"
    assert (await client.auth_test())["ok"]

    slack.fail_next(1, status=500, method="conversations.create")
    assert (await client.chat_postMessage(channel="ml-incidents", text="unaffected"))["ok"]
    err = await _error(client.conversations_create(name="inc-9"))
    assert err.response.status_code == 500 and err.response["error"] == "internal_error"
    assert (await client.conversations_create(name="inc-9"))["ok"]

    slack.error_next("chat.postMessage", "channel_not_found")
    err = await _error(client.chat_postMessage(channel="ml-incidents", text="x"))
    assert err.response.status_code == 200 and err.response["error"] == "channel_not_found"


async def test_outages(slack: SlackStandIn, client: AsyncWebClient) -> None:
    slack.set_down(True)
    err = await _error(client.auth_test())
    assert err.response.status_code == 503
    slack.set_down(True, refuse=True)
    with pytest.raises(aiohttp.ClientError):
        await client.auth_test()
    slack.set_down(False)
    assert (await client.auth_test())["ok"]

    await slack.go_offline()
    with pytest.raises(aiohttp.ClientConnectorError):
        await AsyncWebClient(token=TOKEN, base_url=slack.url).auth_test()
    await slack.go_online()
    assert (await client.auth_test())["ok"]

    slack.drop_next(1)
    with pytest.raises(aiohttp.ClientError):
        await AsyncWebClient(token=TOKEN, base_url=slack.url, retry_handlers=[]).auth_test()
    assert (await client.auth_test())["ok"]


async def test_fail_after_performs_the_call_then_loses_the_answer(slack: SlackStandIn,
                                                                   client: AsyncWebClient) -> None:
    slack.fail_after_next(1, method="chat.postMessage")
    assert (await client.auth_test())["ok"]  # other methods unaffected
    err = await _error(client.chat_postMessage(channel="ml-incidents", text="posted anyway"))
    assert err.response.status_code == 500 and err.response["error"] == "internal_error"
    assert [m["text"] for m in slack.top_level("ml-incidents")] == ["posted anyway"]  # the work was done
    call = slack.calls_to("chat.postMessage")[-1]
    assert call.fault == "fail_after" and call.status == 500 and call.ok is False
    assert call.performed is not None and call.performed["ok"] and call.performed["ts"]
    assert (await client.chat_postMessage(channel="ml-incidents", text="next"))["ok"]  # only one

    slack.fail_after_next(2, status=503, method="conversations.create")
    err = await _error(client.conversations_create(name="inc-7-drift"))
    assert err.response.status_code == 503 and err.response["error"] == "internal_error"
    assert slack.channel_by_name("inc-7-drift") is not None  # created although the answer was lost
    err = await _error(client.conversations_create(name="inc-7-drift"))
    assert err.response.status_code == 503  # the second one is lost too, whatever it was...
    assert slack.calls_to("conversations.create")[-1].performed == {"ok": False, "error": "name_taken"}
    err = await _error(client.conversations_create(name="inc-7-drift"))  # ...then the real answer
    assert err.response.status_code == 200 and err.response["error"] == "name_taken"


async def test_drop_after_performs_the_call_then_cuts_the_connection(slack: SlackStandIn) -> None:
    bare = AsyncWebClient(token=TOKEN, base_url=slack.url, retry_handlers=[])
    slack.drop_after_next(1, method="chat.postMessage")
    with pytest.raises(aiohttp.ClientError):
        await bare.chat_postMessage(channel="ml-incidents", text="posted, no answer")
    assert [m["text"] for m in slack.top_level("ml-incidents")] == ["posted, no answer"]
    call = slack.calls_to("chat.postMessage")[0]
    assert call.fault == "drop_after" and call.status == 0 and call.error == "connection_dropped"
    assert call.performed is not None and call.performed["ok"]

    # slack_sdk's default client retries a POST whose connection dropped: Slack posts it twice.
    slack.drop_after_next(1, method="chat.postMessage")
    retrying = AsyncWebClient(token=TOKEN, base_url=slack.url)
    assert (await retrying.chat_postMessage(channel="ml-incidents", text="twice"))["ok"]
    assert [m["text"] for m in slack.top_level("ml-incidents")].count("twice") == 2


async def test_delay_after_performs_the_call_and_answers_past_the_timeout(slack: SlackStandIn) -> None:
    impatient = AsyncWebClient(token=TOKEN, base_url=slack.url, timeout=1, retry_handlers=[])
    slack.delay_after_next(2.0, method="conversations.create")
    started = time.monotonic()
    with pytest.raises((TimeoutError, aiohttp.ServerTimeoutError)):
        await impatient.conversations_create(name="inc-8-slow")
    assert 0.9 <= time.monotonic() - started < 1.9
    assert slack.channel_by_name("inc-8-slow") is not None  # created before the client gave up
    call = slack.calls_to("conversations.create")[0]
    assert call.fault == "delay_after" and call.performed is not None and call.performed["ok"]

    slack.delay_after_next(0.3, n=2)  # a patient client gets the real answer, late
    patient = AsyncWebClient(token=TOKEN, base_url=slack.url, timeout=5)
    started = time.monotonic()
    posted = await patient.chat_postMessage(channel="ml-incidents", text="late")
    assert posted["ok"] and time.monotonic() - started >= 0.3
    assert (await patient.auth_test())["ok"] and time.monotonic() - started >= 0.6
    started = time.monotonic()
    assert (await patient.auth_test())["ok"] and time.monotonic() - started < 0.3  # n=2 used up


async def test_after_faults_do_not_hide_before_faults(slack: SlackStandIn, client: AsyncWebClient) -> None:
    slack.fail_next(1, status=500, method="chat.postMessage")  # refused: nothing posted
    slack.fail_after_next(1, method="chat.postMessage")  # then: posted, answer lost
    for _ in range(2):
        err = await _error(client.chat_postMessage(channel="ml-incidents", text="x"))
        assert err.response.status_code == 500
    assert len(slack.top_level("ml-incidents")) == 1
    slack.fail_after_next(3)
    slack.clear_faults()
    assert (await client.auth_test())["ok"]


async def test_message_metadata_is_stored_and_returned_only_on_request(slack: SlackStandIn,
                                                                        client: AsyncWebClient) -> None:
    meta = {"event_type": "incident_announcement", "event_payload": {"outbox_id": 17, "incident": "INC-1"}}
    parent = await client.chat_postMessage(channel="ml-incidents", text="INC-1", metadata=meta)
    assert parent["message"]["metadata"] == meta
    form = await client.api_call("chat.postMessage", data={
        "channel": parent["channel"], "text": "ack", "thread_ts": parent["ts"], "metadata": json.dumps(
            {"event_type": "thread_post", "event_payload": {"outbox_id": 18}})})
    plain = await client.chat_postMessage(channel="ml-incidents", text="no metadata")
    tagged, untagged = slack.message("ml-incidents", form["ts"]), slack.message("ml-incidents", plain["ts"])
    assert tagged is not None and tagged["metadata"]["event_payload"] == {"outbox_id": 18}
    assert untagged is not None and "metadata" not in untagged

    history = await client.conversations_history(channel=parent["channel"])
    assert all("metadata" not in m for m in history["messages"])  # Slack leaves it out by default
    history = await client.conversations_history(channel=parent["channel"], include_all_metadata=True)
    by_ts = {m["ts"]: m for m in history["messages"]}
    assert by_ts[parent["ts"]]["metadata"] == meta and "metadata" not in by_ts[plain["ts"]]

    replies = await client.conversations_replies(channel=parent["channel"], ts=parent["ts"])
    assert all("metadata" not in m for m in replies["messages"])
    replies = await client.conversations_replies(channel=parent["channel"], ts=parent["ts"],
                                                 include_all_metadata=True)
    assert [m["metadata"]["event_payload"]["outbox_id"] for m in replies["messages"]] == [17, 18]

    updated = await client.chat_update(channel=parent["channel"], ts=parent["ts"], text="INC-1 acked",
                                       metadata={"event_type": "incident_announcement",
                                                 "event_payload": {"outbox_id": 17, "version": 2}})
    assert updated["message"]["metadata"]["event_payload"]["version"] == 2
    await client.chat_update(channel=parent["channel"], ts=parent["ts"], text="INC-1 resolved")
    kept = slack.message("ml-incidents", parent["ts"])
    assert kept is not None and kept["text"] == "INC-1 resolved"
    assert kept["metadata"]["event_payload"]["version"] == 2

    for bad, error in (("not json", "invalid_metadata_format"), ("[1]", "invalid_metadata_format"),
                       ({"event_payload": {}}, "invalid_metadata_schema"),
                       ({"event_type": "x", "event_payload": "y"}, "invalid_metadata_schema")):
        err = await _error(client.api_call("chat.postMessage", json={
            "channel": "ml-incidents", "text": "bad", "metadata": bad}))
        assert err.response["error"] == error, bad
        err = await _error(client.api_call("chat.update", json={
            "channel": parent["channel"], "ts": parent["ts"], "text": "bad", "metadata": bad}))
        assert err.response["error"] == error, bad
    assert slack.message("ml-incidents", parent["ts"]) == kept  # refused: unchanged


# ---------------------------------------------------------------------- PagerDuty stand-in


@pytest.fixture
async def pagerduty() -> AsyncIterator[PagerDutyStandIn]:
    pd = PagerDutyStandIn()
    await pd.start()
    pd.add_incident("PABC123")
    yield pd
    await pd.stop()


async def _pd_get(pd: PagerDutyStandIn, path: str) -> tuple[int, float]:
    context = ssl.create_default_context(cafile=pd.ca_file)
    started = time.monotonic()
    async with aiohttp.ClientSession() as http, http.get(
            pd.url + path, ssl=context, headers={"Authorization": f"Token token={pd.api_token}"}) as resp:
        await resp.read()
        return resp.status, time.monotonic() - started


async def test_pagerduty_set_down(pagerduty: PagerDutyStandIn) -> None:
    assert (await _pd_get(pagerduty, "/incidents/PABC123"))[0] == 200
    pagerduty.set_down(True)
    assert (await _pd_get(pagerduty, "/incidents/PABC123"))[0] == 503
    assert (await _pd_get(pagerduty, "/users/PXYZ"))[0] == 503
    context = ssl.create_default_context(cafile=pagerduty.ca_file)
    async with aiohttp.ClientSession() as http, http.post(
            pagerduty.url + "/v2/enqueue", ssl=context,
            json={"routing_key": "R1", "event_action": "trigger", "payload": {"summary": "x"}}) as resp:
        assert resp.status == 503  # the Events API is down too
    assert pagerduty.events == []
    pagerduty.set_down(False)
    assert (await _pd_get(pagerduty, "/incidents/PABC123"))[0] == 200
    assert [c.status for c in pagerduty.calls] == [200, 503, 503, 503, 200]
    assert pagerduty.calls_to("POST", "/v2/enqueue")[0].body["event_action"] == "trigger"


async def test_pagerduty_set_latency(pagerduty: PagerDutyStandIn) -> None:
    pagerduty.set_latency(0.4)
    status, took = await _pd_get(pagerduty, "/incidents/PABC123")
    assert status == 200 and took >= 0.4
    pagerduty.set_latency(0)
    status, took = await _pd_get(pagerduty, "/incidents/PABC123")
    assert status == 200 and took < 0.4


async def test_latency_and_on_call_hook(slack: SlackStandIn, client: AsyncWebClient) -> None:
    slack.set_latency(0.2, method="chat.postMessage")
    started = time.monotonic()
    await client.chat_postMessage(channel="ml-incidents", text="slow")
    assert time.monotonic() - started >= 0.2
    await client.auth_test()

    seen: list[str] = []

    async def hook(call: Any) -> dict[str, Any] | None:
        seen.append(call.method)
        return {"ok": False, "error": "is_archived"} if call.method == "conversations.invite" else None

    slack.on_call = hook
    err = await _error(client.conversations_invite(channel=slack.incident_channel_id, users="U0ERIN"))
    assert err.response["error"] == "is_archived" and seen == ["conversations.invite"]
    assert await slack.wait_for_call("conversations.invite", within=0.1)


async def test_wait_until_sees_background_effects(slack: SlackStandIn, client: AsyncWebClient) -> None:
    async def later() -> None:
        await asyncio.sleep(0.05)
        await client.chat_postMessage(channel="ml-incidents", text="from a worker")

    task = asyncio.create_task(later())
    messages = await slack.wait_until(lambda: slack.messages("ml-incidents"), within=2)
    assert messages[0]["text"] == "from a worker"
    await task
    with pytest.raises(TimeoutError):
        await slack.wait_until(lambda: False, within=0.05)


# ---------------------------------------------------------------------- driver: signing


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A bare endpoint that records exactly what arrives, to check signatures byte for byte."""
    seen: list[tuple[dict[str, str], bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((dict(request.headers), await request.read()))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/slack/events", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    await runner.cleanup()


async def test_driver_signatures_verify(slack: SlackStandIn, recorder: Any) -> None:
    url, seen = recorder
    verifier = SignatureVerifier(SECRET)
    async with SlackDriver(url, SECRET, slack=slack) as driver:
        posted = slack.add_user_message("ml-incidents", "U0DECLARER", "hello")
        results = [
            await driver.slash_command("declare sev1 fraud-v3 drift"),
            await driver.block_action("ack", "INC-1", channel_id=slack.incident_channel_id,
                                      message_ts=posted["ts"]),
            await driver.view_submission("declare", {"title": "Drift"}),
            await driver.event(driver.message_event(slack.incident_channel_id, "U0DECLARER", "hi"),
                               retry_num=1, retry_reason="http_timeout"),
            await driver.url_verification("chal"),
        ]
    assert [status for status, _ in results] == [200] * 5
    assert results[0][1] == {"ok": True}
    assert len(seen) == 5
    for headers, body in seen:
        assert verifier.is_valid_request(body, headers)
        assert headers["X-Slack-Signature"] == verifier.generate_signature(
            timestamp=headers["X-Slack-Request-Timestamp"], body=body)

    slash = parse_qs(seen[0][1].decode())
    assert slash["command"] == ["/incident"] and slash["text"] == ["declare sev1 fraud-v3 drift"]
    assert slash["channel_name"] == ["ml-incidents"] and slash["user_name"] == ["alice"]
    for key in ("token", "team_id", "team_domain", "channel_id", "user_id", "api_app_id", "response_url",
                "trigger_id"):
        assert slash[key][0], key
    action = json.loads(parse_qs(seen[1][1].decode())["payload"][0])
    assert action["type"] == "block_actions" and action["container"]["message_ts"] == posted["ts"]
    assert action["actions"][0]["action_id"] == "ack" and action["actions"][0]["value"] == "INC-1"
    assert action["message"]["text"] == "hello" and action["trigger_id"] and action["response_url"]
    submission = json.loads(parse_qs(seen[2][1].decode())["payload"][0])
    assert submission["view"]["state"]["values"] == {"title": {"title": {"type": "plain_text_input",
                                                                        "value": "Drift"}}}
    event_headers, event_body = seen[3]
    assert event_headers["Content-Type"] == "application/json"
    assert event_headers["X-Slack-Retry-Num"] == "1"
    assert event_headers["X-Slack-Retry-Reason"] == "http_timeout"
    envelope = json.loads(event_body)
    assert envelope["type"] == "event_callback" and envelope["event"]["text"] == "hi"
    assert {"token", "team_id", "api_app_id", "event_id", "event_time"} <= set(envelope)
    assert json.loads(seen[4][1]) == {"token": driver.verification_token, "challenge": "chal",
                                      "type": "url_verification"}


async def test_driver_negative_signing_modes(recorder: Any) -> None:
    url, seen = recorder
    verifier = SignatureVerifier(SECRET)
    async with SlackDriver(url, SECRET) as driver:
        await driver.slash_command("status", sign="stale")
        await driver.slash_command("status", sign="wrong")
        await driver.slash_command("status", sign="none")
        await driver.slash_command("status", sign="future")
    (stale_h, stale_b), (wrong_h, wrong_b), (none_h, none_b), (future_h, future_b) = seen
    assert int(time.time()) - int(stale_h["X-Slack-Request-Timestamp"]) > 5 * 60
    assert stale_h["X-Slack-Signature"] == driver.sign(stale_b, stale_h["X-Slack-Request-Timestamp"])
    assert not verifier.is_valid_request(stale_b, stale_h)  # correctly signed but too old
    assert int(wrong_h["X-Slack-Request-Timestamp"]) >= int(time.time()) - 5
    assert not verifier.is_valid_request(wrong_b, wrong_h)
    assert "X-Slack-Signature" not in none_h and "X-Slack-Request-Timestamp" not in none_h
    assert not verifier.is_valid_request(none_b, none_h)
    assert not verifier.is_valid_request(future_b, future_h)


def test_sign_matches_slack_documented_example() -> None:
    # The worked example from Slack's "Verifying requests from Slack" guide.
    body = ("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
            "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
            "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZ"
            "RskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    driver = SlackDriver("http://unused", "8f742231b10e8888abcd99yyyzzz85a5")
    assert driver.sign(body, 1531420618) == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")


# ---------------------------------------------------------------------- driver + Bolt end to end


@pytest.fixture
async def bolt(slack: SlackStandIn) -> AsyncIterator[tuple[AsyncApp, str]]:
    app = AsyncApp(signing_secret=SECRET, client=AsyncWebClient(token=TOKEN, base_url=slack.url))
    runner = web.AppRunner(app.web_app(path="/slack/events"), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield app, f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_bolt_accepts_driver_and_responses_reach_stand_in(slack: SlackStandIn, bolt: Any) -> None:
    app, url = bolt
    got: dict[str, Any] = {}

    @app.command("/incident")
    async def on_command(ack: Any, respond: Any, command: dict[str, Any], client: Any) -> None:
        await ack()
        got["command"] = command
        await client.views_open(trigger_id=command["trigger_id"], view=MODAL)
        await respond(text=f"working on: {command['text']}")

    @app.view("declare")
    async def on_submit(ack: Any, view: dict[str, Any]) -> None:
        await ack()
        got["values"] = view["state"]["values"]
        got["metadata"] = view["private_metadata"]

    @app.action("ack")
    async def on_ack(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        got["action"] = body["actions"][0]
        await respond(replace_original=True, text="acked by bob")

    @app.event("message")
    async def on_message(event: dict[str, Any]) -> None:
        got["message"] = event

    async with SlackDriver(url, SECRET, slack=slack) as driver:
        status, _ = await driver.slash_command("declare sev1", user_id="U0DECLARER")
        assert status == 200
        await slack.wait_until(lambda: slack.responses, within=5)
        assert got["command"]["user_name"] == "alice"
        assert slack.responses[0]["body"]["text"] == "working on: declare sev1"
        assert slack.ephemerals[-1]["user"] == "U0DECLARER" and slack.ephemerals[-1]["via"] == "response_url"
        assert slack.opened_views[-1]["callback_id"] == "declare"

        status, _ = await driver.view_submission("declare", {"title": "Fraud drift", "severity": "sev1"})
        assert status == 200
        assert got["metadata"] == "C0INCIDENT"
        assert got["values"]["title"]["title_input"]["value"] == "Fraud drift"
        assert got["values"]["severity"]["sev"]["selected_option"]["value"] == "sev1"
        assert got["values"]["severity"]["sev"]["selected_option"]["text"]["text"] == "SEV1"

        client = AsyncWebClient(token=TOKEN, base_url=slack.url)
        posted = await client.chat_postMessage(channel="ml-incidents", text="INC-1", blocks=[
            {"type": "actions", "elements": [{"type": "button", "action_id": "ack", "value": "INC-1",
                                              "text": {"type": "plain_text", "text": "Ack"}}]}])
        status, _ = await driver.block_action("ack", message_ts=posted["ts"], user_id="U0RESPOND")
        assert status == 200
        assert got["action"]["value"] == "INC-1"
        assert got["action"]["block_id"] == posted["message"]["blocks"][0]["block_id"]
        await slack.wait_until(lambda: slack.message("ml-incidents", posted["ts"])["text"] == "acked by bob")

        status, _ = await driver.user_says("ml-incidents", "U0RESPOND", "rolling back",
                                           thread_ts=posted["ts"])
        assert status == 200
        await slack.wait_until(lambda: "message" in got)
        assert got["message"]["thread_ts"] == posted["ts"] and got["message"]["parent_user_id"] == BOT_USER_ID
        assert slack.thread("ml-incidents", posted["ts"])[-1]["text"] == "rolling back"

        for mode in ("stale", "wrong", "none"):
            status, _ = await driver.slash_command("declare", sign=mode)  # type: ignore[arg-type]
            assert status == 401, mode
        status, body = await driver.url_verification("abc")
        assert status == 200 and body == {"challenge": "abc"}


async def test_response_url_rules(slack: SlackStandIn) -> None:
    url = slack.new_response_url(channel_id=slack.incident_channel_id, user_id="U0DECLARER")
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"response_type": "in_channel", "text": "shared"}) as resp:
            assert resp.status == 200 and await resp.text() == "ok"
        assert slack.top_level("ml-incidents")[-1]["text"] == "shared"
        async with http.post(url, json={}) as resp:
            assert resp.status == 400 and await resp.text() == "no_text"
        for _ in range(4):
            async with http.post(url, json={"text": "again"}) as resp:
                assert resp.status == 200
        async with http.post(url, json={"text": "sixth"}) as resp:
            assert resp.status == 404 and await resp.text() == "used_url"


async def test_driver_without_stand_in_receives_responses(bolt: Any) -> None:
    app, url = bolt

    @app.command("/incident")
    async def on_command(ack: Any, respond: Any) -> None:
        await ack()
        await respond(text="later")

    async with SlackDriver(url, SECRET) as driver:
        status, _ = await driver.slash_command("status")
        assert status == 200
        for _ in range(100):
            if driver.responses:
                break
            await asyncio.sleep(0.02)
        assert driver.responses[0]["body"]["text"] == "later"
