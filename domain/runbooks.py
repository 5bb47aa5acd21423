"""Runbooks: Markdown with a YAML front matter, parsed, checked and matched to incidents. Pure.

A runbook file looks like::

    ---
    version: 1.2.0
    title: Model drift (PSI / KS)
    owner: ml-platform
    applies_to:
      trigger_sources: [drift_detection]
      labels: [drift]
    ---
    Why this runbook exists ...

    - [ ] Confirm the drift on the dashboard ...
    - [ ] ...

``applies_to`` keys: ``trigger_sources``, ``severities``, ``labels``, ``keywords`` (words or
phrases found, as whole words and in any case, in the incident's title or description),
``models`` (names or globs such as ``credit-*``). Each key present must match the incident,
except that ``labels`` and ``keywords`` are two ways of naming what the incident is about: one
of them matching is enough, since someone typing ``/incident declare P1 credit-risk-v3 Null
predictions`` adds no labels. The runbook that matches on the most keys wins (ties: the fewer
glob characters, then the name), and a runbook with ``fallback: true`` serves incidents
nothing else matches.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

import yaml

from domain.model import Severity, TriggerSource

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
APPLIES_TO_KEYS = ("trigger_sources", "severities", "labels", "keywords", "models")
FRONT_MATTER_KEYS = {"version", "title", "owner", "applies_to", "fallback"}
_STEP = re.compile(r"^\s*[-*]\s+\[[ xX]\]\s+(?P<text>\S.*)$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a runbook file, for ``file:line: message`` output."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class RunbookError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Step:
    id: str  # "1", "2", ...: stable while the step order is (a version bump changes both)
    text: str
    line: int


@dataclass(frozen=True)
class Runbook:
    name: str  # the file name without .md
    version: str
    title: str
    owner: str
    steps: tuple[Step, ...]
    trigger_sources: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset()
    keywords: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    fallback: bool = False
    body: str = field(default="", repr=False)

    @property
    def specificity(self) -> tuple[int, int]:
        topic = self.labels or self.keywords
        keys = sum(bool(x) for x in (self.trigger_sources, self.severities, topic, self.models))
        exact = -sum(ch in "*?[" for pattern in self.models for ch in pattern)
        return keys, exact

    def applies(self, severity: Severity, trigger_source: str, labels: set[str], model: str,
                text: str = "") -> bool:
        if self.fallback and not (self.trigger_sources or self.severities or self.labels
                                  or self.keywords or self.models):
            return False  # the fallback only serves what nothing else matches
        about = (not (self.labels or self.keywords) or bool(self.labels & labels)
                 or any(_phrase(k).search(text) for k in self.keywords))
        return ((not self.trigger_sources or trigger_source in self.trigger_sources)
                and (not self.severities or severity.value in self.severities)
                and about
                and (not self.models or any(fnmatch.fnmatchcase(model.lower(), p.lower())
                                            for p in self.models)))


def _phrase(keyword: str) -> re.Pattern[str]:
    """A keyword as a whole-word, any-case, any-spacing pattern ("null predictions")."""
    words = r"[\s_-]+".join(re.escape(w) for w in keyword.split())
    return re.compile(rf"(?<![\w-]){words}(?![\w-])", re.IGNORECASE)


def match(runbooks: list[Runbook], severity: Severity, trigger_source: str, labels: list[str],
          model: str, text: str = "") -> Runbook | None:
    """The most specific runbook that applies, else the fallback (None if there is neither).

    ``text`` is what the incident says about itself (title and description), for ``keywords``.
    """
    label_set = {label.lower() for label in labels}
    candidates = [r for r in runbooks if r.applies(severity, trigger_source, label_set, model, text)]
    if candidates:
        return max(candidates, key=lambda r: (*r.specificity, _reverse(r.name)))
    fallbacks = sorted((r for r in runbooks if r.fallback), key=lambda r: r.name)
    return fallbacks[0] if fallbacks else None


def _reverse(name: str) -> tuple[int, ...]:
    return tuple(-ord(ch) for ch in name)  # ties go to the alphabetically first name


def parse(text: str, file: str, name: str) -> Runbook:
    """Parse one runbook; raises :class:`RunbookError` listing every problem with its line."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise RunbookError([Problem(file, 1, "missing front matter: the file must start with '---'")])
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise RunbookError([Problem(file, 1, "front matter is not closed with '---'")]) from None
    header = "\n".join(lines[1:end])
    try:
        node = yaml.compose(header, Loader=yaml.SafeLoader)
        meta = yaml.safe_load(header)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = 1 + (mark.line + 1 if mark else 0)
        raise RunbookError([Problem(file, line, f"front matter is not valid YAML: {exc.problem}")]) from None
    if not isinstance(meta, dict):
        raise RunbookError([Problem(file, 2, "front matter must be a mapping (version, title, owner, "
                                             "applies_to)")])
    key_lines = _key_lines(node)
    problems: list[Problem] = []

    def at(key: str) -> int:
        return key_lines.get(key, 2)

    for key in meta:
        if key not in FRONT_MATTER_KEYS:
            problems.append(Problem(file, at(str(key)), f"unknown front-matter key '{key}'; known: "
                                                        f"{', '.join(sorted(FRONT_MATTER_KEYS))}"))
    for key in ("version", "title", "owner"):
        value = meta.get(key)
        if value is None or not isinstance(value, str | int | float) or not str(value).strip():
            problems.append(Problem(file, at(key) if key in meta else 2,
                                    f"'{key}' is required and must be text"))
    version = str(meta.get("version", ""))
    if "version" in meta and not SEMVER.match(version):
        problems.append(Problem(file, at("version"), f"version '{version}' is not semver (e.g. 1.2.0)"))
    applies = meta.get("applies_to") or {}
    sets: dict[str, list[str]] = {}
    if not isinstance(applies, dict):
        problems.append(Problem(file, at("applies_to"), "'applies_to' must be a mapping of "
                                                        f"{', '.join(APPLIES_TO_KEYS)}"))
        applies = {}
    for key, value in applies.items():
        if key not in APPLIES_TO_KEYS:
            problems.append(Problem(file, key_lines.get(f"applies_to.{key}", at("applies_to")),
                                    f"unknown applies_to key '{key}'; known: {', '.join(APPLIES_TO_KEYS)}"))
            continue
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            problems.append(Problem(file, key_lines.get(f"applies_to.{key}", at("applies_to")),
                                    f"applies_to.{key} must be a list of text"))
            continue
        sets[key] = [v.strip().lower() for v in values]
    problems += _unknown_values(file, sets, key_lines, at("applies_to"))
    if "fallback" in meta and not isinstance(meta["fallback"], bool):
        problems.append(Problem(file, at("fallback"), "'fallback' must be true or false"))
    items = [(end + 2 + i, m.group("text").strip())
             for i, m in enumerate(_STEP.match(line) for line in lines[end + 1:]) if m]
    steps = tuple(Step(str(n), text, line) for n, (line, text) in enumerate(items, start=1))
    if not steps:
        problems.append(Problem(file, end + 2, "no steps: write the procedure as a Markdown "
                                               "checklist ('- [ ] do this')"))
    if problems:
        raise RunbookError(problems)
    return Runbook(name=name, version=version, title=str(meta["title"]).strip(),
                   owner=str(meta["owner"]).strip(), steps=steps,
                   trigger_sources=frozenset(sets.get("trigger_sources", [])),
                   severities=frozenset(sets.get("severities", [])),
                   labels=frozenset(sets.get("labels", [])), keywords=tuple(sets.get("keywords", [])),
                   models=tuple(sets.get("models", [])),
                   fallback=bool(meta.get("fallback", False)), body="\n".join(lines[end + 1:]))


