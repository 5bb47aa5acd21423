"""driftctl ``scan --output json://`` (v0.38+ shape: managed, unmanaged, missing).

driftctl compares Terraform state with the cloud by resource id; before v0.40 its deep mode
(``--deep``) also diffed attributes:

- ``missing`` (in state, gone from the cloud) -> ``deleted`` events, confidence 1.0;
- ``unmanaged`` (in the cloud, in no scanned state) -> ``added`` events, confidence 0.6,
  because the resource may belong to a state file that was not scanned;
- ``differences`` (deep mode, counted in ``summary.total_changed``) -> ``modified`` events with
  one change per changelog entry, values redacted like every IaC value; confidence 0.7 (deep
  mode was dropped as unreliable), 0.4 and a review note when every change is on a computed
  field (driftctl's own false-positive warning);
- ``managed`` -> counted, no event. ``alerts`` (resources driftctl could not scan) are notices.
"""

from __future__ import annotations

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
)
from domain.iac.normalize import (
    ParseOptions,
    build_event,
    parse_timestamp,
    pointer,
    provider_short_name,
    redact_at,
    resolve_environment,
    set_pointer,
    whole_resource_change,
)
from domain.iac.rules import RULES_VERSION

_CHANGELOG_TYPES = {"update": ChangeType.MODIFIED, "create": ChangeType.ADDED, "delete": ChangeType.REMOVED}


def looks_like_driftctl(data: Mapping[str, Any]) -> bool:
    summary = data.get("summary")
    return (
        isinstance(summary, Mapping)
        and "total_resources" in summary
        and ("managed" in data or "unmanaged" in data or "missing" in data)
    )


def _changelog(entries: Any) -> tuple[list[DriftChange], bool]:
    """A deep-mode changelog as changes; True when every one is on a computed field."""
    if not isinstance(entries, list) or not entries:
        raise MalformedInput("A driftctl difference has no changelog list.")
    changes: list[DriftChange] = []
    computed = True
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("path"), list):
            raise MalformedInput("A driftctl changelog entry has no path list.")
        tokens = [str(t) for t in entry["path"]]
        change_type = _CHANGELOG_TYPES.get(str(entry.get("type")), ChangeType.MODIFIED)
        declared = None if change_type is ChangeType.ADDED else redact_at(tokens, entry.get("from"))
        actual = None if change_type is ChangeType.REMOVED else redact_at(tokens, entry.get("to"))
        sensitive = (declared != entry.get("from") and change_type is not ChangeType.ADDED) or (
            actual != entry.get("to") and change_type is not ChangeType.REMOVED)
        changes.append(DriftChange(path=pointer(tokens), declared=declared, actual=actual,
                                   change_type=change_type, sensitive=sensitive))
        computed = computed and entry.get("computed") is True
    return changes, computed


def _event(item: Any, drift_type: DriftType, data: Mapping[str, Any], options: ParseOptions,
           changelog: Any = None) -> DriftEvent:
    if (
        not isinstance(item, Mapping)
        or not isinstance(item.get("id"), str)
        or not isinstance(item.get("type"), str)
    ):
        raise MalformedInput("A driftctl resource has no string id and type.")
    rid, rtype = item["id"], item["type"]
    address = f"{rtype}.{rid}"
    source = item.get("source") if isinstance(item.get("source"), Mapping) else None
    metadata: dict[str, Any] = {"provider_version": data.get("provider_version"), "driftctl_id": rid}
    name_parts: list[str] = [rid]
    if source:
        metadata["iac_source"] = dict(source)
        internal = source.get("internal_name")
        if isinstance(internal, str) and internal:
            metadata["terraform_address"] = f"{rtype}.{internal}"
            name_parts.insert(0, internal)
            namespace = source.get("namespace")
            if namespace:
                metadata["terraform_address_note"] = (
                    f"driftctl found it in {source.get('source')} (namespace {namespace!r}): prefix the "
                    "module path to the address if it is not in the root module."
                )
    state = {"id": rid, "type": rtype}
    declared: dict[str, Any] | None = state if drift_type is DriftType.DELETED else None
    actual: dict[str, Any] | None = state if drift_type is DriftType.ADDED else None
    review: list[str] = []
    confidence = 1.0 if drift_type is DriftType.DELETED else 0.6
    if drift_type is DriftType.MODIFIED:
        changes, computed = _changelog(changelog)
        # what the changelog says, as partial states, so the security rules see the attributes
        declared, actual = dict(state), dict(state)
        for change in changes:
            set_pointer(declared, change.path, change.declared)
            set_pointer(actual, change.path, change.actual)
        confidence = 0.7
        if computed:
            confidence = 0.4
            review.append("Every change is on a computed field: driftctl warns these are often "
                          "false positives (docs.driftctl.com/limitations).")
    else:
        changes = [whole_resource_change(drift_type, declared, actual)]
    env = resolve_environment(
        options, address=address, name_parts=name_parts, states=(), name_label="resource name"
    )
    return build_event(
        source_format=SourceFormat.DRIFTCTL_SCAN_JSON,
        tool=IacTool.TERRAFORM,
        drift_type=drift_type,
        address=address,
        resource_type=rtype,
        provider=provider_short_name(str(data.get("provider_name") or "")),
        environment=env,
        changes=changes,
        declared_state=declared,
        actual_state=actual,
        confidence=confidence,
        options=options,
        physical_id=rid,
        review_reasons=review,
        detected_at=parse_timestamp(data.get("date")),
        metadata=metadata,
    )


