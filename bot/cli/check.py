"""``incident-bot check``: before the first ``serve``, say what is ready and what is not.

Each line is ``ok``, ``warn`` (works, but probably not what you want) or ``FAIL`` (serve would
not work), with what to do. The exit status is 2 when a setting is invalid, 1 when anything
else failed, 0 when ready. ``--format json`` prints the same checks for a machine.

A pre-flight check never writes (issue 16): the database is opened read-only and a SQLite file
that does not exist yet is not created (:mod:`storage.preflight`); Slack is only asked
(``auth.test``, ``conversations.list``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.cli.output import bold
from bot.settings import Settings
from bot.settings_problems import load_settings

# The bot scopes manifest.yml asks for (tests/e2e/test_check_command.py keeps the two equal).
# Kept in code so the check also runs from the container image, which ships no manifest.yml.
BOT_SCOPES = ("channels:history", "channels:manage", "channels:read", "chat:write", "commands",
              "files:write", "groups:history", "pins:write", "users:read.email", "usergroups:read",
              "users:read", "pins:read", "reactions:read", "groups:read", "groups:write")
SLACK_TIMEOUT = 10.0
MAX_CHANNEL_PAGES = 50


@dataclass
class Finding:
    level: str  # ok | warn | FAIL
    what: str
    detail: str

    @property
    def ok(self) -> bool:
        return self.level != "FAIL"


def register(subparsers: Any) -> None:
    check = subparsers.add_parser(
        "check", help="check settings, database, Slack (token, scopes, channel), policy and models "
                      "without changing anything")
    check.add_argument("--format", choices=("text", "json"), default="text",
                       help="json: {ready, exit_status, checks: [{name, ok, level, message}]}")
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    settings, problems = load_settings()
    findings = [Finding("FAIL", "settings", problem) for problem in problems] or [
        Finding("ok", "settings", "every setting is valid (environment and .env)")]
    findings += asyncio.run(run_checks(settings))
    status = 2 if problems else (1 if any(not f.ok for f in findings) else 0)
    if args.format == "json":
        print(json.dumps({"ready": status == 0, "exit_status": status, "checks": [
            {"name": f.what, "ok": f.ok, "level": f.level, "message": f.detail} for f in findings]},
            indent=2))
        return status
    width = max(len(f.what) for f in findings)
    for f in findings:
        level = bold(f"{f.level:4}") if f.level != "ok" else f"{f.level:4}"
        print(f"{level}  {f.what:{width}}  {f.detail}")
    failed = sum(not f.ok for f in findings)
    print(f"\n{failed} problem(s)" if failed else "\nready: `incident-bot serve`")
    return status


async def run_checks(settings: Settings) -> list[Finding]:
    """Every check but the settings' own (those need the raw environment: :func:`_check`)."""
    return [await _database(settings), *await _slack(settings), _policy(settings),
            *_models(settings), _runbooks(settings), *_pagerduty(settings), governance_finding(settings)]


async def _database(settings: Settings) -> Finding:
    from storage import migrate
    from storage.db import DatabaseUrlError, failure_reason, safe_url
    from storage.preflight import inspect_database

    where = safe_url(settings.database_url)
    try:
        state = await asyncio.wait_for(inspect_database(settings.database_url), 20)
    except DatabaseUrlError as exc:
        return Finding("FAIL", "database", str(exc))
    except Exception as exc:  # any failure to reach it is the finding
        return Finding("FAIL", "database", f"cannot reach {where}: {failure_reason(exc)[:200]}")
    if state.missing:
        return Finding("warn", "database", f"{state.path} does not exist yet; `serve` (or `db upgrade`) "
                                           "would create it (not created by this check)")
    if state.in_memory:
        return Finding("warn", "database", f"{where} is in memory: every restart starts empty")
    head = migrate.head_revision()
    if state.revision != head:
        return Finding("warn", "database", f"{where} is at migration {state.revision or 'none'}, the "
                                           f"code at {head}: `serve` (or `db upgrade`) applies them")
    if not state.models:
        return Finding("warn", "database", f"{where}: no models registered; declarations need one "
                                           "(`incident-bot models add NAME ...`)")
    return Finding("ok", "database", f"{where}, schema at {head}, {state.models} model(s)")