def _unknown_values(file: str, sets: dict[str, list[str]], key_lines: dict[str, int],
                    applies_line: int) -> list[Problem]:
    """Severities and trigger sources in ``applies_to`` that the data dictionary does not know."""
    problems: list[Problem] = []
    line_of_key = key_lines.get("applies_to.severities", applies_line)
    for value in sets.get("severities", []):
        if value not in {s.value for s in Severity}:
            problems.append(Problem(file, line_of_key, f"unknown severity '{value}'; use p1, p2, p3 or p4"))
    line_of_key = key_lines.get("applies_to.trigger_sources", applies_line)
    for value in sets.get("trigger_sources", []):
        if value not in {s.value for s in TriggerSource}:
            problems.append(Problem(file, line_of_key, f"unknown trigger source '{value}'; use "
                                                       f"{', '.join(s.value for s in TriggerSource)}"))
    return problems


def _key_lines(node: yaml.Node | None) -> dict[str, int]:
    """Front-matter key -> line in the file (the front matter starts on line 2)."""
    found: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            found[str(key.value)] = key.start_mark.line + 2
            if isinstance(value, yaml.MappingNode):
                for sub_key, _ in value.value:
                    found[f"{key.value}.{sub_key.value}"] = sub_key.start_mark.line + 2
    return found
