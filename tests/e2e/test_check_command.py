"""`incident-bot check` and the CLI's output contract, run as an operator runs them (issue 16).

The CLI runs as a subprocess in a directory of its own, against the local Slack stand-in and a
real SQLite file or PostgreSQL database: what is asserted is exactly what a person or a script
reading stdout and stderr would see.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import pty
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from bot.cli.check import BOT_SCOPES
from bot.local.slack_standin import SlackStandIn
from bot.settings import Settings
from storage import migrate
from storage.db import create_engine
from storage.preflight import read_only_engine

ROOT = Path(__file__).resolve().parents[2]
RESULT_LINE_LEVELS = ("ok  ", "warn", "FAIL")


@dataclass
class Run:
    code: int
    out: str
    err: str

    def lines(self, name: str) -> list[str]:
        """The result lines of one check (``level  name  message``), level and name dropped."""
        found = []
        for line in self.out.splitlines():
            parts = line.split(None, 2)
            if len(parts) == 3 and parts[1] == name and parts[0] in ("ok", "warn", "FAIL"):
                found.append(f"{parts[0]} {parts[2]}")
        return found


InProcess = Callable[..., Awaitable[Run]]


def clean_env(**settings: str) -> dict[str, str]:
    """The test process's environment without any bot setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields
           and k not in ("NO_COLOR", "FORCE_COLOR")}
    return {**env, "PYTHONPATH": str(ROOT), **settings}


async def incident_bot(*args: str, cwd: Path, env: dict[str, str]) -> Run:
    """Run the command line without blocking the event loop the Slack stand-in answers on."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> InProcess:
    """The command line's main() in this process (faster than a subprocess), its streams captured;
    for variations of a case a subprocess test already covers."""
    from bot.cli.main import main

    async def run(*args: str, cwd: Path, env: dict[str, str]) -> Run:
        monkeypatch.chdir(cwd)
        for name in [k for k in os.environ if k not in env]:
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(args))
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn(bot_token="xoxb-check") as standin:
        yield standin


def slack_env(slack: SlackStandIn, **more: str) -> dict[str, str]:
    secret = "signing-secret"  # pragma: allowlist secret (a test value for the stand-in)
    return clean_env(SLACK_BOT_TOKEN="xoxb-check", SLACK_SIGNING_SECRET=secret, SLACK_API_URL=slack.url,
                     **more)


def snapshot(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` with a hash of its bytes."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


# -- never writes ------------------------------------------------------------------------------


async def test_check_in_a_fresh_directory_creates_no_database(tmp_path: Path, slack: SlackStandIn) -> None:
    run = await incident_bot("check", cwd=tmp_path, env=slack_env(slack))
    assert run.lines("database") == ["warn ./incidents.db does not exist yet; `serve` (or `db upgrade`) "
                                     "would create it (not created by this check)"]
    assert run.code == 0 and run.out.rstrip().endswith("ready: `incident-bot serve`")
    assert run.err == ""  # results on stdout, and nothing else to say
    assert files_in(tmp_path) == []


async def table_rows(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
            return {name: (await conn.execute(sa.text(f'SELECT count(*) FROM "{name}"'))).scalar_one()
                    for name in names}
    finally:
        await engine.dispose()


async def test_check_reads_a_live_database_without_changing_it(
        database_url: str, tmp_path: Path, slack: SlackStandIn, in_process: InProcess) -> None:
    env = slack_env(slack, DATABASE_URL=database_url)
    added = await in_process("models", "add", "credit-risk-v3", "--version", "3.1.0", "--team", "risk-ml",
                             cwd=tmp_path, env=env)
    assert added.code == 0, added.err
    rows, files = await table_rows(database_url), snapshot(tmp_path)

    run = await incident_bot("check", "--format", "json", cwd=tmp_path, env=env)
    [database] = [c for c in json.loads(run.out)["checks"] if c["name"] == "database"]
    assert database["ok"] and database["level"] == "ok"
    assert database["message"].endswith(f"schema at {migrate.head_revision()}, 1 model(s)")
    assert await table_rows(database_url) == rows and snapshot(tmp_path) == files


async def test_an_empty_database_is_reported_not_migrated(
        database_url: str, tmp_path: Path, in_process: InProcess) -> None:
    if database_url.startswith("sqlite"):
        Path(database_url.split("///", 1)[1]).write_bytes(b"")  # noqa: ASYNC240 (an empty SQLite file)
    run = await in_process("check", cwd=tmp_path, env=clean_env(DATABASE_URL=database_url))
    [line] = run.lines("database")
    assert line.startswith("warn ") and f"is at migration none, the code at {migrate.head_revision()}" in line
    assert await table_rows(database_url) == {}  # no alembic_version, no tables: nothing migrated


async def test_the_check_connection_cannot_write(database_url: str) -> None:
    engine = create_engine(database_url)
    await migrate.upgrade(engine)
    await engine.dispose()
    reader = read_only_engine(database_url)
    try:
        async with reader.connect() as conn:
            assert (await conn.execute(sa.text("SELECT count(*) FROM models"))).scalar_one() == 0
            with pytest.raises(sa.exc.DBAPIError, match="read-only|readonly"):
                await conn.execute(sa.text("CREATE TABLE intruder (x integer)"))
    finally:
        await reader.dispose()


# -- settings -------------------------------------------------------------------------------------


BAD_SETTINGS = {"GOVERNANCE_ROLES": '{"incident_commander": "U012AB"}',
                "PAGERDUTY_ROUTING_KEYS": '{"risk-ml" "R0UTING"}', "LOG_RETENTION_DAYS": "30"}
BAD_SETTINGS_LINES = [
    "PAGERDUTY_ROUTING_KEYS: not valid JSON at line 1 column 12 (Expecting ':' delimiter)",
    "LOG_RETENTION_DAYS=30: Input should be greater than or equal to 90",
    "GOVERNANCE_ROLES: expected a list of ids for incident_commander, got 'U012AB'",
]


async def test_every_bad_setting_is_one_line_and_the_rest_is_still_checked(
        tmp_path: Path, in_process: InProcess) -> None:
    run = await incident_bot("check", cwd=tmp_path, env=clean_env(**BAD_SETTINGS))
    assert run.code == 2
    assert run.lines("settings") == [f"FAIL {line}" for line in BAD_SETTINGS_LINES]
    assert run.lines("policy") == ["ok built-in GOV-001 (set POLICY_FILE for your own)"]
    assert "Traceback" not in run.err + run.out and files_in(tmp_path) == []

    for command in (("serve",), ("db", "current")):  # any command: the same lines, on stderr
        refused = await in_process(*command, cwd=tmp_path, env=clean_env(**BAD_SETTINGS))
        assert refused.code == 2 and refused.out == ""
        assert refused.err.splitlines() == [f"incident-bot: invalid configuration: {line}"
                                            for line in BAD_SETTINGS_LINES]


async def test_a_secret_setting_is_named_but_its_value_never_shown(
        tmp_path: Path, in_process: InProcess) -> None:
    run = await in_process("check", cwd=tmp_path, env=clean_env(
        PAGERDUTY_ROUTING_KEYS='{"risk-ml": 12345678}'))
    assert run.lines("settings") == ["FAIL PAGERDUTY_ROUTING_KEYS: expected text for risk-ml, got a value "
                                     "(hidden)"]
    assert "12345678" not in run.out


# -- MODELS_FILE ----------------------------------------------------------------------------------


MODELS_WITH_TYPOS = """\
models:
  - name: credit-risk-v3
    version: "3.1.0"
    team: risk-ml
    drfit:
      every: 1h
  - name: fraud-detector
    version: "2.0.0"
    team: fraud
    drift:
      every: hourly
      features: [amount]
      source: {kind: csv, reference: ref.csv, current: cur.csv}
