"""PII and secret scrubbing (GOV-001 section 6): one function for every path into storage and logs.

Precise: URLs, Slack markup (``<@U…>``, ``<#C…>``), dates, times, run ids, partition numbers
and plain digit runs (epoch milliseconds, row counts) survive; emails, phone numbers (written
with separators or a leading ``+``), payment cards (IIN prefix + Luhn), IPv4/IPv6 addresses,
``password=``-style secrets and credential-shaped tokens do not.

Linear: every pattern either starts with a literal, or is anchored by a negative lookbehind on
its own leading character class (so it can only start where a run starts) and uses possessive
quantifiers (so a failed match never backtracks through a run). A megabyte of digits costs
milliseconds, not the seconds the old phone regex took (issue 14, probe finding 10).
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, MutableMapping
from typing import Any

# Configurable categories (PII_CATEGORIES). Credential-shaped tokens (xoxb-…, ghp_…, AKIA…,
# JWTs, bearer tokens) are always scrubbed: they are never fine to keep, whatever the setting.
CATEGORIES = frozenset({"email", "phone", "card", "ip", "secret"})
_enabled: frozenset[str] = CATEGORIES


def parse_categories(value: str | Iterable[str]) -> frozenset[str]:
    """``"email,phone"`` -> the set; ``all`` means every category; unknown names are an error."""
    names = value.split(",") if isinstance(value, str) else list(value)
    wanted = {n.strip().lower() for n in names if n.strip()}
    if "all" in wanted:
        return CATEGORIES
    unknown = wanted - CATEGORIES
    if unknown:
        raise ValueError(f"unknown PII categories {sorted(unknown)}; "
                         f"choose from {', '.join(sorted(CATEGORIES))} or all")
    return frozenset(wanted)


def configure(categories: str | Iterable[str]) -> None:
    """Set the categories :func:`scrub` redacts by default (called once at start-up)."""
    global _enabled
    _enabled = parse_categories(categories)


def enabled_categories() -> frozenset[str]:
    return _enabled


# -- stage 1: credentials and emails, anywhere (URLs included) --------------------------------
# (literals one of which must be in the text, pattern): the cheap substring test skips a
# pattern's pass over text that cannot hold it (most text holds none of them)
_TOKENS: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    (("xox", "xapp"), re.compile(r"(?<![\w\-])(?:xox[abposr]|xapp)-[A-Za-z0-9\-]++")),
    (("_",), re.compile(r"(?<![\w])(?:ghp|gho|ghs|github_pat|sk|pk|rk)_[A-Za-z0-9_]{16,}+")),
    (("AKIA",), re.compile(r"(?<![\w])AKIA[0-9A-Z]{16}(?![\w])")),
    (("eyJ",), re.compile(r"(?<![\w\-])eyJ[A-Za-z0-9_\-]++\.[A-Za-z0-9_\-]++\.[A-Za-z0-9_\-]++")),
]
_BEARER = re.compile(r"(?i)(?<![\w])(bearer)\s++[A-Za-z0-9._\-~+/]{8,}+=*+")
_SECRET = re.compile(
    r"(?i)(?<![\w])(password|passwd|pwd|secret|client_secret|api[_-]?key|access[_-]?key"
    r"|private[_-]?key|token|auth[_-]?token|access[_-]?token)(\s*+[=:]\s*+)(?!\[secret\])\S++")
_SECRET_HINT = re.compile(r"pass|pwd|secret|key|token")
_MAILTO = re.compile(r"<mailto:[^|>\s]++(?:\|[^>]*+)?>")
# The local part starts only where its run starts and never gives characters back, so each
# "@" is tried once; the domain may give labels back to end on a real TLD (bounded by its "@").
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]++@[A-Za-z0-9\-]+"
                    r"(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9\-])")

# -- stage 2: outside URLs and Slack markup: addresses and numbers -----------------------------
_SCAN = re.compile(
    r"(?P<url>(?<![\w])(?:https?|ftp|s3|gs)://[^\s<>|\"'`]++)"
    r"|(?P<slack><[@#!][^<>\s]*+>)"
    r"|(?P<stamp>(?<![\w.])\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d++)?+)?+)?+"
    r"(?:Z|[+-]\d{2}:?\d{2})?+)"
    r"|(?P<time>(?<![\w.:])\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d++)?+)?+(?![\w:]))"
    r"|(?P<ip6>(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w++)?+(?![\w:]))"
    r"|(?P<ip4>(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d))"
    r"|(?P<num>(?<![\w+.\-\]])\+?+(?:\(\d{1,4}\)|\d++)(?:[ .\-]?+(?:\(\d{1,4}\)|\d++))*+)")
_HEX = frozenset("0123456789abcdefABCDEF")
_IP4_PART = re.compile(r"(?:\d{1,3}\.){3}\d{1,3}")
_ANY_DIGIT = re.compile(r"\d")
_DIGIT_GROUPS = re.compile(r"\d++")
_YEAR_FIRST = re.compile(r"(?:19|20)\d\d[.\-/]\d\d[.\-/]\d\d")


def credential_patterns() -> list[re.Pattern[str]]:
    """The credential-shaped patterns (tokens, bearer, ``password=``-style assignments): a
    public handle for other redactors (IaC drift reports) to agree with the log scrubber."""
    return [pattern for _, pattern in _TOKENS] + [_BEARER, _SECRET]


def _luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _is_card(text: str, groups: list[str]) -> bool:
    """13-19 digits, a card network's first digit, one kind of separator in 4-digit-led groups, Luhn."""
    digits = "".join(groups)
    if not 13 <= len(digits) <= 19 or digits[0] not in "23456":
        return False
    seps = set(text) - set("0123456789")
    if len(seps) > 1 or not seps <= {" ", "-"}:
        return False
    if len(groups) > 1 and (len(groups[0]) != 4 or not all(3 <= len(g) <= 6 for g in groups)):
        return False
    return _luhn(digits)


