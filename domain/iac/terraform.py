"""Terraform: the JSON of ``terraform show -json PLANFILE`` (best: a ``-refresh-only`` plan), HCP
Terraform's redacted plan (``plan_format_version``, the same structure; what run tasks receive),
and the ``terraform plan -json`` message stream (its ``resource_drift`` messages: addresses and
actions, no attribute values).

Drift is read from ``resource_drift[]`` only, never from ``resource_changes`` (what the plan
would do next) nor from the exit code. In a drift entry ``change.before`` is the declared
(last applied) value and ``change.after`` the actual one. ``before_sensitive`` /
``after_sensitive`` (``true`` or a structure mirroring the value) are applied here, before
any value leaves this module. Unknown keys are ignored; ``format_version`` (or
``plan_format_version``) must be 1.x.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from domain.iac.model import (
    ChangeType,
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
    return ("format_version" in data or "plan_format_version" in data) and any(
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
    version = data.get("format_version", data.get("plan_format_version"))
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
    entry: Mapping[str, Any], options: ParseOptions, detected: Any,
    source_format: SourceFormat = SourceFormat.TERRAFORM_PLAN_JSON,
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
    event = build_event(
        source_format=source_format,
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
        physical_id=_physical_id(actual, declared),
        review_reasons=review,
        detected_at=detected,
        metadata=_entry_metadata(entry, address, base_address),
    )
    return event, None


def _entry_metadata(entry: Mapping[str, Any], address: str, base_address: str) -> dict[str, Any]:
    """Where the resource came from (provider, module, the address without its index)."""
    metadata: dict[str, Any] = {"provider_source": entry.get("provider_name"),
                                "mode": entry.get("mode", "managed")}
    if entry.get("module_address"):
        metadata["module_address"] = entry["module_address"]
    if base_address != address:
        metadata["base_address"] = base_address
    return metadata


def _physical_id(*states: Any) -> str | None:
    """The cloud id of the resource: the first state that has one (actual, then declared)."""
    for state in states:
        if isinstance(state, Mapping) and isinstance(state.get("id"), str):
            return str(state["id"])
    return None


def parse_terraform(data: Mapping[str, Any], options: ParseOptions | None = None) -> ParseResult:
    """Every drift in a Terraform plan JSON, redacted and classified."""
    options = options or ParseOptions()
    if not isinstance(data, Mapping) or not looks_like_terraform(data):
        raise UnsupportedFormat("Not a Terraform plan JSON (no format_version / resource_drift).")
    version = check_format_version(data)
    redacted = "format_version" not in data  # HCP Terraform: only plan_format_version
    source_format = SourceFormat.HCP_TERRAFORM_REDACTED_PLAN if redacted else SourceFormat.TERRAFORM_PLAN_JSON
    notices: list[str] = []
    if "values" in data and "resource_drift" not in data and "planned_values" not in data:
        raise UnsupportedFormat(
            "This is `terraform show -json` of a state, which holds no drift. Run "
            "`terraform plan -refresh-only -out=drift.tfplan` then `terraform show -json drift.tfplan`."
        )
    drift = data.get("resource_drift") or []
    if not isinstance(drift, list):
        raise MalformedInput(f"Terraform resource_drift must be a list, found {type(drift).__name__}.")
    incomplete: list[str] = []
    if data.get("errored") is True:
        incomplete.append("Terraform reported errored=true for this plan: the drift list may be incomplete.")
        notices.extend(incomplete)
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
        event, skipped = _entry_event(entry, options, detected, source_format)
        if event is not None:
            events.append(event)
        elif skipped:
            ignored[skipped] = ignored.get(skipped, 0) + 1
    return ParseResult(
        source_format=source_format,
        tool=IacTool.TERRAFORM,
        format_version=version,
        rules_version=RULES_VERSION,
        events=tuple(events),
        notices=tuple(notices),
        ignored=ignored,
        incomplete=tuple(incomplete),
    )


# --- terraform plan -json (machine-readable UI stream) ----------------------------------------

UI_SUPPORTED_MAJOR = 1
_UI_ACTIONS = {"update": DriftType.MODIFIED, "delete": DriftType.DELETED, "create": DriftType.ADDED}
STREAM_REVIEW = (
    "`terraform plan -json` names the drifted resource but carries no attribute values: for the "
    "diff, ingest `terraform show -json` of the saved plan (`terraform plan -refresh-only -out=...`)."
)


def looks_like_ui_stream(data: Any) -> bool:
    """A list of Terraform UI messages (``@message`` / ``type``), as :func:`decode_report` reads
    them from JSON lines."""
    return (isinstance(data, list) and bool(data)
            and all(isinstance(m, Mapping) for m in data)
            and any("@message" in m and "type" in m for m in data))


def parse_ui_stream(messages: list[Mapping[str, Any]], options: ParseOptions | None = None) -> ParseResult:
    """Events from the stream's ``resource_drift`` messages; errors become notices."""
    options = options or ParseOptions()
    notices: list[str] = []
    events: list[DriftEvent] = []
    ignored: dict[str, int] = {}
    version: str | None = None
    incomplete: list[str] = []
    for message in messages:
        kind = message.get("type")
        if kind == "version":
            version = str(message.get("ui") or "")
            if version.split(".", 1)[0] != str(UI_SUPPORTED_MAJOR):
                raise UnsupportedFormatVersion(
                    f"terraform plan -json UI version {version!r} is not supported: this bot reads "
                    f"{UI_SUPPORTED_MAJOR}.x. Use `terraform show -json PLANFILE` instead.")
        elif kind == "resource_drift":
            events.append(_stream_event(message, options))
        elif kind == "diagnostic" and message.get("@level") == "error":
            diagnostic = message.get("diagnostic")
            summary = (diagnostic.get("summary") if isinstance(diagnostic, Mapping) else None) or message.get(
                "@message")
            incomplete.append(f"Terraform reported an error: {summary}. The drift list may be incomplete.")
            notices.append(incomplete[-1])
        else:
            ignored[str(kind or "unknown")] = ignored.get(str(kind or "unknown"), 0) + 1
    if not events:
        notices.append("The plan stream has no resource_drift message: Terraform found no drift.")
    return ParseResult(
        source_format=SourceFormat.TERRAFORM_PLAN_STREAM,
        tool=IacTool.TERRAFORM,
        format_version=version,
        rules_version=RULES_VERSION,
        events=tuple(events),
        notices=tuple(notices),
        ignored=ignored,
        incomplete=tuple(incomplete),
    )