"""


async def test_a_bad_models_file_is_named_by_line_and_key_and_serve_refuses_it(
        tmp_path: Path, in_process: InProcess) -> None:
    (tmp_path / "models.yml").write_text(MODELS_WITH_TYPOS)
    env = clean_env(MODELS_FILE="models.yml", SLACK_BOT_TOKEN="xoxb-x", SLACK_SIGNING_SECRET="s")
    expected = [
        "models.yml:5: models[0].drfit: unknown key 'drfit' (did you mean 'drift'?); allowed: name, "
        "version, stage, team, labels, feature_store_ref, model_card_url, drift",
        "models.yml:11: models[1].drift.every: 'hourly' is not a duration; use e.g. 30s, 5m, 2h, 14d or "
        "1h30m (or none)",
    ]
    run = await incident_bot("check", cwd=tmp_path, env=env)
    assert run.code == 1 and run.lines("models") == [f"FAIL {line}" for line in expected]

    serve = await incident_bot("serve", "--port", "0", cwd=tmp_path, env=env)
    assert serve.code == 2 and serve.out == ""
    assert serve.err.splitlines() == ["incident-bot: MODELS_FILE is malformed; not starting.", *expected]
    assert files_in(tmp_path) == ["models.yml"]  # refused before any database

    (tmp_path / "models.yml").write_text(MODELS_WITH_TYPOS.replace("drfit", "labels").replace(
        "      every: 1h\n", "").replace("labels:\n", "labels: []\n").replace("hourly", "1h"))
    fixed = await in_process("check", cwd=tmp_path, env=env)
    assert fixed.lines("models") == ["ok models.yml: 2 model(s), 1 drift job(s)"]


# -- Slack: scopes and the incidents channel ------------------------------------------------------


def test_the_scopes_compared_are_the_manifests() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert sorted(BOT_SCOPES) == sorted(manifest["oauth_config"]["scopes"]["bot"])


async def test_missing_scopes_are_named_with_the_reinstall_step(
        tmp_path: Path, slack: SlackStandIn, in_process: InProcess) -> None:
    ok = await in_process("check", cwd=tmp_path, env=slack_env(slack))
    assert ok.lines("scopes") == [f"ok all {len(BOT_SCOPES)} bot scopes of manifest.yml granted"]

    slack.granted_scopes = tuple(s for s in BOT_SCOPES if s not in ("files:write", "pins:write"))
    run = await in_process("check", cwd=tmp_path, env=slack_env(slack))
    assert run.code == 1
    assert run.lines("scopes") == [
        "FAIL the token lacks files:write, pins:write (manifest.yml asks for them): add them to the app "
        "and reinstall the app after scope changes (OAuth & Permissions -> Reinstall to Workspace)"]


async def test_the_bot_must_be_a_member_of_the_incident_channel(
        tmp_path: Path, slack: SlackStandIn, in_process: InProcess) -> None:
    slack.add_channel("war-room", members=["U0ALICE"])
    outside = await incident_bot("check", cwd=tmp_path, env=slack_env(slack, INCIDENT_CHANNEL="#war-room"))
    assert outside.code == 1
    assert outside.lines("channel") == [
        "FAIL the bot is not a member of #war-room, so it cannot post announcements there: in Slack, "
        "type `/invite @incident-bot` in #war-room"]

    missing = await in_process("check", cwd=tmp_path, env=slack_env(slack, INCIDENT_CHANNEL="ml-incidnets"))
    assert missing.lines("channel") == [
        "FAIL no channel #ml-incidnets the bot can see: create it and type `/invite @incident-bot` in "
        "#ml-incidnets, or set INCIDENT_CHANNEL"]

    by_id = await in_process("check", cwd=tmp_path,
                             env=slack_env(slack, INCIDENT_CHANNEL=slack.incident_channel_id))
    member = f"ok the bot is a member of #ml-incidents ({slack.incident_channel_id})"
    assert by_id.lines("channel") == [member]


# -- the output contract ----------------------------------------------------------------------------


async def test_json_format_is_the_whole_of_stdout(tmp_path: Path, slack: SlackStandIn) -> None:
    run = await incident_bot("check", "--format", "json", cwd=tmp_path,
                             env=slack_env(slack, INCIDENT_CHANNEL="nowhere"))
    result = json.loads(run.out)
    assert result["exit_status"] == run.code == 1 and result["ready"] is False
    assert [c["name"] for c in result["checks"]] == ["settings", "database", "slack", "scopes", "channel",
                                                     "policy", "runbooks", "governance"]
    assert all(set(c) == {"name", "ok", "level", "message"} for c in result["checks"])
    assert [c["name"] for c in result["checks"] if not c["ok"]] == ["channel"]
    assert run.err == ""


async def test_results_go_to_stdout_and_log_lines_to_stderr(tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}")
    added = await incident_bot("models", "add", "fraud-detector", "--version", "2.0.0", "--team", "fraud",
                               cwd=tmp_path, env=env)
    assert added.out == "registered fraud-detector v2.0.0 (production, team fraud)\n"
    assert "model.registered" in added.err and "log_type=audit" in added.err  # the audit line, on stderr

    verified = await incident_bot("audit", "verify", cwd=tmp_path, env=env)
    assert verified.code == 0 and verified.out.startswith("audit chain intact: 1 rows verified")
    assert len(verified.out.splitlines()) == 1 and "model.registered" not in verified.out

    for name, shift in (("ref", 0), ("cur", 40)):
        values = "".join(f"{i % 100 + shift}\n" for i in range(500))
        (tmp_path / f"{name}.csv").write_text(f"amount\n{values}")  # noqa: ASYNC240
    drift = await incident_bot("drift", "check", "--reference", "ref.csv", "--current", "cur.csv",
                               "--format", "json", cwd=tmp_path, env=env)
    assert drift.code == 0 and json.loads(drift.out)["drift_detected"] is True
    assert "drift_detected" not in drift.err  # the result (all of stdout, JSON) is not repeated on stderr
    for run in (added, verified, drift):
        assert "\x1b[" not in run.out + run.err  # neither stream is a terminal: no colour


def on_a_terminal(*args: str, env: dict[str, str], cwd: Path) -> str:
    """What a person sees: the command with its stdout on a pseudo-terminal."""
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=env,
                                stdout=secondary, stderr=subprocess.DEVNULL)
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # EIO: the command exited and closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=60) == 1
        return b"".join(chunks).decode()
    finally:
        os.close(primary)


def test_bold_only_on_a_terminal_and_never_with_no_color(tmp_path: Path) -> None:
    env = clean_env()  # no Slack token: the slack line is a FAIL, printed in bold for a person
    assert "\x1b[1mFAIL\x1b[0m  slack" in on_a_terminal("check", env=env, cwd=tmp_path)
    plain = on_a_terminal("check", env={**env, "NO_COLOR": "1"}, cwd=tmp_path)
    assert "FAIL  slack" in plain and "\x1b[" not in plain
