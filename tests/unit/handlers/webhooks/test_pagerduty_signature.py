"""PagerDuty V3 webhook signatures, as PagerDuty computes them (HMAC-SHA256 of the raw body)."""

from __future__ import annotations

import hashlib
import hmac

from handlers.webhooks.pagerduty import signature_valid

BODY = b'{"event":{"id":"E1","event_type":"incident.triggered"}}'


def v1(secret: str, body: bytes = BODY) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_one_matching_signature_is_enough() -> None:
    assert signature_valid(BODY, v1("s1"), ["s1"])
    assert signature_valid(BODY, f"{v1('old')},{v1('s1')}", ["s1"])  # PagerDuty rotating
    assert signature_valid(BODY, v1("old"), ["s1", "old"])  # we rotate


def test_anything_else_is_refused() -> None:
    assert not signature_valid(BODY, None, ["s1"])
    assert not signature_valid(BODY, "", ["s1"])
    assert not signature_valid(BODY, v1("s2"), ["s1"])
    assert not signature_valid(BODY + b" ", v1("s1"), ["s1"])  # the body was altered
    assert not signature_valid(BODY, v1("s1").replace("v1=", "v0="), ["s1"])
    assert not signature_valid(BODY, v1("s1"), [])  # not configured: nothing is trusted
