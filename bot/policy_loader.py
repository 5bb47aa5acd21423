"""The severity policy file (``POLICY_FILE``): YAML in, :class:`~domain.policy.Policy` out.

A bad policy must stop start-up with a message a person can act on, so every problem names
the file, the line and the key path, e.g.::

    policy.yml:7: severities.p1.ack: 'five minutes' is not a duration; use e.g. 30s, 5m, 2h ...

Pydantic reports *where* in the data a value is wrong; ``yaml.compose`` keeps the line of
every node, so each error location is walked back to its node. Unknown keys, duplicate keys
and missing severities are errors: a typo must never silently switch a clock off.
"""

from __future__ import annotations

import difflib
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from bot.features.drift_jobs import DriftJob
from domain.model import InvalidSeverity, ModelStage, Severity
from domain.policy import (
    DriftThresholds,
    PagerDutySeverity,
    Policy,
    SeverityRule,
    format_policy_duration,
)

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"
"""The policies shipped with the project (``gov-001.yml``, ``fast-demo.yml`` ...)."""


@dataclass(frozen=True)
class PolicyProblem:
    line: int | None
    path: str
    message: str


class PolicyFileError(ValueError):
    """A policy file that cannot be used; ``str()`` is one ``file:line: key: problem`` per line."""

    def __init__(self, filename: str, problems: list[PolicyProblem]) -> None:
        self.filename = filename
        self.problems = problems
        lines = []
        for problem in problems:
            where = f"{filename}:{problem.line}" if problem.line else filename
            lines.append(f"{where}: {problem.path}: {problem.message}" if problem.path
                         else f"{where}: {problem.message}")
        super().__init__("\n".join(lines))


def load_policy_file(path: str | Path) -> Policy:
    """Read and validate a policy file; raises :class:`PolicyFileError` naming file and line."""
    return load_policy_text(_read_file(path, "policy"), str(path))


def _read_file(path: str | Path, what: str) -> str:
    """The file's text; an unreadable file is a :class:`PolicyFileError` saying why."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PolicyFileError(str(path), [PolicyProblem(None, "", f"cannot read the {what} file: {reason}")]
                              ) from None


def _parse_yaml(text: str, filename: str) -> tuple[yaml.Node | None, Any]:
    """(the node tree, for line numbers; the data); invalid YAML is a :class:`PolicyFileError`
    naming the line."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader), yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise PolicyFileError(filename, [PolicyProblem(line, "", f"not valid YAML: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise PolicyFileError(filename, [PolicyProblem(None, "", f"not valid YAML: {exc}")]) from None


def load_policy_text(text: str, filename: str = "<policy>") -> Policy:
    """Validate policy YAML given as text (``filename`` only labels the messages)."""
    root, data = _parse_yaml(text, filename)

    if root is None:
        raise PolicyFileError(filename, [PolicyProblem(1, "", "the policy file is empty; see "
                                                       "policies/gov-001.yml for the format")])
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
        raise PolicyFileError(filename, [PolicyProblem(_line(root), "", "the policy must be a "
                                                       "mapping with at least a 'severities' key")])

    problems = _duplicate_keys(root)
    data = _normalise_severities(root, data, problems)
    policy: Policy | None = None
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems += [_problem(root, error) for error in exc.errors(include_url=False)]
    if problems or policy is None:
        raise PolicyFileError(filename, sorted(problems, key=_sort_key))
    return policy


def load_policy(path: str | Path | None) -> Policy:
    """The policy in force: the file if given, else the built-in GOV-001."""
    from domain.policy import default_policy

    return default_policy() if not path else load_policy_file(path)


# -- the models file (MODELS_FILE, `incident-bot models load`) -----------------------------


class DriftSection(DriftJob):
    """A model's ``drift:`` section: a drift job's fields, checked as a job's are (a cron line
    cron cannot read is refused when the file is read, not at the first scheduling)."""