def _is_phone(text: str, groups: list[str]) -> bool:
    """7-15 digits written as a phone: a leading +, an area code in parentheses, or separators
    in a phone's grouping. A plain digit run is an id, a count or a timestamp, never a phone."""
    sizes = [len(g) for g in groups]
    if not 7 <= sum(sizes) <= 15:
        return False
    if len(groups) == 1:
        return text.startswith("+")  # +14155550132
    if sizes[0] > 4 or any(not 2 <= s <= 5 for s in sizes[1:]) or len(groups) > 6:
        return False
    if "(" in text and len(_DIGIT_GROUPS.findall(text[:text.index("(")])) > 1:
        return False  # (area code) comes first, or right after the country code
    if text.startswith("+") or "(" in text:
        return True  # +1 415 555 0100, +44 20 7946 0958, (415) 555-0132
    if any(s > 4 for s in sizes) or _YEAR_FIRST.fullmatch(text):
        return False  # 2026.11.30
    seps = set(re.sub(r"\d", "", text))
    if "." in seps:
        return len(groups) >= 3  # 415.555.0132, not 1234.5678
    if "-" in seps:
        return len(groups) >= 3 or sizes == [3, 4]  # 415-555-0132, 555-0132; not 1000-2000
    # spaces only: 415 555 0132 or a trunk-prefixed 020 7946 0958; not "partitions 12 13 14 15"
    return sizes == [3, 3, 4] or (len(groups) >= 3 and groups[0].startswith("0"))


def _classify(text: str, categories: frozenset[str]) -> str | None:
    """``[card]`` / ``[phone]`` for one candidate (a few space-separated parts), else None."""
    if len(text) > 40:
        return None  # no phone or card is written this long; keeps every check O(1)
    groups = _DIGIT_GROUPS.findall(text)
    if "card" in categories and _is_card(text, groups):
        return "[card]"
    if "phone" in categories and _is_phone(text, groups):
        return "[phone]"
    return None


