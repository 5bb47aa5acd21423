"""Only the installed workspace is served (issue 14): BotIdentity.authorize, on its own."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.errors import SlackApiError

from bot.slack_auth import BotIdentity
from tests.fakes import FakeClock


class _Response:
    data = {"ok": True, "team_id": "T0HOME", "user_id": "U0BOT", "bot_id": "B0BOT"}


class _Client:
    token = "xoxb-test"

    async def auth_test(self) -> Any:
        return _Response()


async def _authorize(allowed: str, team: str | None, actor_team: str | None = None,
                     enterprise: str | None = None) -> Any:
    authorize = BotIdentity(_Client(), FakeClock(), allowed).authorize_function()  # type: ignore[arg-type]
    context = {"actor_team_id": actor_team} if actor_team else {}
    return await authorize(enterprise_id=enterprise, team_id=team, context=context)


async def test_the_installed_team_is_served() -> None:
    result = await _authorize("", "T0HOME")
    assert result.team_id == "T0HOME" and result.bot_token == "xoxb-test"


@pytest.mark.parametrize(("team", "actor_team"), [
    ("T0EVIL99", None),  # another workspace
    ("T0HOME", "T0EVIL99"),  # a Slack Connect user of another organisation, in a shared channel
])
async def test_another_team_is_refused(team: str, actor_team: str | None) -> None:
    with pytest.raises(SlackApiError):
        await _authorize("", team, actor_team)


async def test_the_allow_list_admits_more_teams() -> None:
    assert (await _authorize("T0PARTNER, T0GRID2", "T0PARTNER")).team_id == "T0PARTNER"
    assert (await _authorize("T0PARTNER", "T0HOME", "T0PARTNER")).team_id == "T0HOME"
    with pytest.raises(SlackApiError):
        await _authorize("T0PARTNER", "T0OTHER")


async def test_an_unknown_installation_is_not_refused_on_doubt() -> None:
    class Down(_Client):
        async def auth_test(self) -> Any:
            raise ConnectionError("Slack is down")

    authorize = BotIdentity(Down(), FakeClock(), "").authorize_function()  # type: ignore[arg-type]
    assert (await authorize(enterprise_id=None, team_id="T0ANY", context={})).team_id == "T0ANY"
