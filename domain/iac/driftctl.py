"""driftctl ``scan --output json://`` (v0.38+ shape: managed, unmanaged, missing).

driftctl compares Terraform state with the cloud by resource id only (deep mode, the
attribute diff, was removed in v0.40), so it can say *that* a resource is missing or
unmanaged, never *what* changed:

- ``missing`` (in state, gone from the cloud) -> ``deleted`` events, confidence 1.0;
- ``unmanaged`` (in the cloud, in no scanned state) -> ``added`` events, confidence 0.6,
  because the resource may belong to a state file that was not scanned;
- ``managed`` -> counted, no event. A legacy ``differences`` list is ignored with a notice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.iac.model import DriftEvent, DriftType, IacTool, MalformedInput, ParseResult, SourceFormat
from domain.iac.normalize import (
    ParseOptions,
    build_event,
    parse_timestamp,
    provider_short_name,
    resolve_environment,
    whole_resource_change,
)
from domain.iac.rules import RULES_VERSION


def looks_like_driftctl(data: Mapping[str, Any]) -> bool:
    summary = data.get("summary")
    return (
        isinstance(summary, Mapping)
        and "total_resources" in summary
        and ("managed" in data or "unmanaged" in data or "missing" in data)
    )


def _event(item: Any, drift_type: DriftType, data: Mapping[str, Any], options: ParseOptions) -> DriftEvent:
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
    declared = state if drift_type is DriftType.DELETED else None
    actual = state if drift_type is DriftType.ADDED else None
    env = resolve_environment(
        options, address=address, name_parts=name_parts, states=(), name_label="resource name"
    )
    review: list[str] = []
    return build_event(
        source_format=SourceFormat.DRIFTCTL_SCAN_JSON,
        tool=IacTool.TERRAFORM,
        drift_type=drift_type,
        address=address,
        resource_type=rtype,
        provider=provider_short_name(str(data.get("provider_name") or "")),
        environment=env,
        changes=[whole_resource_change(drift_type, declared, actual)],
        declared_state=declared,
        actual_state=actual,
        confidence=1.0 if drift_type is DriftType.DELETED else 0.6,
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
    managed = data.get("managed") or []
    notices: list[str] = []
    summary = data.get("summary") or {}
    if isinstance(summary, Mapping):
        notices.append(
            f"driftctl scan: {summary.get('total_resources')} resources, {summary.get('total_managed')} "
            f"managed, {summary.get('total_unmanaged')} unmanaged, {summary.get('total_missing')} missing"
            + (f", coverage {data['coverage']}%." if data.get("coverage") is not None else ".")
        )
    if data.get("differences"):
        notices.append(
            "driftctl deep-mode 'differences' were ignored: they are unreliable and were "
            "removed in driftctl v0.40; use a Terraform refresh-only plan for attribute drift."
        )
    alerts = data.get("alerts")
    if alerts:
        notices.append(f"driftctl alerts (some resources may not have been scanned): {alerts}")
    return ParseResult(
        source_format=SourceFormat.DRIFTCTL_SCAN_JSON,
        tool=IacTool.TERRAFORM,
        rules_version=RULES_VERSION,
        events=tuple(events),
        notices=tuple(notices),
        ignored={"managed": len(managed) if isinstance(managed, list) else 0},
    )