def parse_driftctl(data: Mapping[str, Any], options: ParseOptions | None = None) -> ParseResult:
    """``deleted`` events for missing resources, ``added`` for unmanaged ones."""
    options = options or ParseOptions()
    events: list[DriftEvent] = []
    for key, drift_type in (("missing", DriftType.DELETED), ("unmanaged", DriftType.ADDED)):
        items = data.get(key) or []
        if not isinstance(items, list):
            raise MalformedInput(f"driftctl {key!r} must be a list, found {type(items).__name__}.")
        events.extend(_event(item, drift_type, data, options) for item in items)
    differences = data.get("differences") or []
    if not isinstance(differences, list):
        raise MalformedInput(f"driftctl 'differences' must be a list, found {type(differences).__name__}.")
    for difference in differences:
        if not isinstance(difference, Mapping):
            raise MalformedInput("A driftctl difference is not an object.")
        events.append(_event(difference.get("res"), DriftType.MODIFIED, data, options,
                             difference.get("changelog")))
    managed = data.get("managed") or []
    notices: list[str] = []
    summary = data.get("summary") or {}
    if isinstance(summary, Mapping):
        notices.append(
            f"driftctl scan: {summary.get('total_resources')} resources, {summary.get('total_managed')} "
            f"managed, {summary.get('total_unmanaged')} unmanaged, {summary.get('total_missing')} missing"
            + (f", coverage {data['coverage']}%." if data.get("coverage") is not None else ".")
        )
    if differences:
        notices.append(
            f"driftctl deep mode reported {len(differences)} changed resource(s): deep mode was "
            "removed in driftctl v0.40 as unreliable; confirm with a Terraform refresh-only plan."
        )
    alerts = alert_notices(data.get("alerts"))
    notices.extend(alerts)
    return ParseResult(
        source_format=SourceFormat.DRIFTCTL_SCAN_JSON,
        tool=IacTool.TERRAFORM,
        rules_version=RULES_VERSION,
        events=tuple(events),
        notices=tuple(notices),
        ignored={"managed": len(managed) if isinstance(managed, list) else 0},
        incomplete=tuple(alerts),
    )


def alert_notices(alerts: Any) -> list[str]:
    """driftctl ``alerts`` (``{"<resource type or ''>": [{"message": ...}]}``): each says a part
    of the account was not scanned or may be a false positive, so the report is partial."""
    if not alerts:
        return []
    if not isinstance(alerts, Mapping):
        return [f"driftctl alerts (some resources may not have been scanned): {alerts}"[:500]]
    messages: list[str] = []
    for scope, items in alerts.items():
        for item in items if isinstance(items, list) else [items]:
            text = item.get("message") if isinstance(item, Mapping) else item
            messages.append(f"{scope}: {text}" if scope else str(text))
    shown = "; ".join(messages[:5]) + (f"; and {len(messages) - 5} more" if len(messages) > 5 else "")
    return [f"driftctl alerts ({len(messages)}): the scan is incomplete or may hold false positives: "
            f"{shown}"[:1000]]
