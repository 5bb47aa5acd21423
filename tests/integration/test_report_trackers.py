"""The tracker adapters against the local stand-ins (issue 21): each API's request shape, its
answers, and its refusals turned into errors that say which tracker and why."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import aiohttp
import pytest

from bot.trackers import tracker_for
from domain.trackers import TicketRequest, TrackerConfig, TrackerError
from tests.standins.trackers import (
    GITHUB_REPO,
    GITHUB_TOKEN,
    JIRA_PROJECT,
    JIRA_TOKEN,
    LINEAR_KEY,
    LINEAR_TEAM,
    TrackerStandIn,
)

REQUEST = TicketRequest("[INC-7] Alert on null rate", "Action item #1 from INC-7.\n\nOwner: U0DANA",
                        date(2026, 12, 15), ("incident-action-item",))


@pytest.fixture
async def standin() -> AsyncIterator[TrackerStandIn]:
    async with TrackerStandIn() as s:
        yield s


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_jira_v2_sends_plain_text_with_a_bearer_token(standin: TrackerStandIn,
                                                             session: aiohttp.ClientSession) -> None:
    config = TrackerConfig(kind="jira", url=standin.url, token=JIRA_TOKEN, project=JIRA_PROJECT,
                           api_version=2)
    jira = tracker_for(config, session)
    ticket = await jira.create(REQUEST)
    assert (ticket.key, ticket.url) == ("OPS-1", f"{standin.url}/browse/OPS-1")
    [issue] = standin.issues
    assert issue.api_version == 2 and issue.request["fields"]["description"] == REQUEST.description
    assert await jira.is_closed("OPS-1") is False
    standin.close("OPS-1")
    assert await jira.is_closed("OPS-1") is True
    assert ("GET", "/rest/api/2/issue/OPS-1?fields=status") in standin.requests


async def test_jira_v3_refuses_what_jira_cloud_refuses(standin: TrackerStandIn,
                                                       session: aiohttp.ClientSession) -> None:
    wrong = TrackerConfig(kind="jira", url=standin.url, token="expired", email="bot@example.com",
                          project=JIRA_PROJECT)
    with pytest.raises(TrackerError, match="Jira answered 401"):
        await tracker_for(wrong, session).create(REQUEST)
    other = TrackerConfig(kind="jira", url=standin.url, token=JIRA_TOKEN, project="NOPE")
    with pytest.raises(TrackerError, match="valid project is required"):
        await tracker_for(other, session).create(REQUEST)
    assert standin.issues == []


async def test_github_files_and_reads_back_the_state(standin: TrackerStandIn,
                                                    session: aiohttp.ClientSession) -> None:
    config = TrackerConfig(kind="github", url=standin.url, token=GITHUB_TOKEN, repo=GITHUB_REPO)
    github = tracker_for(config, session)
    ticket = await github.create(REQUEST)
    assert ticket.key == f"{GITHUB_REPO}#1" and ticket.url == f"https://github.com/{GITHUB_REPO}/issues/1"
    assert standin.issues[0].request["labels"] == ["incident-action-item"]
    assert not await github.is_closed(ticket.key)
    standin.close(ticket.key)
    assert await github.is_closed(ticket.key)
    bad = TrackerConfig(kind="github", url=standin.url, token="ghp_wrong", repo=GITHUB_REPO)
    with pytest.raises(TrackerError, match="GitHub answered 401.*Bad credentials"):
        await tracker_for(bad, session).create(REQUEST)


async def test_linear_speaks_graphql_and_its_errors(standin: TrackerStandIn,
                                                   session: aiohttp.ClientSession) -> None:
    config = TrackerConfig(kind="linear", url=f"{standin.url}/graphql", token=LINEAR_KEY,
                           team_id=LINEAR_TEAM)
    linear = tracker_for(config, session)
    ticket = await linear.create(REQUEST)
    assert ticket.key == "ML-1"
    sent = standin.issues[0].request
    assert "issueCreate(input: $input)" in sent["query"]
    assert sent["variables"]["input"] == {"teamId": LINEAR_TEAM, "title": REQUEST.title,
                                          "description": REQUEST.description, "dueDate": "2026-12-15"}
    assert not await linear.is_closed("ML-1")
    standin.close("ML-1")
    assert await linear.is_closed("ML-1")
    with pytest.raises(TrackerError, match="Entity not found: Issue"):
        await linear.is_closed("ML-99")
    lost = TrackerConfig(kind="linear", url=f"{standin.url}/graphql", token=LINEAR_KEY, team_id="gone")
    with pytest.raises(TrackerError, match="Entity not found: Team"):
        await tracker_for(lost, session).create(REQUEST)


async def test_an_unreachable_tracker_is_an_error_not_a_crash(session: aiohttp.ClientSession) -> None:
    config = TrackerConfig(kind="github", url="http://127.0.0.1:9", token=GITHUB_TOKEN, repo=GITHUB_REPO)
    with pytest.raises(TrackerError, match="GitHub could not be reached"):
        await tracker_for(config, session).create(REQUEST)