async def _slack(settings: Settings) -> list[Finding]:
    """The token works, it has the manifest's scopes, and the bot is in the incidents channel."""
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    if not settings.slack_bot_token:
        return [Finding("FAIL", "slack", "SLACK_BOT_TOKEN is not set (the xoxb- token from the app's "
                                         "OAuth page); without Slack, try `incident-bot demo`")]
    if not settings.slack_signing_secret and not settings.slack_app_token:
        return [Finding("FAIL", "slack", "set SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN "
                                         "(Socket Mode, `serve --socket-mode`)")]
    if settings.slack_app_token and not settings.slack_app_token.startswith("xapp-"):
        return [Finding("FAIL", "slack", "SLACK_APP_TOKEN must be an app-level token (xapp-...) with "
                                         "connections:write")]
    client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    try:
        identity = await asyncio.wait_for(client.auth_test(), SLACK_TIMEOUT)
    except SlackApiError as exc:
        return [Finding("FAIL", "slack", f"Slack refused the bot token: {exc.response.get('error')}")]
    except Exception as exc:  # unreachable, DNS, timeout
        return [Finding("FAIL", "slack", f"cannot reach {settings.slack_api_url}: "
                                         f"{type(exc).__name__}: {exc}"[:200])]
    mode = "Socket Mode and HTTP" if settings.slack_app_token else "HTTP mode"
    bot = str(identity.get("user") or "incident-bot")
    return [Finding("ok", "slack", f"bot @{bot} in {identity.get('team')} ({mode})"),
            scopes_finding(identity.headers),
            await _channel(client, settings.incident_channel, bot)]


def scopes_finding(headers: Mapping[str, Any]) -> Finding:
    """Compare the token's scopes (``x-oauth-scopes`` on every Web API answer) with the manifest."""
    header = next((str(v) for k, v in headers.items() if k.lower() == "x-oauth-scopes"), None)
    if header is None:
        return Finding("warn", "scopes", "Slack did not say which scopes the token has (no "
                                         "x-oauth-scopes header); compare the app's OAuth page with "
                                         "manifest.yml")
    granted = {scope.strip() for scope in header.split(",") if scope.strip()}
    missing = [scope for scope in BOT_SCOPES if scope not in granted]
    if missing:
        return Finding("FAIL", "scopes", f"the token lacks {', '.join(missing)} (manifest.yml asks for "
                                         "them): add them to the app and reinstall the app after scope "
                                         "changes (OAuth & Permissions -> Reinstall to Workspace)")
    return Finding("ok", "scopes", f"all {len(BOT_SCOPES)} bot scopes of manifest.yml granted")


async def _channel(client: Any, wanted: str, bot: str) -> Finding:
    """Whether the bot is a member of INCIDENT_CHANNEL (a name or a channel id)."""
    from slack_sdk.errors import SlackApiError

    private_listed = True
    try:
        channels = await _list_channels(client, "public_channel,private_channel")
    except SlackApiError as exc:
        if exc.response.get("error") != "missing_scope":
            return Finding("FAIL", "channel", f"cannot list channels: {exc.response.get('error')}")
        private_listed = False
        try:
            channels = await _list_channels(client, "public_channel")
        except SlackApiError as again:
            return Finding("FAIL", "channel", f"cannot list channels: {again.response.get('error')}")
    except Exception as exc:  # unreachable, timeout
        return Finding("FAIL", "channel", f"cannot list channels: {type(exc).__name__}: {exc}"[:200])
    invite = f"in Slack, type `/invite @{bot}` in #{wanted}"
    for channel in channels:
        if wanted not in (channel.get("name"), channel.get("id")):
            continue
        name = channel.get("name", wanted)
        if channel.get("is_archived"):
            return Finding("FAIL", "channel", f"#{name} is archived: unarchive it or set INCIDENT_CHANNEL")
        if channel.get("is_member"):
            return Finding("ok", "channel", f"the bot is a member of #{name} ({channel.get('id')})")
        return Finding("FAIL", "channel", f"the bot is not a member of #{name}, so it cannot post "
                                          f"announcements there: {invite}")
    hidden = "" if private_listed else " (private channels are not listed without groups:read)"
    return Finding("FAIL", "channel", f"no channel #{wanted} the bot can see{hidden}: create it and "
                                      f"{invite.removeprefix('in Slack, ')}, or set INCIDENT_CHANNEL")


