"""PII and secret scrubbing (GOV-001 section 6): one function for every path into storage and logs."""
from __future__ import annotations

import ipaddress
import re
from collections.abc import MutableMapping
from typing import Any

_EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    # Slack markup first, so both halves of <mailto:a@b|a@b> collapse into one placeholder.
    ("[email]", re.compile(r"<mailto:" + _EMAIL + r"(?:\|[^>]*)?>")),
    ("[token]", re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]+|\bxapp-[A-Za-z0-9\-]+")),
    ("[token]", re.compile(r"\b(?:ghp|gho|ghs|github_pat|sk|pk|rk)_[A-Za-z0-9_]{16,}")),
    ("[token]", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
    ("[token]", re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")),
    ("[token]", re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._\-~+/]{8,}=*")),
    ("[secret]", re.compile(r"(?i)\b(password|passwd|secret|api[_-]?key|token)(\s*[=:]\s*)\S+")),
    ("[email]", re.compile(_EMAIL)),
    ("[card]", re.compile(r"\b(?:\d[ \-]?){12,18}\d\b")),
]
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?(?![\w:])")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_PHONE = re.compile(r"(?<![\w.\-:/])\+?\(?\d{1,4}\)?(?:[ .\-]?\(?\d{2,4}\)?){2,5}(?![\w.\-:/])")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group(0))
    return "[card]" if 13 <= len(digits) <= 19 and _luhn(digits) else m.group(0)


def _ipv6(m: re.Match[str]) -> str:
    try:
        ipaddress.IPv6Address(m.group(0).split("%")[0])
    except ValueError:
        return m.group(0)
    return "[ip]"


def _ipv4(m: re.Match[str]) -> str:
    try:
        ipaddress.IPv4Address(m.group(0))
    except ValueError:
        return m.group(0)
    return "[ip]"


def _phone(m: re.Match[str]) -> str:
    if _DATE.fullmatch(m.group(0)):
        return m.group(0)
    digits = re.sub(r"\D", "", m.group(0))
    return "[phone]" if 7 <= len(digits) <= 15 else m.group(0)


def scrub(text: str | None) -> str | None:
    """Replace emails, IPs, phone and card numbers, tokens and secrets with typed placeholders."""
    if not text:
        return text
    out = text
    for placeholder, pattern in _PATTERNS:
        if placeholder == "[card]":
            out = pattern.sub(_card, out)
        elif placeholder == "[secret]":
            out = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}[secret]", out)
        elif pattern.groups and placeholder == "[token]":
            out = pattern.sub(lambda m: f"{m.group(1)} [token]", out)
        else:
            out = pattern.sub(placeholder, out)
    out = _IPV6.sub(_ipv6, out)
    out = _IPV4.sub(_ipv4, out)
    out = _PHONE.sub(_phone, out)
    return out


_SECRET_KEYS = re.compile(r"(?i)token|secret|password|authorization|signing|api_key")


def scrub_value(value: object, key: str = "") -> object:
    """Scrub strings nested in a log event; values under secret-looking keys are dropped outright."""
    if key and _SECRET_KEYS.search(key) and isinstance(value, str):
        return "[secret]"
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: scrub_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_value(v) for v in value]
    return value


def scrub_log_event(_logger: object, _method: str,
                    event: MutableMapping[str, Any]) -> dict[str, Any]:
    """structlog processor: every log line passes through the scrubber (GOV-001 section 6)."""
    return {k: scrub_value(v, k) for k, v in event.items()}
