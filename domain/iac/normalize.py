"""Shared normalisation: JSON pointers, redaction, attribute diff, environment, fingerprint.

Every parser funnels its entries through :func:`build_event`, so redaction, rule evaluation,
severity and fingerprints are computed one way for every tool.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.iac.model import (
    REDACTED,
    UNKNOWN_ENVIRONMENT,
    ChangeType,
    DriftChange,
    DriftEvent,
    DriftType,
    IacTool,
    RuleHit,
    SourceFormat,
)

FINGERPRINT_VERSION = 1


@dataclass(frozen=True)
class ParseOptions:
    """Caller context a report does not carry itself.

    ``environment`` (e.g. ``--environment``) wins over everything; ``environment_map`` maps
    glob patterns over the resource address (and CloudFormation stack name) to an environment,
    first match wins; ``workspace`` is the Terraform workspace when known; ``scope`` is added to
    every fingerprint (a repository or account) so the same address in two places never merges.
    """

    environment: str | None = None
    environment_map: Mapping[str, str] = field(default_factory=dict)
    workspace: str | None = None
    scope: str | None = None
    source_name: str | None = None


# --- RFC 6901 -------------------------------------------------------------------------------


def escape_token(token: str | int) -> str:
    """One reference token: ``~`` -> ``~0`` first, then ``/`` -> ``~1`` (RFC 6901 section 3)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def unescape_token(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def pointer(tokens: Iterable[str | int]) -> str:
    """``["tags", "a/b"]`` -> ``/tags/a~1b``; no tokens is ``""`` (the whole document)."""
    return "".join("/" + escape_token(t) for t in tokens)


def split_pointer(path: str) -> list[str]:
    if not path:
        return []
    if not path.startswith("/"):
        raise ValueError(f"not a JSON pointer: {path!r}")
    return [unescape_token(t) for t in path[1:].split("/")]


def pointer_related(a: str, b: str) -> bool:
    """True when one pointer equals or contains the other (``/ingress`` and ``/ingress/1/x``)."""
    ta, tb = split_pointer(a), split_pointer(b)
    n = min(len(ta), len(tb))
    return ta[:n] == tb[:n]


def set_pointer(document: dict[str, Any], path: str, value: Any) -> None:
    """Write ``value`` at ``path``, creating dicts on the way (lists are treated as dicts by index)."""
    tokens = split_pointer(path)
    if not tokens:
        return
    node: Any = document
    for token in tokens[:-1]:
        if isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
            continue
        if not isinstance(node, dict):
            return
        node = node.setdefault(token, {})
    if isinstance(node, dict):
        node[tokens[-1]] = value
    elif isinstance(node, list) and tokens[-1].isdigit() and int(tokens[-1]) < len(node):
        node[int(tokens[-1])] = value


# --- redaction ------------------------------------------------------------------------------
# One redaction for every IaC path (Terraform masks, CloudFormation property differences,
# driftctl changelogs, whole states): a value is hidden when a mask marks it, when its key (or
# any key on its path, or the ``Name`` beside a ``Value``) names a secret, or when the value
# itself looks like a credential (the log scrubber's token patterns, GOV-001 section 6).

# Defence in depth for providers or tools that do not mark a secret as sensitive.
_SECRET_KEY = re.compile(
    r"(?i)(password|passwd|passphrase|private_?key|client_?secret|secret_?(string|key|value)|"
    r"api_?key|auth_?token|access_?token|secret_?access_?key|"
    r"(?:^|[_\-.])(?:token|secret|credentials?|pwd|dsn|connection_?string)$)"
)
_PEM_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
_NAME_KEYS = ("name", "Name", "key", "Key", "ParameterKey")
_VALUE_KEYS = ("value", "Value", "ParameterValue")


def child_mask(mask: Any, key: str | int) -> Any:
    """The sensitivity mask of one child: ``True`` covers everything below it."""
    if mask is True:
        return True
    if isinstance(mask, Mapping):
        return mask.get(key, mask.get(str(key), False))
    if isinstance(mask, list) and isinstance(key, int) and key < len(mask):
        return mask[key]
    return False


def is_secret_key(key: str | int) -> bool:
    return isinstance(key, str) and bool(_SECRET_KEY.search(key))


def _scrubber_patterns() -> list[re.Pattern[str]] | None:
    """The log scrubber's credential patterns (GOV-001 section 6), so IaC and logs agree on
    what a credential looks like; None if that module no longer exposes them."""
    try:
        from domain.governance import scrubber
    except ImportError:  # pragma: no cover - the scrubber is part of every build
        return None
    tokens = getattr(scrubber, "_TOKENS", None)
    bearer = getattr(scrubber, "_BEARER", None)
    assignment = getattr(scrubber, "_SECRET", None)
    if not isinstance(tokens, list) or bearer is None or assignment is None:
        return None
    return [*(entry[1] if isinstance(entry, tuple) else entry for entry in tokens), bearer, assignment]


_CREDENTIAL_PATTERNS = _scrubber_patterns()
_PLACEHOLDERS = ("[token]", "[secret]")


def looks_like_secret(value: Any) -> bool:
    """A string that is a credential whatever its key: Slack / GitHub tokens, AWS keys, JWTs,
    ``Bearer ...``, ``password=...`` (the log scrubber's patterns), a PEM private key."""
    if not isinstance(value, str) or len(value) < 8:
        return False
    if _PEM_PRIVATE_KEY.search(value):
        return True
    if _CREDENTIAL_PATTERNS is not None:
        return any(pattern.search(value) for pattern in _CREDENTIAL_PATTERNS)
    from domain.governance.scrubber import scrub  # its internals moved: ask its public function

    scrubbed = scrub(value) or ""
    return any(p in scrubbed and p not in value for p in _PLACEHOLDERS)


def names_a_secret(mapping: Mapping[str, Any]) -> bool:
    """``{"Name": "DB_PASSWORD", "Value": ...}`` (ECS, CloudFormation parameters, env lists)."""
    return any(is_secret_key(str(mapping.get(k) or "")) for k in _NAME_KEYS if k in mapping)


def _child_secret(mapping: Mapping[str, Any], key: Any, secret: bool) -> bool:
    return secret or is_secret_key(key) or (key in _VALUE_KEYS and names_a_secret(mapping))


def redact(value: Any, mask: Any = False, *, secret: bool = False) -> Any:
    """A copy of ``value`` where every masked, secret-named or secret-looking non-null leaf is
    :data:`REDACTED`. ``secret`` says the value sits under a secret name already."""
    if value is None:
        return None
    if mask is True or secret and not isinstance(value, Mapping | list):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: redact(v, child_mask(mask, k), secret=_child_secret(value, k, secret))
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, child_mask(mask, i), secret=secret) for i, v in enumerate(value)]
    return REDACTED if looks_like_secret(value) else value