def _stream_event(message: Mapping[str, Any], options: ParseOptions) -> DriftEvent:
    change = message.get("change")
    if not isinstance(change, Mapping):
        change = {}
    resource = change.get("resource")
    if not isinstance(resource, Mapping) or not isinstance(resource.get("addr"), str):
        raise MalformedInput("A terraform plan -json resource_drift message has no change.resource.addr.")
    address = resource["addr"]
    action = str(change.get("action") or "")
    drift_type = _UI_ACTIONS.get(action, DriftType.MODIFIED)
    review = [STREAM_REVIEW]
    if action not in _UI_ACTIONS:
        review.append(f"Terraform reported action {action!r} for a drift message, which this bot "
                      "does not interpret.")
    previous = change.get("previous_resource")
    previous_address = previous.get("addr") if isinstance(previous, Mapping) else None
    rtype = resource.get("resource_type")
    if not isinstance(rtype, str) or not rtype:
        tokens = _INDEX.sub("", address).split(".")
        rtype = tokens[-2] if len(tokens) >= 2 else "unknown"
    env = resolve_environment(options, address=address, name_parts=_name_parts(address), states=(),
                              name_label="address")
    metadata: dict[str, Any] = {"implied_provider": resource.get("implied_provider"),
                                "message": message.get("@message")}
    if resource.get("module"):
        metadata["module_address"] = resource["module"]
    changes = ([whole_resource_change(drift_type, None, None)]
               if drift_type in (DriftType.DELETED, DriftType.ADDED)
               else [DriftChange(path="", change_type=ChangeType.MODIFIED)])
    return build_event(
        source_format=SourceFormat.TERRAFORM_PLAN_STREAM,
        tool=IacTool.TERRAFORM,
        drift_type=drift_type,
        address=address,
        resource_type=rtype,
        provider=provider_short_name(str(resource.get("implied_provider") or "")),
        environment=env,
        changes=changes,
        declared_state=None,
        actual_state=None,
        confidence=1.0,  # Terraform itself said it drifted; only the detail is missing
        options=options,
        previous_address=previous_address if isinstance(previous_address, str) else None,
        review_reasons=review,
        detected_at=parse_timestamp(message.get("@timestamp")),
        metadata=metadata,
    )
