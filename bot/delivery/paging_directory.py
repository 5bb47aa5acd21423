"""The reads behind ``/incident oncall`` and ``/incident page``: PagerDuty's REST API v2 (the real
``pagerduty`` client, in a worker thread) and Slack's user directory, as the ports of
domain/paging/oncall.py. A PagerDuty that cannot be asked is a :class:`PagerDutyUnavailable`
saying what is wrong and what to set, which the person asking gets as an ephemeral reply."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pagerduty
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.delivery.pagerduty import rest_client
from bot.settings import Settings
from domain.paging.oncall import EscalationPolicy, OnCallShift, PagerDutyUnavailable, PdUser
from domain.paging.pagerduty import parse_time

log = structlog.get_logger("pagerduty")
T = TypeVar("T")
SLACK_LOOKUP_SECONDS = 5.0


def _user(obj: dict[str, Any]) -> PdUser:
    return PdUser(str(obj.get("id", "")), str(obj.get("name") or obj.get("summary") or obj.get("id")),
                  obj.get("email") or None)


def _shift(obj: dict[str, Any]) -> OnCallShift | None:
    policy, user = obj.get("escalation_policy") or {}, obj.get("user") or {}
    if not policy.get("id") or not user.get("id"):
        return None
    schedule = obj.get("schedule") or {}
    return OnCallShift(EscalationPolicy(str(policy["id"]), str(policy.get("summary") or policy["id"])),
                       int(obj.get("escalation_level") or 1), _user(user),
                       schedule.get("summary"), parse_time(obj["end"]) if obj.get("end") else None)


class PagerDutyRestDirectory:
    """``GET /escalation_policies``, ``GET /oncalls``, ``GET /users?query=``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def _read(self, fn: Callable[[pagerduty.RestApiV2Client], T]) -> T:
        if not self.settings.pagerduty_api_token:
            raise PagerDutyUnavailable("PagerDuty is not configured: set PAGERDUTY_API_TOKEN.")
        client = rest_client(self.settings)
        url = self.settings.pagerduty_api_url
        try:
            return await asyncio.to_thread(fn, client)
        except pagerduty.HttpError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status in (401, 403):
                raise PagerDutyUnavailable(
                    f"PagerDuty refused the API key ({status}): check PAGERDUTY_API_TOKEN.") from exc
            raise PagerDutyUnavailable(f"PagerDuty answered {status} at {url}; try again in a "
                                       "minute.") from exc
        except (pagerduty.Error, OSError) as exc:  # connection errors, timeouts (wrapped)
            log.warning("pagerduty.read_failed", error=str(exc)[:300])
            raise PagerDutyUnavailable(f"PagerDuty is unreachable at {url} (PAGERDUTY_API_URL); "
                                       "try again in a minute.") from exc

    async def escalation_policies(self) -> list[EscalationPolicy]:
        found = await self._read(lambda c: list(c.iter_all("escalation_policies")))
        return [EscalationPolicy(str(p["id"]), str(p.get("name") or p.get("summary") or p["id"]))
                for p in found if p.get("id")]

    async def on_call(self, policy_ids: Sequence[str]) -> list[OnCallShift]:
        params = {"escalation_policy_ids[]": list(policy_ids), "include[]": ["users"],
                  "earliest": "true"}
        found = await self._read(lambda c: list(c.iter_all("oncalls", params=params)))
        return [s for s in (_shift(o) for o in found) if s is not None]

    async def user_by_email(self, email: str) -> PdUser | None:
        found = await self._read(lambda c: c.find("users", email, attribute="email"))
        return _user(found) if found else None


class SlackPeople:
    """Slack users by e-mail (``users.lookupByEmail``) and back (``users.info``). A lookup that
    fails shows the person by name instead; it never fails the command."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def by_email(self, email: str) -> str | None:
        try:
            response = await asyncio.wait_for(self.client.users_lookupByEmail(email=email),
                                              SLACK_LOOKUP_SECONDS)
            return str(response["user"]["id"])
        except SlackApiError as exc:
            if exc.response.get("error") != "users_not_found":
                log.warning("slack.lookup_by_email_failed", error=exc.response.get("error"))
            return None
        except (TimeoutError, OSError) as exc:
            log.warning("slack.lookup_by_email_failed", error=str(exc)[:200])
            return None

    async def email_of(self, user_id: str) -> str | None:
        try:
            response = await asyncio.wait_for(self.client.users_info(user=user_id),
                                              SLACK_LOOKUP_SECONDS)
        except (SlackApiError, TimeoutError, OSError) as exc:
            log.warning("slack.users_info_failed", error=str(exc)[:200])
            return None
        email = ((response.get("user") or {}).get("profile") or {}).get("email")
        return str(email) if email else None
