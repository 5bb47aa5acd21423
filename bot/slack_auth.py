"""Who the bot is to Slack: Bolt's ``authorize`` (BotIdentity) and the filter for Bolt's
misleading token warning."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import (
    warning_client_prioritized_and_token_skipped,
    warning_token_skipped,
)
from slack_sdk.web.async_client import AsyncWebClient

from domain.ports import Clock

log = structlog.get_logger("bot")


class _DropTokenSkipped(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns that our tokenless client makes it unused,
    which is the point (see BotIdentity): one misleading line at every start."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in (warning_token_skipped(),
                                           warning_client_prioritized_and_token_skipped())


TOKEN_FROM_ENV_UNUSED = _DropTokenSkipped()


class BotIdentity:
    """Bolt's ``authorize``: the configured bot token, with the bot's identity from ``auth.test``.

    Bolt's default single-team authorization calls ``auth.test`` on the first request and
    refuses every request while that fails, so a Slack outage right after start would lose
    declarations. Here the identity is cached, re-asked at most every 30 s while unknown, and
    a request is never refused because Slack is unreachable.

    Only the installed workspace is served (issue 14): a correctly signed request from another
    team (Slack Connect, another workspace of an Enterprise Grid, a multi-workspace app) is
    refused unless its team is in ``SLACK_ALLOWED_TEAMS``. While ``auth.test`` has not answered
    yet the installed team is unknown: then only the allow-list, if any, is enforced.
    """

    RETRY_SECONDS = 30.0

    def __init__(self, client: AsyncWebClient, clock: Clock,
                 allowed_teams: str | None = None) -> None:
        self.client = client
        self.clock = clock
        self.identity: dict[str, Any] | None = None
        self._last_try: float | None = None
        if allowed_teams is None:  # not passed by build(): the setting, from the environment
            import os

            allowed_teams = os.environ.get("SLACK_ALLOWED_TEAMS", "")
        self.allowed_teams = frozenset(t.strip() for t in allowed_teams.split(",") if t.strip())

    def team_allowed(self, enterprise_id: str | None, team_id: str | None) -> bool:
        """The installed team (or enterprise), or one on the allow-list."""
        installed = {v for v in ((self.identity or {}).get("team_id"),
                                 (self.identity or {}).get("enterprise_id")) if v}
        if not installed and not self.allowed_teams:
            return True  # auth.test not answered yet and no allow-list: never refuse on doubt
        if team_id:
            return team_id in installed or team_id in self.allowed_teams
        # an org-wide (Enterprise Grid) request may carry only its enterprise
        return not enterprise_id or enterprise_id in installed or enterprise_id in self.allowed_teams

    async def ensure(self) -> None:
        if self.identity is not None:
            return
        now = self.clock.now().timestamp()
        if self._last_try is not None and now - self._last_try < self.RETRY_SECONDS:
            return
        self._last_try = now
        try:
            response = await asyncio.wait_for(self.client.auth_test(), timeout=2.0)
            self.identity = dict(response.data) if isinstance(response.data, dict) else {}
        except Exception as exc:  # Slack down: proceed without the identity for now
            log.warning("slack.auth_test_failed", error=str(exc)[:200])

    def authorize_function(self) -> Callable[..., Awaitable[AuthorizeResult]]:
        """A plain function: Bolt picks the arguments to pass by their names."""

        async def authorize(enterprise_id: str | None, team_id: str | None,
                            context: Any = None) -> AuthorizeResult:
            await self.ensure()
            # in a Slack Connect channel the acting user's own team counts too (Bolt's actor)
            actor_team = context.get("actor_team_id") if context is not None else None
            if not self.team_allowed(enterprise_id, team_id) or (
                    actor_team and actor_team != team_id and not self.team_allowed(None, actor_team)):
                from slack_sdk.errors import SlackApiError

                log.warning("slack.team_refused", team_id=team_id, enterprise_id=enterprise_id,
                            actor_team_id=actor_team)
                # Bolt takes this as "no installation for this team": no listener runs, and
                # the user gets Bolt's "app not available in this workspace" reply
                raise SlackApiError("team not allowed", {"ok": False, "error": "team_not_allowed"})
            identity = self.identity or {}
            return AuthorizeResult(
                enterprise_id=enterprise_id or identity.get("enterprise_id"),
                team_id=team_id or identity.get("team_id"),
                bot_token=self.client.token,
                bot_id=identity.get("bot_id"),
                bot_user_id=identity.get("user_id"),
            )

        return authorize
