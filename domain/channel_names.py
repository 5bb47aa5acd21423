"""Incident channel names from a template (``CHANNEL_NAME_TEMPLATE``, issue 19 item 8).

Slack's rules for a channel name (conversations.create): lowercase letters, digits, hyphens and
underscores only (no spaces, no periods), at most 80 characters. A template is checked against
them once, at start-up (:func:`parse_template`), so a bad one stops the bot with its reason
instead of failing every declaration; the name rendered for an incident is then normalised
(:meth:`ChannelNameTemplate.render`): lowercased, illegal characters made ``-``, runs of ``-``
collapsed, trimmed to 80 by shortening the title slug first, and never losing the incident
number (it is what makes a name unique and how a retry recognises its own channel).

Pure: no Slack calls, no clock. The title's plain words come from the caller (markup removed).
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from datetime import datetime

MAX_CHANNEL_NAME = 80
DEFAULT_TEMPLATE = "inc-{number}-{slug}"  # the names the bot has always given
PLACEHOLDERS = ("number", "model", "slug", "severity", "date")
# Shortened first when a name is too long: the title, then the model, then the rest.
_SHRINK_ORDER = ("slug", "model", "date", "severity")
_NUMBER_ROOM = 9  # incident numbers up to 999,999,999
_SUFFIX_ROOM = 3  # "-49", the last suffix tried after name_taken
_LITERAL_OK = re.compile(r"^[a-z0-9_-]*$")


class InvalidTemplate(ValueError):
    """A template Slack could never accept, said in words a person can act on."""


@dataclass(frozen=True)
class NameFacts:
    """What a name may be built from, for one incident."""

    number: int
    title_words: str  # the title as plain words (markup already removed)
    model: str
    severity: str  # "SEV-1"
    declared_at: datetime


@dataclass(frozen=True)
class ChannelNameTemplate:
    """A checked template: its literal text and placeholders in order."""

    text: str
    pieces: tuple[tuple[str, str], ...]  # ("literal", "inc-") | ("field", "number")

    def render(self, facts: NameFacts, suffix: int = 0) -> str:
        """The name for ``facts``; ``suffix`` > 0 appends ``-<suffix>`` (after ``name_taken``)."""
        values = {
            "number": str(facts.number),
            "slug": slug(facts.title_words),
            "model": slug(facts.model),
            "severity": slug(facts.severity),
            "date": f"{facts.declared_at:%Y-%m-%d}",
        }
        tail = f"-{suffix}" if suffix else ""
        room = MAX_CHANNEL_NAME - len(tail)
        name = self._join(values)
        for field in _SHRINK_ORDER:
            excess = len(name) - room
            if excess <= 0:
                break
            values[field] = values[field][:max(len(values[field]) - excess, 0)].rstrip("-_")
            name = self._join(values)
        name = name[:room].rstrip("-_")  # only literals are left to cut (checked at start-up)
        return f"{name}{tail}"

    def _join(self, values: dict[str, str]) -> str:
        raw = "".join(values[v] if kind == "field" else v for kind, v in self.pieces)
        return normalise(raw)


def slug(text: str) -> str:
    """``text`` as channel-name characters: ASCII, lowercase, ``-`` for anything else."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return normalise(ascii_text)


def normalise(name: str) -> str:
    """Lowercase; every character Slack refuses becomes ``-``; runs of ``-`` collapse; no
    leading or trailing ``-``/``_``."""
    name = re.sub(r"[^a-z0-9_-]+", "-", name.lower())
    return re.sub(r"-{2,}", "-", name).strip("-_")


def parse_template(text: str) -> ChannelNameTemplate:
    """Check ``text`` against Slack's rules; :class:`InvalidTemplate` says what is wrong."""
    if not text or not text.strip():
        raise InvalidTemplate(f"is empty; e.g. {DEFAULT_TEMPLATE}")
    pieces: list[tuple[str, str]] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:  # a lone { or }
        raise InvalidTemplate(f"is not a template ({exc}); placeholders are "
                              f"{_known()}, e.g. inc-{{number}}-{{model}}-{{slug}}") from exc
    for literal, field, spec, conversion in parsed:
        if literal:
            _check_literal(literal)
            pieces.append(("literal", literal))
        if field is None:
            continue
        if field not in PLACEHOLDERS or spec or conversion:
            raise InvalidTemplate(f"has an unknown placeholder {{{field}}}; the known ones are "
                                  f"{_known()}")
        pieces.append(("field", field))
    fields = [v for kind, v in pieces if kind == "field"]
    if "number" not in fields:
        raise InvalidTemplate("needs {number}: it keeps each incident's channel name unique")
    fixed = sum(len(v) for kind, v in pieces if kind == "literal")
    if fixed + _NUMBER_ROOM + _SUFFIX_ROOM > MAX_CHANNEL_NAME:
        raise InvalidTemplate(f"leaves no room for the number: its fixed text is {fixed} "
                              f"characters, and a Slack channel name is at most "
                              f"{MAX_CHANNEL_NAME}")
    return ChannelNameTemplate(text, tuple(pieces))


def _check_literal(literal: str) -> None:
    if _LITERAL_OK.match(literal):
        return
    bad = sorted({c for c in literal if not _LITERAL_OK.match(c)})
    shown = " ".join("space" if c == " " else repr(c) for c in bad)
    raise InvalidTemplate(f"has {shown}: Slack channel names take only lowercase letters, "
                          "digits, hyphens and underscores (no spaces or periods)")


def _known() -> str:
    return ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