class ModelEntry(BaseModel):
    """One model in ``models.yml``."""

    model_config = ConfigDict(extra="forbid")
    name: str
    version: str
    stage: ModelStage = ModelStage.PRODUCTION
    team: str
    labels: list[str] = []
    feature_store_ref: str | None = None
    model_card_url: str | None = None
    drift: DriftSection | None = None  # the model's drift job (bot.features.drift_jobs)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        if isinstance(value, float):  # YAML reads 1.10 as 1.1: refuse rather than guess
            raise ValueError(f"{value} reads as a number; quote the version, e.g. \"{value}\"")
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("drift", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return value or None  # `drift:` left empty: no job, as bot.features.drift_jobs.load_jobs reads it


class ModelsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: list[ModelEntry]


def load_models_file(path: str | Path) -> ModelsFile:
    """Read and validate ``models.yml``; raises :class:`PolicyFileError` (``file:line: key: problem``).

    A typo must not switch drift monitoring off silently at ``serve``: the same checks run in
    ``incident-bot check``, ``models load`` and before ``serve`` starts.
    """
    return load_models_text(_read_file(path, "models"), str(path))


def load_models_text(text: str, filename: str = "<models>") -> ModelsFile:
    """Validate models YAML given as text: a ``models:`` list, or the list alone."""
    root, data = _parse_yaml(text, filename)
    if isinstance(root, yaml.SequenceNode):  # the bare list: located as if under `models:`
        key = yaml.ScalarNode("tag:yaml.org,2002:str", "models", root.start_mark, root.start_mark)
        root = yaml.MappingNode("tag:yaml.org,2002:map", [(key, root)], root.start_mark, root.end_mark)
        data = {"models": data}
    if root is None or not isinstance(data, dict):
        raise PolicyFileError(filename, [PolicyProblem(_line(root) or 1, "", "expected a 'models:' list "
                                                       "of {name, version, team, ...} entries")])
    problems = _duplicate_keys(root)
    parsed: ModelsFile | None = None
    try:
        parsed = ModelsFile.model_validate(data)
    except ValidationError as exc:
        problems += [_problem(root, error, ModelsFile) for error in exc.errors(include_url=False)]
    if parsed is not None:
        problems += _duplicate_models(root, parsed)
    if problems or parsed is None:
        raise PolicyFileError(filename, sorted(problems, key=_sort_key))
    return parsed


def _duplicate_models(root: yaml.Node, parsed: ModelsFile) -> list[PolicyProblem]:
    """Two entries for one model: the second would silently replace the first's drift job."""
    first: dict[str, int] = {}
    problems = []
    for index, entry in enumerate(parsed.models):
        line, path = _locate(root, ("models", index, "name"))
        if entry.name.lower() in first:
            problems.append(PolicyProblem(line, path, f"model '{entry.name}' is listed twice "
                                                      f"(first as models[{first[entry.name.lower()]}])"))
        first.setdefault(entry.name.lower(), index)
    return problems


# -- rendering -----------------------------------------------------------------------------


def policy_as_data(policy: Policy) -> dict[str, Any]:
    """Plain data in the file's format (durations as ``5m``), ready for YAML or JSON."""
    out: dict[str, Any] = {"name": policy.name}
    if policy.description:
        out["description"] = policy.description
    out["severities"] = {sev.value: _rule_data(policy.rule(sev)) for sev in Severity
                         if sev in policy.severities}
    out["drift"] = _drift_data(policy.drift)
    out["pagerduty_severity"] = _pagerduty_data(policy.pagerduty_severity)
    out["digest"] = {"enabled": policy.digest.enabled, "cron": policy.digest.cron}  # issue 21
    out["roles"] = {name: {"label": spec.label, "description": spec.description}  # issue 19
                    for name, spec in policy.roles.items()}
    return out


def dump_policy(policy: Policy) -> str:
    """The policy as YAML that :func:`load_policy_text` reads back into an equal policy."""
    header = (f"# Severity policy {policy.name}. Durations: 30s, 5m, 2h, 14d or none.\n"
              "# Every clock counts from the declaration (or the last reopen).\n")
    return header + yaml.safe_dump(policy_as_data(policy), sort_keys=False, allow_unicode=True,
                                   default_flow_style=False, width=100)


def _rule_data(rule: SeverityRule) -> dict[str, Any]:
    return {
        "ack": format_policy_duration(rule.ack),
        "mitigate": format_policy_duration(rule.mitigate),
        "resolve": format_policy_duration(rule.resolve),
        "update_cadence": format_policy_duration(rule.update_cadence),
        "commander_within": format_policy_duration(rule.commander_within),
        "escalation": [{"after": format_policy_duration(step.after), "notify": list(step.notify),
                        "reason": step.reason} for step in rule.escalation],
        "postmortem": rule.postmortem,
        "postmortem_within": format_policy_duration(rule.postmortem_within),
    }


def _drift_data(drift: DriftThresholds) -> dict[str, Any]:
    tiers = drift.severity
    return {
        "psi_warn": drift.psi_warn,
        "psi_critical": drift.psi_critical,
        "ks_p_value": drift.ks_p_value,
        "severity": {
            "critical_labels": list(tiers.critical_labels),
            "critical_labelled": tiers.critical_labelled.value,
            "critical": tiers.critical.value,
            "warn": tiers.warn.value,
            "detected": tiers.detected.value if tiers.detected else None,
        },
    }


def _pagerduty_data(mapping: PagerDutySeverity) -> dict[str, Any]:
    return {
        "priorities": {name: sev.value for name, sev in mapping.priorities.items()},
        "urgencies": {name: sev.value for name, sev in mapping.urgencies.items()},
        "default": mapping.default.value,
    }


# -- locating problems ---------------------------------------------------------------------


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _sort_key(problem: PolicyProblem) -> tuple[int, str]:
    return (problem.line or 0, problem.path)


def _duplicate_keys(node: yaml.Node, path: str = "") -> list[PolicyProblem]:
    """PyYAML keeps the last of two equal keys without a word; we refuse them."""
    problems: list[PolicyProblem] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int | None] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = f"{path}.{key}" if path else key
            if key in seen and key != "<<":
                problems.append(PolicyProblem(_line(key_node), child,
                                              f"duplicate key (first given on line {seen[key]})"))
            seen.setdefault(key, _line(key_node))
            problems += _duplicate_keys(value_node, child)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += _duplicate_keys(item, f"{path}[{index}]")
    return problems


