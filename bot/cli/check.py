"""``incident-bot check``: before the first ``serve``, say what is ready and what is not.

Each line is ``ok``, ``warn`` (works, but probably not what you want) or ``FAIL`` (serve would
not work), with what to do; the exit status is 1 when anything failed.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from typing import Any

from bot.settings import Settings


@dataclass
class Finding:
    level: str  # ok | warn | FAIL
    what: str
    detail: str


def register(subparsers: Any) -> None:
    check = subparsers.add_parser("check", help="check the configuration, database and Slack token")
    check.set_defaults(func=_check)


def _check(_: argparse.Namespace) -> int:
    findings = asyncio.run(run_checks(Settings()))
    width = max(len(f.what) for f in findings)
    for f in findings:
        print(f"{f.level:4}  {f.what:{width}}  {f.detail}")
    failed = sum(f.level == "FAIL" for f in findings)
    print(f"\n{failed} problem(s)" if failed else "\nready: `incident-bot serve`")
    return 1 if failed else 0


async def run_checks(settings: Settings) -> list[Finding]:
    findings = [await _database(settings), await _slack(settings), _policy(settings),
                _runbooks(settings), *_pagerduty(settings), governance_finding(settings)]
    return findings


async def _database(settings: Settings) -> Finding:
    from storage import migrate
    from storage.db import DatabaseUrlError, create_engine, failure_reason, safe_url
    from storage.repositories import SqlModelRepository

    where = safe_url(settings.database_url)
    try:
        engine = create_engine(settings.database_url)
    except DatabaseUrlError as exc:
        return Finding("FAIL", "database", str(exc))
    try:
        revision = await migrate.current_revision(engine)
        head = migrate.head_revision()
        if revision != head:
            return Finding("warn", "database", f"{where} is at migration {revision or 'none'}, "
                                               f"the code at {head}: `serve` (or `db upgrade`) applies them")
        async with engine.connect() as conn:
            models = await SqlModelRepository(conn).list()
        if not models:
            return Finding("warn", "database", f"{where}: no models registered; declarations "
                                               "need one (`incident-bot models add NAME ...`)")
        return Finding("ok", "database", f"{where}, schema at {head}, {len(models)} model(s)")
    except Exception as exc:  # any failure to reach it is the finding
        return Finding("FAIL", "database", f"cannot reach {where}: {failure_reason(exc)[:200]}")
    finally:
        await engine.dispose()


async def _slack(settings: Settings) -> Finding:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    if not settings.slack_bot_token:
        return Finding("FAIL", "slack", "SLACK_BOT_TOKEN is not set (the xoxb- token from the app's "
                                        "OAuth page); without Slack, try `incident-bot demo`")
    if not settings.slack_signing_secret and not settings.slack_app_token:
        return Finding("FAIL", "slack", "set SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN "
                                        "(Socket Mode, `serve --socket-mode`)")
    if settings.slack_app_token and not settings.slack_app_token.startswith("xapp-"):
        return Finding("FAIL", "slack", "SLACK_APP_TOKEN must be an app-level token (xapp-...) with "
                                        "connections:write")
    client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    try:
        identity = await asyncio.wait_for(client.auth_test(), 10)
    except SlackApiError as exc:
        return Finding("FAIL", "slack", f"Slack refused the bot token: {exc.response.get('error')}")
    except Exception as exc:  # unreachable, DNS, timeout
        return Finding("FAIL", "slack", f"cannot reach {settings.slack_api_url}: "
                                        f"{type(exc).__name__}: {exc}"[:200])
    mode = "Socket Mode and HTTP" if settings.slack_app_token else "HTTP mode"
    return Finding("ok", "slack", f"bot @{identity.get('user')} in {identity.get('team')} "
                                  f"({mode}); invite it to #{settings.incident_channel.lstrip('#')}")


def _policy(settings: Settings) -> Finding:
    from bot.policy_loader import PolicyFileError, load_policy_file

    if not settings.policy_file:
        return Finding("ok", "policy", "built-in GOV-001 (set POLICY_FILE for your own)")
    try:
        policy = load_policy_file(settings.policy_file)
    except (PolicyFileError, OSError) as exc:
        return Finding("FAIL", "policy", str(exc)[:300])
    return Finding("ok", "policy", f"{settings.policy_file} ({policy.name or 'unnamed'})")


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
    from bot.governance_wiring import enforcing, mode_problem

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