def path_is_secret(tokens: Sequence[str | int], *states: Any) -> bool:
    """True when a key on ``tokens`` names a secret, or the last token is the ``Value`` beside a
    secret ``Name`` in one of ``states`` (the resource's declared / actual properties)."""
    if any(is_secret_key(t) for t in tokens):
        return True
    if not tokens or tokens[-1] not in _VALUE_KEYS:
        return False
    for state in states:
        parent = _at(state, tokens[:-1])
        if isinstance(parent, Mapping) and names_a_secret(parent):
            return True
    return False


def _at(document: Any, tokens: Sequence[str | int]) -> Any:
    node = document
    for token in tokens:
        if isinstance(node, Mapping):
            node = node.get(token, node.get(str(token)))
        elif isinstance(node, list) and str(token).isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def redact_at(tokens: Sequence[str | int], value: Any, *states: Any) -> Any:
    """:func:`redact` for a value found at ``tokens`` (a property difference, a changelog
    entry): the path's own keys count, not only the keys inside the value."""
    return redact(value, secret=path_is_secret(tokens, *states))


def contains_mask(mask: Any) -> bool:
    """True if anything at or under this mask is sensitive."""
    if mask is True:
        return True
    if isinstance(mask, Mapping):
        return any(contains_mask(v) for v in mask.values())
    if isinstance(mask, list):
        return any(contains_mask(v) for v in mask)
    return False


# --- diff -----------------------------------------------------------------------------------

_MISSING = object()


def diff(
    declared: Any,
    actual: Any,
    declared_mask: Any = False,
    actual_mask: Any = False,
) -> list[DriftChange]:
    """Per-attribute changes from declared to actual, with values already redacted.

    Raw values are compared (so a changed secret is still reported), but only redacted values
    leave this function. Lists of equal length are compared position by position; lists whose
    length changed are compared as multisets, so one rule added to a set of ingress rules is one
    ``added`` change, not a cascade of shifted positions.
    """
    changes: list[DriftChange] = []
    _diff(declared, actual, declared_mask, actual_mask, [], changes, secret=False)
    return changes