def _severity(key: object) -> Severity | None:
    try:
        return Severity.parse(str(key))
    except InvalidSeverity:
        return None


def _normalise_severities(root: yaml.MappingNode, data: dict[str, Any],
                          problems: list[PolicyProblem]) -> dict[str, Any]:
    """Canonical ``p1`` keys; unknown, repeated (``p1`` and ``SEV-1``) and missing ones reported."""
    severities = data.get("severities")
    node = _child(root, "severities")
    if "severities" not in data:
        problems.append(PolicyProblem(_line(root), "severities",
                                      "missing; list the targets of p1, p2, p3 and p4"))
        return data
    if not isinstance(severities, dict):
        return data  # pydantic reports the type, at the right line
    out: dict[Any, Any] = {}
    first_line: dict[Severity, int | None] = {}
    for key, rule in severities.items():
        key_node = _key_node(node, key)
        severity = _severity(key)
        if severity is None:
            problems.append(PolicyProblem(_line(key_node), f"severities.{key}",
                                          f"unknown severity '{key}'; use p1, p2, p3 or p4 "
                                          "(SEV-1 and sev1 are accepted too)"))
        elif severity in out:
            problems.append(PolicyProblem(_line(key_node), f"severities.{key}",
                                          f"{severity.value} is listed twice (first on line "
                                          f"{first_line[severity]})"))
        else:
            out[severity] = rule
            first_line[severity] = _line(key_node)
    missing = [sev.value for sev in Severity if sev not in out]
    if missing:
        problems.append(PolicyProblem(_line(node), "severities",
                                      f"missing {', '.join(missing)}; every severity must be listed "
                                      "(write e.g. `p4: {}` for a severity without clocks)"))
    return {**data, "severities": {sev.value: out[sev] for sev in Severity if sev in out}}


