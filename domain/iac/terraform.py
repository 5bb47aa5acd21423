"""Terraform: the JSON of ``terraform show -json PLANFILE`` (best: a ``-refresh-only`` plan).

Drift is read from ``resource_drift[]`` only, never from ``resource_changes`` (what the plan
would do next) nor from the exit code. In a drift entry ``change.before`` is the declared
(last applied) value and ``change.after`` the actual one. ``before_sensitive`` /
``after_sensitive`` (``true`` or a structure mirroring the value) are applied here, before
any value leaves this module. Unknown keys are ignored; ``format_version`` must be 1.x.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from domain.iac.model import (
    DriftChange,
    DriftEvent,
    DriftType,
    IacTool,
    MalformedInput,
    ParseResult,
    SourceFormat,
    UnsupportedFormat,
    UnsupportedFormatVersion,
)
from domain.iac.normalize import (
    ParseOptions,
    build_event,
    diff,
    parse_timestamp,
    provider_short_name,
    redact,
    resolve_environment,
    whole_resource_change,
)
from domain.iac.rules import RULES_VERSION

SUPPORTED_MAJOR = 1
_ACTIONS: dict[tuple[str, ...], DriftType] = {
    ("update",): DriftType.MODIFIED,
    ("delete",): DriftType.DELETED,
    ("create",): DriftType.ADDED,
}
_INDEX = re.compile(r"\[[^\]]*\]")
_INDEX_KEY = re.compile(r"\[([^\]]*)\]")


def looks_like_terraform(data: Mapping[str, Any]) -> bool:
    return "format_version" in data and any(
        key in data
        for key in (
            "resource_drift",
            "resource_changes",
            "planned_values",
            "prior_state",
            "terraform_version",
            "values",
            "configuration",
        )
    )


def check_format_version(data: Mapping[str, Any]) -> str:
    """The ``format_version`` string, or a clear error naming what was found and what is accepted."""
    version = data.get("format_version")
    if not isinstance(version, str) or not version.strip():
        raise MalformedInput(
            f"Terraform JSON has no usable format_version (found {version!r}); expected the output of "
            "`terraform show -json PLANFILE` with format_version 1.x."
        )
    major = version.split(".", 1)[0]
    if major != str(SUPPORTED_MAJOR):
        raise UnsupportedFormatVersion(
            f"Terraform JSON format_version {version!r} is not supported: this bot reads format_version "
            f"{SUPPORTED_MAJOR}.x (the `terraform show -json` plan format of Terraform 0.12 to 1.x). "
            "A new major version may change the meaning of fields, so it is refused rather than guessed."
        )
    return version


def _name_parts(address: str) -> list[str]:
    """Module names, index keys and resource name of an address; never the resource type."""
    modules: list[str] = []
    names: list[str] = []
    tokens = _INDEX.sub("", address).split(".")
    i = 0
    while i < len(tokens):
        if tokens[i] == "module" and i + 1 < len(tokens):
            modules.append(tokens[i + 1])
            i += 2
            continue
        if tokens[i] == "data":
            i += 1
            continue
        names.extend(tokens[i + 1 :])  # tokens[i] is the type
        break
    keys = [k.strip('"') for k in _INDEX_KEY.findall(address)]
    return [p for p in (*modules, *keys, *names) if p]


def _entry_event(
    entry: Mapping[str, Any], options: ParseOptions, detected: Any
) -> tuple[DriftEvent | None, str | None]:
    address = entry.get("address")
    change = entry.get("change")
    if not isinstance(address, str) or not isinstance(change, Mapping):
        raise MalformedInput(
            "A Terraform resource_drift entry has no address or change object "
            f"(keys found: {sorted(entry)[:10]})."
        )
    actions = tuple(str(a) for a in change.get("actions") or ())
    previous = entry.get("previous_address") if isinstance(entry.get("previous_address"), str) else None
    review: list[str] = []
    if actions == ("no-op",):
        if not previous:
            return None, "no_op"
        drift_type = DriftType.MOVED
    elif actions in _ACTIONS:
        drift_type = _ACTIONS[actions]
    else:
        drift_type = DriftType.MODIFIED
        review.append(
            f"Terraform reported actions {list(actions)} for a drift entry, which this bot "
            "does not interpret."
        )

    before, after = change.get("before"), change.get("after")
    bmask, amask = change.get("before_sensitive", False), change.get("after_sensitive", False)
    declared = redact(before, bmask) if isinstance(before, Mapping) else None
    actual = redact(after, amask) if isinstance(after, Mapping) else None
    changes: list[DriftChange]
    if drift_type in (DriftType.DELETED, DriftType.ADDED):
        changes = [whole_resource_change(drift_type, declared, actual)]
    else:
        changes = diff(before, after, bmask, amask)
    if drift_type is DriftType.MODIFIED and not changes and previous and not review:
        drift_type = DriftType.MOVED

    rtype = entry.get("type")
    if not isinstance(rtype, str) or not rtype:
        tokens = _INDEX.sub("", address).split(".")
        rtype = tokens[-2] if len(tokens) >= 2 else "unknown"
    provider_source = entry.get("provider_name")
    base_address = _INDEX.sub("", address)
    env = resolve_environment(
        options,
        address=address,
        name_parts=_name_parts(address),
        states=(actual, declared),
        name_label="address",
    )
    metadata: dict[str, Any] = {"provider_source": provider_source, "mode": entry.get("mode", "managed")}
    if entry.get("module_address"):
        metadata["module_address"] = entry["module_address"]
    if base_address != address:
        metadata["base_address"] = base_address
    physical = None
    for state in (actual, declared):
        if isinstance(state, Mapping) and isinstance(state.get("id"), str):
            physical = state["id"]
            break
    event = build_event(
        source_format=SourceFormat.TERRAFORM_PLAN_JSON,
        tool=IacTool.TERRAFORM,
        drift_type=drift_type,
        address=address,
        resource_type=rtype,
        provider=provider_short_name(provider_source if isinstance(provider_source, str) else None),
        environment=env,
        changes=changes,
        declared_state=declared,
        actual_state=actual,
        confidence=0.5 if review else 1.0,
        options=options,
        previous_address=previous,
        physical_id=physical,
        review_reasons=review,
        detected_at=detected,
        metadata=metadata,
    )
    return event, None


def parse_terraform(data: Mapping[str, Any], options: ParseOptions | None = None) -> ParseResult:
    """Every drift in a Terraform plan JSON, redacted and classified."""
    options = options or ParseOptions()
    if not isinstance(data, Mapping) or not looks_like_terraform(data):
        raise UnsupportedFormat("Not a Terraform plan JSON (no format_version / resource_drift).")
    version = check_format_version(data)
    notices: list[str] = []
    if "values" in data and "resource_drift" not in data and "planned_values" not in data:
        raise UnsupportedFormat(
            "This is `terraform show -json` of a *state*, which holds no drift. Run "
            "`terraform plan -refresh-only -out=drift.tfplan` then `terraform show -json drift.tfplan`."
        )
    drift = data.get("resource_drift") or []
    if not isinstance(drift, list):
        raise MalformedInput(f"Terraform resource_drift must be a list, found {type(drift).__name__}.")
    if data.get("errored") is True:
        notices.append("Terraform reported errored=true for this plan: the drift list may be incomplete.")
    if not drift:
        notices.append(
            "The plan has no resource_drift: Terraform found no drift"
            + (
                " (its resource_changes are planned changes, not drift)."
                if data.get("resource_changes")
                else "."
            )
        )
    detected = parse_timestamp(data.get("timestamp"))
    events: list[DriftEvent] = []
    ignored: dict[str, int] = {}
    for entry in drift:
        if not isinstance(entry, Mapping):
            raise MalformedInput("A Terraform resource_drift entry is not an object.")
        event, skipped = _entry_event(entry, options, detected)
        if event is not None:
            events.append(event)
        elif skipped:
            ignored[skipped] = ignored.get(skipped, 0) + 1
    return ParseResult(
        source_format=SourceFormat.TERRAFORM_PLAN_JSON,
        tool=IacTool.TERRAFORM,
        format_version=version,
        rules_version=RULES_VERSION,
        events=tuple(events),
        notices=tuple(notices),
        ignored=ignored,
    )