def _number(m: re.Match[str], categories: frozenset[str]) -> str:
    """A maximal run of digit groups: find the phones and cards in it, longest first.

    Space-separated numbers run together ("+1 415 555 0100 (415) 555-0132"), so the run is cut
    at its spaces and, from each part, the longest window of up to six parts holding 7 to 19
    digits that reads as a card or phone is replaced. Each part is looked at a bounded number
    of times: linear in the run's length.
    """
    text = m.group(0)
    end = m.end()
    after = m.string[end:end + 2]
    # glued to a word (run_12, 12345abc) or to an IPv6-ish tail (0132::1): not a phone
    glued = bool(after) and (after[0].isalnum() or after[0] == "_" or (
        after[0] == ":" and len(after) == 2 and (after[1] == ":" or after[1] in _HEX)))
    if " " not in text:
        return text if glued else (_classify(text, categories) or text)
    parts = text.split(" ")
    digits = [len(p) - p.count("-") - p.count(".") - p.count("(") - p.count(")") for p in parts]
    pure = [p.isdigit() for p in parts]
    out: list[str] = []
    i, n = 0, len(parts)
    while i < n:
        best: tuple[int, str] | None = None
        total = 0
        # a card starts with 4 digits, a phone without + or ( with 3-4 digits or a trunk 0:
        # other plain numbers are skipped cheaply ("partitions 12 13 14 15", 1 MB of "12 ")
        hopeless = pure[i] and digits[i] not in (3, 4) and not parts[i].startswith("0")
        for j in range(i, i if hopeless else min(n, i + 6)):
            total += digits[j]
            if total > 19:
                break
            if total >= 7 and not (glued and j == n - 1):  # the last part is glued to a word
                found = _classify(" ".join(parts[i:j + 1]), categories)
                if found:
                    best = (j, found)
        if best is None:  # an address inside a run of numbers: "0100 10.0.0.1"
            ip = "ip" in categories and _IP4_PART.fullmatch(parts[i]) and _valid_ip(parts[i], 4)
            out.append("[ip]" if ip and not (glued and i == n - 1) else parts[i])
            i += 1
        else:
            out.append(best[1])
            i = best[0] + 1
    return " ".join(out)


def _valid_ip(text: str, version: int) -> bool:
    try:
        (ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address)(text)
    except ValueError:
        return False
    return True


def _scan(m: re.Match[str], categories: frozenset[str]) -> str:
    kind = m.lastgroup
    text = m.group(0)
    if kind == "num":
        return _number(m, categories)
    if kind == "ip4" and "ip" in categories and _valid_ip(text, 4):
        return "[ip]"
    address = text.split("%")[0]
    if kind == "ip6" and "ip" in categories and address.strip(":") and _valid_ip(address, 6):
        return "[ip]"
    return text  # url, slack markup, dates and times survive


def scrub(text: str | None, categories: Iterable[str] | None = None) -> str | None:
    """Replace emails, IPs, phone and card numbers, tokens and secrets with typed placeholders."""
    if not text:
        return text
    cats = _enabled if categories is None else frozenset(categories)
    out = text
    for literals, pattern in _TOKENS:
        if any(lit in out for lit in literals):
            out = pattern.sub("[token]", out)
    lowered = out.lower()
    if "bearer" in lowered:
        out = _BEARER.sub(lambda m: f"{m.group(1)} [token]", out)
    if "secret" in cats and ("=" in out or ":" in out) and _SECRET_HINT.search(lowered):
        out = _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}[secret]", out)
    if "email" in cats:
        out = _MAILTO.sub(lambda m: "[email]" if "@" in m.group(0) else m.group(0), out)
        for _ in range(3):  # again after a hit: "a@b.io.c@d.io" hides the second behind the first
            if "@" not in out:
                break
            out, hits = _EMAIL.subn("[email]", out)
            if not hits:
                break
    if cats & {"phone", "card", "ip"} and _ANY_DIGIT.search(out):
        out = _SCAN.sub(lambda m: _scan(m, cats), out)
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
