"""The API's pure rules (domain/api): login throttling, scopes and roles, event names and the
webhook signature a subscriber checks. No database, no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.api.auth import (
    ALL_SCOPES,
    READ_SCOPES,
    AuthError,
    LoginThrottle,
    Principal,
    Scope,
    check_claims,
    parse_name,
    parse_roles,
    parse_scopes,
    scopes_for_roles,
)
from domain.api.webhooks import event_name, parse_patterns, signature, verify, wants
from domain.model import DomainError

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_failed_logins_lock_a_user_for_the_window_and_a_success_clears_them() -> None:
    throttle = LoginThrottle(per_user=3, per_address=100, window=timedelta(minutes=15))
    for i in range(3):
        assert throttle.retry_after("carol", "10.0.0.1", T0 + timedelta(seconds=i)) is None
        throttle.failed("carol", "10.0.0.1", T0 + timedelta(seconds=i))
    wait = throttle.retry_after("carol", "10.0.0.2", T0 + timedelta(seconds=3))
    assert wait is not None and 890 <= wait <= 900  # from another address too
    assert throttle.retry_after("dave", "10.0.0.2", T0) is None  # others are not locked out
    assert throttle.retry_after("carol", "10.0.0.1", T0 + timedelta(minutes=15, seconds=1)) is None
    throttle.failed("eve", "10.0.0.3", T0)
    throttle.succeeded("eve")
    assert throttle._users.get("eve") is None


def test_many_failures_from_one_address_are_limited_whatever_the_user() -> None:
    throttle = LoginThrottle(per_user=100, per_address=4)
    for i in range(4):
        throttle.failed(f"user{i}", "10.0.0.9", T0 + timedelta(seconds=i))
    assert throttle.retry_after("anyone", "10.0.0.9", T0 + timedelta(seconds=5)) is not None
    assert throttle.retry_after("anyone", "10.0.0.8", T0 + timedelta(seconds=5)) is None


def test_scopes_follow_roles_and_write_implies_read() -> None:
    assert scopes_for_roles(["viewer"]) == READ_SCOPES
    assert scopes_for_roles(["ml_engineer"]) == ALL_SCOPES
    key = Principal("ci", "key", frozenset(), frozenset({Scope.INCIDENTS_WRITE}), "k1")
    assert key.may(Scope.INCIDENTS_READ) and not key.may(Scope.MODELS_WRITE)
    with pytest.raises(DomainError, match="lacks the `models:write` scope"):
        key.require(Scope.MODELS_WRITE)
    assert key.actor.id == "key:ci"


def test_names_roles_and_scopes_are_validated_with_the_valid_ones_named() -> None:
    assert parse_name(" Carol ") == "carol"
    with pytest.raises(DomainError, match="not a valid name"):
        parse_name("carol smith")
    with pytest.raises(DomainError, match="valid: viewer, incident_commander"):
        parse_roles(["admin"])
    with pytest.raises(DomainError, match="incidents:read"):
        parse_scopes(["incidents:delete"])


def test_claims_are_checked_against_the_injected_clock() -> None:
    claims = {"iss": "incident-bot", "typ": "access", "jti": "j", "sub": "carol",
              "exp": int((T0 + timedelta(minutes=15)).timestamp())}
    check_claims(claims, T0, "access")
    with pytest.raises(AuthError, match="expired"):
        check_claims(claims, T0 + timedelta(minutes=15), "access")
    with pytest.raises(AuthError, match="not an refresh token"):
        check_claims(claims, T0, "refresh")


def test_incident_actions_become_public_event_names() -> None:
    assert event_name("incident.status_updated", {"from": "open", "to": "investigating"}) == \
        "incident.acknowledged"
    assert event_name("incident.status_updated", {"from": "resolved", "to": "investigating"}) == \
        "incident.reopened"
    assert event_name("incident.status_updated", {"to": "resolved"}) == "incident.resolved"
    assert event_name("incident.created", {}) == "incident.created"
    assert event_name("model.registered", {}) is None
    assert wants(["incident.*"], "incident.closed") and not wants(["incident.created"],
                                                                  "incident.closed")
    with pytest.raises(DomainError, match="matches no event"):
        parse_patterns(["incident.deleted"])


def test_the_signature_covers_time_and_body() -> None:
    body = b'{"type":"incident.resolved"}'
    header = signature("s3cret", 1_800_000_000, body)  # pragma: allowlist secret
    assert header.startswith("t=1800000000,v1=")
    assert verify("s3cret", header, body, 1_800_000_100)  # pragma: allowlist secret
    assert not verify("s3cret", header, body + b" ", 1_800_000_100)  # pragma: allowlist secret
    assert not verify("s3cret", header, body, 1_800_000_400)  # replayed too late
    assert not verify("s3cret", "t=x,v1=y", body, 1_800_000_000)  # pragma: allowlist secret
