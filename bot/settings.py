"""Settings from the environment (and ``.env``): the external contract of ARCHITECTURE.md."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    incident_channel: str = "ml-incidents"
    database_url: str = "sqlite+aiosqlite:///./incidents.db"
    policy_file: str | None = None
    pagerduty_api_token: str | None = None
    pagerduty_webhook_secret: str | None = None
    pagerduty_api_url: str = "https://api.pagerduty.com"
    pagerduty_events_url: str = "https://events.pagerduty.com"
    pagerduty_from_email: str | None = None
    pagerduty_ca_bundle: str | None = None  # CA file to trust for PagerDuty URLs (a proxy, a stand-in)
    # PagerDuty service id -> model name for paged incidents (JSON), e.g. {"PA2P440": "fraud-detector"}
    pagerduty_service_models: dict[str, str] = Field(default_factory=dict)
    pagerduty_default_model: str | None = None  # for services not in the map
    # Owning team -> Events API v2 routing key (JSON); "default" serves teams not listed
    pagerduty_routing_keys: dict[str, str] = Field(default_factory=dict)
    # Team -> PagerDuty escalation policy id (JSON) for `/incident oncall` and `/incident page`;
    # a team not listed is the policy of the same name
    pagerduty_teams: dict[str, str] = Field(default_factory=dict)
    alertmanager_token: str | None = None
    iac_token: str | None = None  # bearer token for POST /webhooks/iac (CI pipelines)
    iac_default_model: str | None = None
    iac_watch_dir: str | None = None  # drift reports (*.json) dropped here are ingested by a job
    iac_watch_seconds: float = 60.0  # model that infrastructure-drift incidents attach to
    models_file: str | None = None  # models.yml: drift jobs are configured next to their models
    drift_memory_mb: int = Field(default=1024, ge=64)  # budget of a drift job streaming its files
    runbooks_dir: str | None = None  # default: the shipped runbooks/
    runbooks_base_url: str | None = None  # where runbooks are browsable (runbook_url)
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|console)$")
    # How long delivered Slack messages (outbox) and seen Slack event ids are kept; GOV-001
    # section 7.1: at least 90 days. Incidents, timelines and the audit trail are never pruned.
    log_retention_days: int = Field(default=90, ge=90)
    # GOV-001 RACI roles -> Slack user / user-group ids (JSON); empty = role checks off (issue 6)
    governance_roles: dict[str, list[str]] = Field(default_factory=dict)
    # Issue 14. What the scrubber redacts: email, phone, card, ip, secret (comma-separated) or all
    pii_categories: str = "all"
    # Workspaces (team ids, comma-separated) besides the installed one whose requests are served:
    # Enterprise Grid org-wide installs, Slack Connect. Empty: only auth.test's team.
    slack_allowed_teams: str = ""
    # Keys the audit hash chain (HMAC-SHA256); kept outside the database. Unset: plain SHA-256.
    audit_hmac_key: str | None = None
    # open: no role checks; enforce: RACI checks on. Unset: enforce iff GOVERNANCE_ROLES is set
    # (start-up and `incident-bot check` warn when the checks are off). Issue 15.
    governance_mode: str | None = Field(default=None, pattern="^(open|enforce)$")
    iac_max_exception_days: int = Field(default=90, ge=1)  # longest an accepted IaC drift may last
    # Issue 18: MLflow Model Registry (unset: the manual registry of `incident-bot models add`),
    # how often it is synced, and the webhooks a rollback / retrain calls (HMAC-SHA256 signed)
    mlflow_tracking_uri: str | None = None
    model_sync_seconds: float = Field(default=60.0, ge=0)  # 0: only `incident-bot models sync`
    rollback_webhook_url: str | None = None
    rollback_webhook_secret: str | None = None
    rollback_break_glass: str = "p1"  # severities where a requester may approve alone (GOV-001 5.3)
    retrain_webhook_url: str | None = None  # {model} {incident} {run_id} are filled in
    retrain_webhook_secret: str | None = None
    retrain_webhook_body: str | None = None  # a JSON template (default: the bot's own body)
    retrain_webhook_token: str | None = None  # sent as Authorization: Bearer (Airflow, GitHub)
    pipeline_webhook_secret: str | None = None  # verifies POST /webhooks/pipeline callbacks
    model_baseline_dir: str = "./baselines"  # accepted drift: copies of file-source windows
    host: str = "0.0.0.0"
    port: int = 3000
    # Who this process is when it claims work (outbox rows, acked Slack requests); default
    # host:port, which a restarted process keeps, so it takes back its own claims at once
    instance_id: str | None = None
    # Acked Slack requests whose work has not finished; past this the bot answers "busy"
    intake_max_backlog: int = Field(default=300, ge=1)
    outbox_poll_seconds: float = 1.0
    outbox_backoff_seconds: float = 0.5
    outbox_max_backoff_seconds: float = 60.0
    tick_seconds: float = 5.0
    # A second listener for /metrics, /ready and /health (Kubernetes probes, Prometheus); set,
    # the public PORT no longer serves /metrics. Unset: everything on PORT (issue 16)
    admin_port: int | None = Field(default=None, ge=0, le=65535)
    # OpenTelemetry (seed 002): spans go to this OTLP/HTTP endpoint (e.g. http://collector:4318);
    # unset, or OTEL_SDK_DISABLED=true: tracing is off (no-op spans, X-Trace-Id still sent)
    otel_exporter_otlp_endpoint: str | None = None
    otel_sdk_disabled: bool = False
    otel_service_name: str = "incident-bot"

    # The platform API (issue 17, seed 002). JWT_SECRET signs access/refresh tokens (HS256);
    # unset, a random per-process secret (tokens die with the process; one replica only).
    jwt_secret: str | None = None
    # Redis for the token denylist (logout); unset, logout is refused. Unreachable: every token
    # is refused (fails closed) and redis_denylist_up is 0.
    redis_url: str | None = None
    cors_origins: str = ""  # comma-separated origins allowed to call the API from a browser
    status_page_hide_private_titles: bool = True  # /status shows "Private incident" for labels
    status_page_private_label: str = "private"  # the label that marks an incident private
    webhook_disable_after_days: float = Field(default=3.0, gt=0)  # failing subscribers disabled
    # Issue 21. Action items exported to the team's tracker: JSON, team -> {"kind": "jira" |
    # "github" | "linear", "url", "token", ...} ("*": any team; domain/trackers.py). Unset: none.
    # Every TRACKER_SYNC_MINUTES new items are exported and closed tickets close their items.
    trackers: str | None = None
    tracker_sync_minutes: float = Field(default=15.0, ge=0)  # 0: no periodic sync
    # signs POST /webhooks/trackers/{jira|github|linear}: a ticket closed there closes its item now
    tracker_webhook_secret: str | None = None
    postmortem_template: str | None = None  # a Jinja2 file for the postmortem draft; unset: built-in
    # Issue 19: this emoji reaction (or a pin) on a message in an incident channel marks its
    # note key (first in the postmortem draft and the catch-up); without colons, e.g. pushpin
    key_note_reaction: str = Field(default="pushpin", pattern=r"^:?[a-z0-9_+'-]+:?$")

    # Issue 19 item 8. Incident channel names: placeholders {number} (required) {model} {slug}
    # {severity} {date}; Slack's rules (lowercase letters, digits, - and _, at most 80) are
    # checked at start-up. Closed incidents' channels are archived this many days after close
    # (0: never).
    channel_name_template: str = "inc-{number}-{slug}"
    archive_after_days: int = Field(default=30, ge=0)

    @field_validator("channel_name_template")
    @classmethod
    def _channel_template(cls, value: str) -> str:
        from domain.channel_names import parse_template

        parse_template(value)  # an invalid template stops start-up with the reason
        return value

    @field_validator("incident_channel")
    @classmethod
    def _strip_hash(cls, value: str) -> str:
        return value.lstrip("#").strip()

    @field_validator("trackers")
    @classmethod
    def _tracker_routing(cls, value: str | None) -> str | None:
        from domain.trackers import parse_trackers

        parse_trackers(value)  # a bad TRACKERS stops start-up with the team and the problem
        return value

    @field_validator("pii_categories")
    @classmethod
    def _known_categories(cls, value: str) -> str:
        from domain.governance.scrubber import parse_categories

        return ",".join(sorted(parse_categories(value)))

    @field_validator("admin_port")
    @classmethod
    def _admin_port_apart(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value and value == info.data.get("port"):  # 0 is any free port, never a clash
            raise ValueError("must differ from PORT (the admin listener is a second one)")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    def model_post_init(self, _context: Any) -> None:
        """The audit chain's key is process-wide: whatever loads the settings (the bot, a CLI
        command that writes audit rows) keys the rows it appends alike (issue 14)."""
        from domain.governance.audit_chain import configure_key

        configure_key(self.audit_hmac_key)


def describe(exc: ValidationError) -> str:
    """A settings error in one line: ``LOG_RETENTION_DAYS=30: Input should be ... 90``."""
    problems = []
    for error in exc.errors():
        name = ".".join(str(p) for p in error.get("loc", ())).upper() or "settings"
        given = error.get("input")
        shown = f"={given}" if isinstance(given, (str, int, float)) and "SECRET" not in name \
            and "TOKEN" not in name and "KEY" not in name else ""
        problems.append(f"{name}{shown}: {error.get('msg', 'invalid')}")
    return "; ".join(problems)