async def _list_channels(client: Any, types: str) -> list[dict[str, Any]]:
    channels: list[dict[str, Any]] = []
    cursor = None
    for _ in range(MAX_CHANNEL_PAGES):
        page = await asyncio.wait_for(client.conversations_list(
            types=types, exclude_archived=False, limit=1000, cursor=cursor), SLACK_TIMEOUT)
        channels += page.get("channels") or []
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    return channels


def _policy(settings: Settings) -> Finding:
    from bot.policy_loader import PolicyFileError, load_policy_file

    if not settings.policy_file:
        return Finding("ok", "policy", "built-in GOV-001 (set POLICY_FILE for your own)")
    try:
        policy = load_policy_file(settings.policy_file)
    except (PolicyFileError, OSError) as exc:
        return Finding("FAIL", "policy", str(exc)[:600])
    return Finding("ok", "policy", f"{settings.policy_file} ({policy.name or 'unnamed'})")


def _models(settings: Settings) -> list[Finding]:
    """MODELS_FILE validated as `serve` will read it: one ``file:line: key: problem`` per problem."""
    from bot.policy_loader import PolicyFileError, load_models_file

    if not settings.models_file:
        return []
    try:
        parsed = load_models_file(settings.models_file)
    except PolicyFileError as exc:
        return [Finding("FAIL", "models", line) for line in str(exc).splitlines()]
    jobs = sum(1 for entry in parsed.models if entry.drift)
    return [Finding("ok", "models", f"{settings.models_file}: {len(parsed.models)} model(s), "
                                    f"{jobs} drift job(s)")]


def _runbooks(settings: Settings) -> Finding:
    from runbooks import RUNBOOKS_DIR, load_all

    directory = settings.runbooks_dir or RUNBOOKS_DIR
    found, problems = load_all(directory)
    if problems:
        return Finding("warn", "runbooks", f"{len(found)} usable, {len(problems)} skipped: "
                                           f"{problems[0]} (`incident-bot runbooks check`)")
    if not found:
        return Finding("warn", "runbooks", f"none in {directory}: incidents get no checklist")
    return Finding("ok", "runbooks", f"{len(found)} in {directory}")


def governance_finding(settings: Settings) -> Finding:
    """Role checks off (GOVERNANCE_ROLES unset or GOVERNANCE_MODE=open) is a warn (issue 15);
    enforced without any grant would refuse every restricted action: FAIL."""
    from bot.features.governance import enforcing, mode_problem

    problem = mode_problem(settings)
    if problem is None:
        granted = sum(len(ids) for ids in settings.governance_roles.values())
        return Finding("ok", "governance", f"RACI role checks enforced ({granted} grant(s))")
    return Finding("warn" if not enforcing(settings) else "FAIL", "governance", problem)


def _pagerduty(settings: Settings) -> list[Finding]:
    wanted = [settings.pagerduty_api_token, settings.pagerduty_webhook_secret,
              settings.pagerduty_routing_keys]
    if not any(wanted):
        return []
    missing = [name for name, value in (
        ("PAGERDUTY_WEBHOOK_SECRET", settings.pagerduty_webhook_secret),
        ("PAGERDUTY_API_TOKEN", settings.pagerduty_api_token),
        ("PAGERDUTY_FROM_EMAIL", settings.pagerduty_from_email)) if not value]
    if not (settings.pagerduty_service_models or settings.pagerduty_default_model):
        missing.append("PAGERDUTY_SERVICE_MODELS or PAGERDUTY_DEFAULT_MODEL")
    if missing:
        return [Finding("warn", "pagerduty", "partly configured; also set " + ", ".join(missing))]
    return [Finding("ok", "pagerduty", "webhooks, REST and paging configured")]