def _diff(
    declared: Any,
    actual: Any,
    dmask: Any,
    amask: Any,
    path: list[str | int],
    out: list[DriftChange],
    secret: bool,
) -> None:
    if declared is _MISSING and actual is _MISSING:
        return
    if isinstance(declared, Mapping) and isinstance(actual, Mapping) and not (dmask is True or amask is True):
        for key in sorted(set(declared) | set(actual), key=str):
            _diff(
                declared.get(key, _MISSING),
                actual.get(key, _MISSING),
                child_mask(dmask, key),
                child_mask(amask, key),
                [*path, key],
                out,
                _child_secret(declared, key, secret) or _child_secret(actual, key, secret),
            )
        return
    if isinstance(declared, list) and isinstance(actual, list) and not (dmask is True or amask is True):
        if len(declared) == len(actual):
            for i, (d, a) in enumerate(zip(declared, actual, strict=True)):
                _diff(d, a, child_mask(dmask, i), child_mask(amask, i), [*path, i], out, secret)
            return
        _diff_multiset(declared, actual, dmask, amask, path, out, secret)
        return
    if declared == actual:
        return
    sensitive = (secret or contains_mask(dmask) or contains_mask(amask)
                 or looks_like_secret(declared) or looks_like_secret(actual))
    if declared is _MISSING:
        change_type, d, a = ChangeType.ADDED, None, _redact_leaf(actual, amask, secret)
    elif actual is _MISSING:
        change_type, d, a = ChangeType.REMOVED, _redact_leaf(declared, dmask, secret), None
    else:
        change_type = ChangeType.MODIFIED
        d, a = _redact_leaf(declared, dmask, secret), _redact_leaf(actual, amask, secret)
    out.append(
        DriftChange(path=pointer(path), declared=d, actual=a, change_type=change_type, sensitive=sensitive)
    )


def _diff_multiset(
    declared: list[Any],
    actual: list[Any],
    dmask: Any,
    amask: Any,
    path: list[str | int],
    out: list[DriftChange],
    secret: bool,
) -> None:
    unmatched_actual = list(range(len(actual)))
    removed: list[int] = []
    for i, item in enumerate(declared):
        match = next((j for j in unmatched_actual if actual[j] == item), None)
        if match is None:
            removed.append(i)
        else:
            unmatched_actual.remove(match)
    for i in removed:
        _diff(declared[i], _MISSING, child_mask(dmask, i), False, [*path, i], out, secret)
    for j in unmatched_actual:
        _diff(_MISSING, actual[j], False, child_mask(amask, j), [*path, j], out, secret)


def _redact_leaf(value: Any, mask: Any, secret: bool) -> Any:
    return redact(value, mask, secret=secret)


def whole_resource_change(drift_type: DriftType, declared: Any, actual: Any) -> DriftChange:
    """The single root change (path ``""``) of a deleted or added resource."""
    if drift_type is DriftType.DELETED:
        return DriftChange(path="", declared=declared, actual=None, change_type=ChangeType.REMOVED)
    return DriftChange(path="", declared=None, actual=actual, change_type=ChangeType.ADDED)


# --- environment ----------------------------------------------------------------------------

ENVIRONMENT_ALIASES: dict[str, str] = {
    "prod": "prod",
    "production": "prod",
    "prd": "prod",
    "live": "prod",
    "staging": "staging",
    "stage": "staging",
    "stg": "staging",
    "preprod": "staging",
    "dev": "dev",
    "development": "dev",
    "sandbox": "dev",
    "test": "test",
    "testing": "test",
    "qa": "test",
    "uat": "test",
}
_ENV_TAG_KEYS = ("environment", "env", "stage")
_TOKEN_SPLIT = re.compile(r"[^a-z0-9]+")


def normalize_environment(value: str) -> str:
    """Known spellings map to ``prod`` / ``staging`` / ``dev`` / ``test``; others kept lowercased."""
    text = value.strip().lower()
    return ENVIRONMENT_ALIASES.get(text, text) or UNKNOWN_ENVIRONMENT


def environment_from_tokens(text: str) -> str | None:
    for token in _TOKEN_SPLIT.split(text.lower()):
        if token in ENVIRONMENT_ALIASES:
            return ENVIRONMENT_ALIASES[token]
    return None


def tags_of(state: Mapping[str, Any] | None) -> dict[str, str]:
    """Tags / labels of a resource in Terraform (dict) or CloudFormation (``[{Key, Value}]``) form."""
    if not isinstance(state, Mapping):
        return {}
    found: dict[str, str] = {}
    for key in ("tags_all", "tags", "labels", "Tags", "Labels"):
        value = state.get(key)
        if isinstance(value, Mapping):
            found.update({str(k): str(v) for k, v in value.items() if isinstance(v, str | int)})
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping) and "Key" in item and "Value" in item:
                    found[str(item["Key"])] = str(item["Value"])
    return found