def _key_node(mapping: yaml.Node | None, key: object) -> yaml.Node | None:
    """The key node of ``key`` in a mapping node (matching severities in any spelling)."""
    if not isinstance(mapping, yaml.MappingNode):
        return None
    wanted = str(key)
    for key_node, _value in mapping.value:
        if str(key_node.value) == wanted:
            return key_node
    severity = _severity(wanted)
    if severity is not None:
        for key_node, _value in mapping.value:
            if _severity(key_node.value) is severity:
                return key_node
    return None


def _child(node: yaml.Node | None, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        return node.value[part] if 0 <= part < len(node.value) else None
    if isinstance(node, yaml.MappingNode):
        key_node = _key_node(node, part)
        if key_node is not None:
            for k, value in node.value:
                if k is key_node:
                    return value
    return None


def _locate(root: yaml.Node, loc: tuple[str | int, ...]) -> tuple[int | None, str]:
    """Line and readable key path (``severities.p1.escalation[0].after``) of a pydantic loc.

    Walks as deep as the YAML goes; a missing key is reported at its parent's line.
    """
    node: yaml.Node | None = root
    line = _line(root)
    path = ""
    for part in loc:
        if part == "[key]":
            continue  # the key itself is wrong: its line is already the current one
        if isinstance(part, int):
            path += f"[{part}]"
            node = _child(node, part)
            if node is not None:
                line = _line(node)
            continue
        key_node = _key_node(node, part)
        name = str(key_node.value) if key_node is not None else str(part)
        path = f"{path}.{name}" if path else name
        if key_node is not None:
            line = _line(key_node)
        node = _child(node, part)
    return line, path


def _problem(root: yaml.Node, error: Any, model: type[BaseModel] = Policy) -> PolicyProblem:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    line, path = _locate(root, loc)
    return PolicyProblem(line, path, _message(error, loc, model))


def _message(error: Any, loc: tuple[str | int, ...], model: type[BaseModel] = Policy) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(loc[:-1], model)
        hint = ""
        if allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = (f" (did you mean '{close[0]}'?)" if close else "") + f"; allowed: {', '.join(allowed)}"
        return f"unknown key '{key}'{hint}"
    if kind == "missing":
        return "required key is missing"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping of keys to values, got {_shown(value)}"
    if kind == "list_type":
        return f"expected a list, got {_shown(value)}"
    if kind in ("float_parsing", "float_type"):
        return f"{_shown(value)} is not a number"
    if kind in ("string_type",):
        return f"expected text, got {_shown(value)}"
    if kind == "too_short":
        return "must not be empty"
    if kind in ("literal_error", "enum") and "expected" in error.get("ctx", {}):
        return f"{_shown(value)} is not allowed; use {error['ctx']['expected']}"
    msg = str(error["msg"])
    return f"{_shown(value)}: {msg[0].lower()}{msg[1:]}" if "input" in error else msg


def _shown(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"'{value}'"


def _allowed_keys(loc: tuple[str | int, ...], model: type[BaseModel] = Policy) -> list[str]:
    """The field names of the model that sits at ``loc`` under ``model`` (the policy's root)."""
    annotation: Any = model
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return []
            annotation = field.annotation
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        elif get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``; ``Annotated[X, ...]`` -> ``X``."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        options = [arg for arg in get_args(annotation) if arg is not type(None)]
        return _unwrap(options[0]) if len(options) == 1 else annotation
    return annotation
