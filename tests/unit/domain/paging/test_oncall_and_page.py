"""On call and paging (domain/paging/oncall.py, pages.py) as specifications, on the in-memory
unit of work with a fake PagerDuty directory and chat directory: no database, no HTTP (end to end:
tests/e2e/test_oncall_and_page.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pytest

from bot.slack_ui.mrkdwn import mention
from bot.slack_ui.mrkdwn import mentioned_user as slack
from bot.slack_ui.paging import PagingTexts
from domain.model import Actor, DomainError, Incident, Severity, Status
from domain.paging.oncall import (
    EscalationPolicy,
    OnCall,
    OnCallShift,
    PagerDutyUnavailable,
    PagingConfig,
    PdUser,
    UnknownTeam,
    ordered,
    policy_for_team,
    slug,
)
from domain.paging.pagerduty import PD_EVENT, PD_RESPONDERS, PagerDutyConfig, PagerDutyEvents, Verdict
from domain.paging.pages import (
    PD_RESPONDER_REQUEST,
    TEAM,
    USER,
    Page,
    PageTarget,
    Paging,
    acknowledger,
    parse_page,
)
from domain.paging.ports import AlertGroup, PagerDutyLink
from domain.policy import default_policy
from domain.ports import UnitOfWork
from domain.services import THREAD, DeclareIncident, IncidentRef, IncidentService
from tests.fakes import FakeClock, FakeDatabase, database_with_models
from tests.unit.domain.paging.test_paging_use_cases import PagingFakeUnitOfWork

ALICE = Actor("U0DECLARER", "alice")
ML = EscalationPolicy("PEPML", "ML Platform")
RISK = EscalationPolicy("PEPRISK", "Risk ML - Escalation")
CAROL = PdUser("PCAROL", "Carol", "carol@example.com")
DAVE = PdUser("PDAVE", "Dave", "dave@example.com")
ERIN = PdUser("PERIN", "Erin", None)


class FakeDirectory:
    def __init__(self, down: bool = False) -> None:
        self.down = down
        self.shifts = [OnCallShift(ML, 2, DAVE), OnCallShift(ML, 1, CAROL, "primary"),
                       OnCallShift(ML, 1, CAROL, "secondary"), OnCallShift(RISK, 1, ERIN)]
        self.asked: list[Sequence[str]] = []

    def _up(self) -> None:
        if self.down:
            raise PagerDutyUnavailable("PagerDuty is unreachable")

    async def escalation_policies(self) -> list[EscalationPolicy]:
        self._up()
        return [ML, RISK]

    async def on_call(self, policy_ids: Sequence[str]) -> list[OnCallShift]:
        self._up()
        self.asked.append(policy_ids)
        return [s for s in self.shifts if s.policy.id in policy_ids]

    async def user_by_email(self, email: str) -> PdUser | None:
        self._up()
        return next((u for u in (CAROL, DAVE) if u.email == email), None)


class FakePeople:
    slack = {"carol@example.com": "U0CAROL", "dave@example.com": "U0DAVE"}

    async def by_email(self, email: str) -> str | None:
        return self.slack.get(email)

    async def email_of(self, user_id: str) -> str | None:
        return {v: k for k, v in self.slack.items()}.get(user_id)


class FakePageLog:
    def __init__(self) -> None:
        self.pages: list[Page] = []
        self.invited: set[tuple[uuid.UUID, str]] = set()

    async def for_incident(self, incident_id: uuid.UUID) -> list[Page]:
        return [p for p in self.pages if p.incident_id == incident_id]

    async def add(self, page: Page) -> None:
        self.pages.append(page)

    async def learned(self, dedup_key: str, pd_incident_id: str) -> uuid.UUID | None:
        for i, page in enumerate(self.pages):
            if page.dedup_key == dedup_key:
                self.pages[i] = Page(**{**page.__dict__, "pd_incident_id": pd_incident_id})
                return page.incident_id
        return None

    async def incident_for(self, pd_incident_id: str, dedup_key: str | None) -> uuid.UUID | None:
        return next((p.incident_id for p in self.pages if p.pd_incident_id == pd_incident_id
                     or (dedup_key and p.dedup_key == dedup_key)), None)

    async def invite_once(self, incident_id: uuid.UUID, pd_user_id: str, at: datetime) -> bool:
        if (incident_id, pd_user_id) in self.invited:
            return False
        self.invited.add((incident_id, pd_user_id))
        return True


class Texts:
    def target(self, target: PageTarget) -> str:
        return f"<@{target.name}>" if target.kind == USER else target.name

    def no_account(self, user_id: str, teams: str) -> str:
        return PagingTexts().no_account(user_id, teams)

    def paged(self, incident: Incident, actor: Actor, target: str, message: str) -> str:
        return f"{mention(actor)} paged {target}: {message}"


CONFIG = PagingConfig(teams={"ml-platform": "PEPML"}, routing_keys={"ml-platform": "R-ML", "default": "R-D"},
                      api_configured=True)


@pytest.fixture
def db(clock: FakeClock) -> FakeDatabase:
    return database_with_models(clock, ("credit-risk-v3", "1.0.0", "risk-ml"))


@pytest.fixture
def links() -> dict[uuid.UUID, PagerDutyLink]:
    return {}


@pytest.fixture
def uow(db: FakeDatabase, clock: FakeClock, links: dict[uuid.UUID, PagerDutyLink]
        ) -> Callable[[], PagingFakeUnitOfWork]:
    groups: dict[str, AlertGroup] = {}
    return lambda: PagingFakeUnitOfWork(db, clock, links, groups)


@pytest.fixture
def log() -> FakePageLog:
    return FakePageLog()


@pytest.fixture
def service(uow: Any, clock: FakeClock) -> IncidentService:
    return IncidentService(uow, clock, default_policy())


def paging_for(service: IncidentService, log: FakePageLog, config: PagingConfig = CONFIG,
               directory: FakeDirectory | None = None) -> Paging:
    def pages(_: UnitOfWork) -> FakePageLog:
        return log

    return Paging(service, config, directory or FakeDirectory(), FakePeople(), pages, Texts())


async def declare(service: IncidentService) -> Incident:
    return await service.declare(DeclareIncident("Skewed scores", Severity.P3, "credit-risk-v3"), ALICE)


# -- on call ----------------------------------------------------------------------------------------


def test_teams_match_policy_names_exactly_before_by_prefix() -> None:
    assert slug("ML Platform") == slug("ml_platform") == "ml-platform"
    assert policy_for_team("risk-ml", [ML, RISK]) == RISK  # "Risk ML - Escalation"
    assert policy_for_team("ml-platform", [EscalationPolicy("P2", "ML Platform - old"), ML]) == ML
    assert policy_for_team("nope", [ML, RISK]) is None and policy_for_team("!!", [ML]) is None


def test_level_one_comes_first_and_a_person_once_per_level() -> None:
    shifts = ordered(FakeDirectory().shifts[:3])
    assert [(s.level, s.user.id) for s in shifts] == [(1, "PCAROL"), (2, "PDAVE")]


async def test_oncall_for_every_configured_team_with_chat_users_by_email() -> None:
    directory = FakeDirectory()
    [team] = await OnCall(directory, FakePeople(), CONFIG).who()
    assert (team.team, team.policy) == ("ml-platform", ML)
    assert [(s.level, s.user.name) for s in team.shifts] == [(1, "Carol"), (2, "Dave")]
    assert team.chat_users == {"PCAROL": "U0CAROL", "PDAVE": "U0DAVE"}
    assert directory.asked == [["PEPML"]]
    [risk] = await OnCall(directory, FakePeople(), CONFIG).who("risk-ml")  # by policy name
    assert risk.policy == RISK and risk.chat_users == {}  # Erin has no e-mail: shown by name


async def test_without_a_team_mapping_every_policy_is_a_team() -> None:
    teams = await OnCall(FakeDirectory(), FakePeople(), PagingConfig(api_configured=True)).who()
    assert [t.team for t in teams] == ["ML Platform", "Risk ML - Escalation"]


async def test_oncall_errors_say_what_to_set() -> None:
    with pytest.raises(UnknownTeam, match=r"Unknown team `nope`. Teams: `ml-platform`."):
        await OnCall(FakeDirectory(), FakePeople(), CONFIG).who("nope")
    with pytest.raises(PagerDutyUnavailable, match="PAGERDUTY_API_TOKEN"):
        await OnCall(FakeDirectory(), FakePeople(), PagingConfig()).who()
    with pytest.raises(PagerDutyUnavailable, match="unreachable"):
        await OnCall(FakeDirectory(down=True), FakePeople(), CONFIG).who()


# -- whom to page -------------------------------------------------------------------------------


def test_parse_page() -> None:
    assert parse_page("ml-platform scores are zero", slack) == (TEAM, "ml-platform", "scores are zero")
    assert parse_page("<@U0BOB|bob> help", slack) == (USER, "U0BOB", "help")
    assert parse_page("<@U0BOB>", slack) == (USER, "U0BOB", "")
    with pytest.raises(DomainError, match="Say whom to page"):
        parse_page("  ", slack)
    with pytest.raises(DomainError, match="@ list"):
        parse_page("@bob help", slack)


async def test_targets_resolve_from_settings_then_policy_names(service: IncidentService,
                                                               log: FakePageLog) -> None:
    paging = paging_for(service, log)
    target, message = await paging.target("ML_Platform now please", slack)
    assert target == PageTarget(TEAM, "ml-platform", policy_id="PEPML", routing_key="R-ML")
    assert message == "now please"
    assert (await paging.target("risk-ml", slack))[0] == PageTarget(TEAM, "risk-ml", policy_id="PEPRISK")
    assert (await paging.target("<@U0DAVE|dave>", slack))[0] == PageTarget(USER, "U0DAVE", pd_user_id="PDAVE")
    with pytest.raises(UnknownTeam, match="Teams: `ml-platform`"):
        await paging.target("default", slack)  # a fallback routing key, not a team
    with pytest.raises(DomainError, match="no PagerDuty account.*`ml-platform`"):
        await paging.target("<@U0NOBODY>", slack)
    down = paging_for(service, log, directory=FakeDirectory(down=True))
    with pytest.raises(UnknownTeam):  # PagerDuty down: the configured teams are still the answer
        await down.target("nope", slack)
    keyed = PagingConfig(routing_keys={"risk-ml": "R-RISK"}, api_configured=True)
    assert (await paging_for(service, log, keyed).target("risk-ml", slack))[0] == PageTarget(
        TEAM, "risk-ml", policy_id="PEPRISK", routing_key="R-RISK")  # the policy of its name too
    assert (await paging_for(service, log, keyed, FakeDirectory(down=True)).target("risk-ml", slack))[0] \
        == PageTarget(TEAM, "risk-ml", routing_key="R-RISK")


# -- the page --------------------------------------------------------------------------------------


async def test_an_unlinked_incident_pages_the_team_through_events_with_a_stable_dedup_key(
        service: IncidentService, log: FakePageLog, db: FakeDatabase) -> None:
    incident = await declare(service)
    paging = paging_for(service, log)
    target, message = await paging.target("ml-platform scores are zero", slack)
    commits = db.commits
    outcome = await paging.page(IncidentRef(number=1), ALICE, target, message)
    assert db.commits == commits + 1  # page row, note, audit, thread and PagerDuty row together
    [event] = [m for m in db.outbox if m.kind == PD_EVENT]
    assert event.payload["dedup_key"] == f"incident-bot/{incident.id}/page/ml-platform"
    assert event.payload["routing_key"] == "R-ML" and event.payload["action"] == "trigger"
    assert event.payload["payload"]["summary"] == "INC-1 [SEV-3] Skewed scores: scores are zero"
    assert event.payload["payload"]["severity"] == "warning"
    [audit] = [a for a in db.audit if a.action == "incident.paged"]
    assert (audit.actor, audit.details["target"], audit.details["method"]) == (ALICE.id, "ml-platform",
                                                                               "event")
    assert [m.payload["text"] for m in db.outbox if m.kind == THREAD][-1] == \
        "<@U0DECLARER> paged ml-platform: scores are zero"
    assert not outcome.repeat
    again = await paging.page(IncidentRef(number=1), ALICE, target, "still zero")
    dedup = [m.payload["dedup_key"] for m in db.outbox if m.kind == PD_EVENT]
    assert again.repeat and dedup[0] == dedup[1]  # PagerDuty folds it into the open page


async def test_a_linked_incident_gets_responders(service: IncidentService, log: FakePageLog,
                                                 db: FakeDatabase,
                                                 links: dict[uuid.UUID, PagerDutyLink]) -> None:
    incident = await declare(service)
    links[incident.id] = PagerDutyLink(incident.id, pd_incident_id="PD1")
    paging = paging_for(service, log)
    await paging.page(IncidentRef(number=1), ALICE, (await paging.target("ml-platform", slack))[0], "join")
    await paging.page(IncidentRef(number=1), ALICE, (await paging.target("<@U0DAVE>", slack))[0], "")
    requests = [m.payload for m in db.outbox if m.kind == PD_RESPONDER_REQUEST]
    assert [r["targets"] for r in requests] == [[{"id": "PEPML", "type": "escalation_policy_reference"}],
                                                [{"id": "PDAVE", "type": "user_reference"}]]
    assert requests[0]["message"] == "INC-1 page 1 from alice: join"
    assert requests[1]["message"] == "INC-1 page 2 from alice: Skewed scores"
    assert all(r["pd_incident_id"] == "PD1" for r in requests)
    assert not [m for m in db.outbox if m.kind == PD_EVENT]
    with pytest.raises(DomainError, match="PAGERDUTY_TEAMS"):  # a routing key, no policy
        await paging.page(IncidentRef(number=1), ALICE, PageTarget(TEAM, "other", routing_key="R"), "")


async def test_pages_that_cannot_go_are_refused_before_anything_is_written(
        service: IncidentService, log: FakePageLog, db: FakeDatabase) -> None:
    incident = await declare(service)
    paging = paging_for(service, log)
    dave = (await paging.target("<@U0DAVE>", slack))[0]
    with pytest.raises(DomainError, match="no PagerDuty incident to add <@U0DAVE>"):
        await paging.page(IncidentRef(number=1), ALICE, dave, "")
    with pytest.raises(DomainError, match="PAGERDUTY_ROUTING_KEYS"):
        await paging.page(IncidentRef(number=1), ALICE, PageTarget(TEAM, "risk-ml", "PEPRISK"), "")
    await service.change_status(IncidentRef(incident_id=incident.id), Status.RESOLVED, ALICE)
    with pytest.raises(DomainError, match="pages are for active incidents"):
        await paging.page(IncidentRef(number=1), ALICE, (await paging.target("ml-platform", slack))[0], "")
    assert log.pages == [] and not [a for a in db.audit if a.action == "incident.paged"]


# -- acknowledgements --------------------------------------------------------------------------------


def test_who_took_the_page() -> None:
    agent = {"agent": {"id": "PDAVE", "type": "user_reference"}}
    assert acknowledger("incident.acknowledged", agent, {}) == "PDAVE"
    assert acknowledger("incident.acknowledged", {"agent": {"id": "PSVC", "type": "service_reference"}},
                        {}) is None
    joined = {"user": {"id": "PDAVE"}, "state": "joined"}
    assert acknowledger("incident.responder.replied", {}, joined) == "PDAVE"
    assert acknowledger("incident.responder.replied", {}, {**joined, "state": "declined"}) is None
    assert acknowledger("incident.resolved", agent, {}) is None


async def test_the_acknowledger_of_our_page_is_invited_once(service: IncidentService, log: FakePageLog,
                                                            db: FakeDatabase, uow: Any) -> None:
    await declare(service)
    paging = paging_for(service, log)
    await paging.page(IncidentRef(number=1), ALICE, (await paging.target("ml-platform", slack))[0], "")
    events = PagerDutyEvents(service, default_policy(), PagerDutyConfig(default_model="credit-risk-v3"),
                             acks=paging)
    key = log.pages[0].dedup_key
    data = {"id": "PDQ", "type": "incident", "incident_key": key, "title": "INC-1 page"}
    triggered = {"id": "e1", "event_type": "incident.triggered", "occurred_at": "2026-11-30T10:00:00Z",
                 "data": data}
    result = await events.handle(triggered, data)
    assert (result.verdict, result.body) == (Verdict.APPLIED, {"page_opened": "PDQ"})
    assert len(db.incidents) == 1  # our page's PagerDuty incident is not a new incident here
    ack_data: dict[str, Any] = {"id": "PDQ", "type": "incident"}
    ack = {"id": "e2", "event_type": "incident.acknowledged", "occurred_at": "2026-11-30T10:01:00Z",
           "agent": {"id": "PDAVE", "type": "user_reference", "summary": "Dave"}, "data": ack_data}
    assert (await events.handle(ack, ack_data)).verdict is Verdict.APPLIED
    assert (await events.handle({**ack, "id": "e3"}, ack_data)).verdict is Verdict.IGNORED
    assert [m.payload for m in db.outbox if m.kind == PD_RESPONDERS] == [{"users": ["PDAVE"]}]
    assert db.incident(1).status is Status.OPEN  # the page's acknowledgement is not the incident's
    [joined] = [a for a in db.audit if a.action == "incident.responder_joined"]
    assert joined.actor == "pagerduty" and joined.details["pd_user"] == "PDAVE"


async def test_an_assignee_invited_when_paged_is_not_invited_again_when_they_acknowledge(
        service: IncidentService, log: FakePageLog, db: FakeDatabase, uow: Any) -> None:
    events = PagerDutyEvents(service, default_policy(), PagerDutyConfig(default_model="credit-risk-v3"),
                             acks=paging_for(service, log))
    data = {"id": "PD7", "type": "incident", "title": "Scores zero",
            "assignees": [{"id": "PCAROL", "summary": "Carol"}]}
    await events.handle({"id": "e1", "event_type": "incident.triggered",
                         "occurred_at": "2026-11-30T10:00:00Z", "data": data}, data)
    ack_data: dict[str, Any] = {"id": "PD7", "type": "incident"}
    for pd_user, event_id in (("PCAROL", "e2"), ("PDAVE", "e3")):
        await events.handle({"id": event_id, "event_type": "incident.acknowledged",
                             "occurred_at": "2026-11-30T10:01:00Z",
                             "agent": {"id": pd_user, "type": "user_reference"}, "data": ack_data},
                            ack_data)
    assert [m.payload for m in db.outbox if m.kind == PD_RESPONDERS] == [{"users": ["PCAROL"]},
                                                                          {"users": ["PDAVE"]}]
    stale = {"id": "e4", "event_type": "incident.acknowledged", "occurred_at": "2026-11-30T09:00:00Z",
             "agent": {"id": "PERIN", "type": "user_reference"}, "data": ack_data}
    assert (await events.handle(stale, ack_data)).verdict is Verdict.IGNORED
    assert len([m for m in db.outbox if m.kind == PD_RESPONDERS]) == 2


async def test_the_pagerduty_adapter_says_what_to_set_when_it_cannot_ask() -> None:
    from bot.delivery.paging_directory import PagerDutyRestDirectory
    from bot.settings import Settings

    with pytest.raises(PagerDutyUnavailable, match="set PAGERDUTY_API_TOKEN"):
        await PagerDutyRestDirectory(Settings(pagerduty_api_token=None)).escalation_policies()
    closed = Settings(pagerduty_api_token="t", pagerduty_api_url="https://127.0.0.1:9")  # nobody listens
    with pytest.raises(PagerDutyUnavailable, match=r"unreachable at https://127.0.0.1:9 \(PAGERDUTY_"):
        await PagerDutyRestDirectory(closed).on_call(["PEPML"])


def test_the_oncall_answer_escapes_pagerduty_words_and_stays_short() -> None:
    from bot.slack_ui.paging import ONCALL_MAX_CHARS, oncall_text
    from domain.paging.oncall import TeamOnCall

    rogue = OnCallShift(ML, 1, PdUser("PX", "<!channel> Mallory"), "<https://evil|primary>")
    text = oncall_text([TeamOnCall("ml-platform", ML, (rogue,))])
    assert "<!channel>" not in text and "&lt;!channel&gt; Mallory" in text
    assert "<https://evil" not in text
    many = [TeamOnCall(f"team-{i}", EscalationPolicy(f"P{i}", f"Policy {i}"), (OnCallShift(ML, 1, DAVE),))
            for i in range(200)]
    text = oncall_text(many)
    assert len(text) < ONCALL_MAX_CHARS + 100 and text.endswith("`/incident oncall <team>` shows one.")
    assert "team-0*" in text and "team-199" not in text