def resolve_environment(
    options: ParseOptions,
    *,
    address: str,
    name_parts: Sequence[str],
    states: Sequence[Mapping[str, Any] | None],
    extra_patterns: Sequence[str] = (),
    name_label: str = "address",
) -> tuple[str, str]:
    """``(environment, where it came from)``.

    Order: explicit option, config mapping, an environment tag/label on the resource, the
    Terraform workspace, then tokens of the names (module names, resource name, stack name).
    Names are split on non-alphanumerics and only whole known words count, so a resource type
    such as ``test_instance`` never makes ``test``.
    """
    if options.environment:
        return normalize_environment(options.environment), "given by the caller (--environment)"
    for pattern, mapped in options.environment_map.items():
        for candidate in (address, *extra_patterns):
            if fnmatch.fnmatchcase(candidate, pattern):
                return normalize_environment(mapped), f"config mapping {pattern!r} matched {candidate!r}"
    for state in states:
        for key, value in tags_of(state).items():
            if key.lower() in _ENV_TAG_KEYS and value.strip():
                return normalize_environment(value), f"tag {key}={value}"
    if options.workspace:
        env = environment_from_tokens(options.workspace)
        if env:
            return env, f"Terraform workspace {options.workspace!r}"
    for part in name_parts:
        env = environment_from_tokens(part)
        if env:
            return env, f"{name_label} part {part!r}"
    return UNKNOWN_ENVIRONMENT, "none found (no option, mapping, tag or name hint)"


# --- fingerprint ----------------------------------------------------------------------------


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def fingerprint(
    *, tool: IacTool, scope: str | None, environment: str, address: str, drift_type: DriftType
) -> str:
    """Same resource, place and kind of drift -> same fingerprint, whatever the values now are.

    Values are left out on purpose: the store updates the open event with the latest values
    (compare :func:`change_signature` to know whether anything new must be said), and a hash of
    a secret is never computed.
    """
    digest = _digest([FINGERPRINT_VERSION, tool.value, scope or "", environment, address, drift_type.value])
    return f"iacdrift-v{FINGERPRINT_VERSION}-{digest}"


def change_signature(changes: Sequence[DriftChange]) -> str:
    """Hash of the redacted changes; differs when the drift itself changed since last seen."""
    return _digest([[c.path, c.change_type.value, c.declared, c.actual] for c in changes])


# --- assembly -------------------------------------------------------------------------------


def provider_short_name(provider: str | None) -> str:
    """``registry.terraform.io/hashicorp/aws`` -> ``aws``; ``AWS`` -> ``aws``."""
    if not provider:
        return "unknown"
    return provider.rstrip("/").rsplit("/", 1)[-1].lower()


def parse_timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def build_event(
    *,
    source_format: SourceFormat,
    tool: IacTool,
    drift_type: DriftType,
    address: str,
    resource_type: str,
    provider: str,
    environment: tuple[str, str],
    changes: Sequence[DriftChange],
    declared_state: dict[str, Any] | None,
    actual_state: dict[str, Any] | None,
    confidence: float,
    options: ParseOptions,
    scope: str | None = None,
    previous_address: str | None = None,
    physical_id: str | None = None,
    review_reasons: Sequence[str] = (),
    detected_at: datetime | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> DriftEvent:
    """Evaluate the rules, mark critical changes, assess severity, fingerprint: one event."""
    from domain.iac.rules import evaluate
    from domain.iac.triage import assess_severity

    env, env_source = environment
    full_scope = ":".join(s for s in (options.scope, scope) if s) or None
    hits = evaluate(
        resource_type=resource_type,
        drift_type=drift_type,
        declared=declared_state,
        actual=actual_state,
        changes=changes,
    )
    marked = tuple(_mark(change, hits) for change in changes)
    needs_review = bool(review_reasons)
    severity, reasons = assess_severity(hits, env, drift_type, needs_manual_review=needs_review)
    return DriftEvent(
        fingerprint=fingerprint(
            tool=tool, scope=full_scope, environment=env, address=address, drift_type=drift_type
        ),
        change_signature=change_signature(marked),
        source_format=source_format,
        tool=tool,
        drift_type=drift_type,
        resource_address=address,
        resource_type=resource_type,
        provider=provider,
        previous_address=previous_address,
        physical_id=physical_id,
        scope=full_scope,
        environment=env,
        environment_source=env_source,
        declared_state=declared_state,
        actual_state=actual_state,
        changes=marked,
        rule_hits=tuple(hits),
        severity=severity,
        severity_score=severity.score,
        severity_reasons=tuple(reasons),
        confidence=confidence,
        needs_manual_review=needs_review,
        review_reasons=tuple(review_reasons),
        detected_at=detected_at,
        metadata=dict(metadata or {}),
    )


def _mark(change: DriftChange, hits: Sequence[RuleHit]) -> DriftChange:
    ids = tuple(dict.fromkeys(h.rule_id for h in hits if pointer_related(h.path, change.path)))
    if not ids:
        return change
    return change.model_copy(update={"is_security_critical": True, "rule_ids": ids})
