"""CloudFormation: ``DescribeStackResourceDrifts`` and ``DescribeStackDriftDetectionStatus`` output.

Resource drifts: ``IN_SYNC`` is counted and ignored; ``MODIFIED`` and ``DELETED`` become
events; any other status (``NOT_CHECKED``, ``UNKNOWN``, or one AWS adds later) becomes an
event flagged for manual review rather than being dropped. Property values arrive as strings
(objects JSON-encoded, null as ``"null"``) and are decoded; a value that is not valid JSON is
kept as the string it is (``"PROVISIONED"``). ``PropertyPath`` is already a JSON pointer.

The stack-level detection status carries no resource detail: it yields no events, only a
notice that says what to run next.
"""

from __future__ import annotations

import json
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
    redact,
    redact_at,
    resolve_environment,
    split_pointer,
    whole_resource_change,
)
from domain.iac.rules import RULES_VERSION

_DIFFERENCE_TYPES = {"ADD": ChangeType.ADDED, "REMOVE": ChangeType.REMOVED, "NOT_EQUAL": ChangeType.MODIFIED}
_STATUS_TYPES = {"MODIFIED": DriftType.MODIFIED, "DELETED": DriftType.DELETED}


def looks_like_resource_drifts(data: Mapping[str, Any]) -> bool:
    return "StackResourceDrifts" in data


def looks_like_detection_status(data: Mapping[str, Any]) -> bool:
    return "StackDriftDetectionId" in data or ("StackDriftStatus" in data and "DetectionStatus" in data)


def decode_value(value: Any) -> Any:
    """CloudFormation's string-encoded value -> JSON value (``"null"`` -> None, ``"120"`` -> 120)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def parse_stack_arn(stack_id: str | None) -> dict[str, str]:
    """``arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/UUID`` -> region, account, stack name."""
    if not stack_id or not stack_id.startswith("arn:"):
        return {"stack_name": stack_id} if stack_id else {}
    parts = stack_id.split(":", 5)
    if len(parts) < 6:
        return {}
    resource = parts[5].split("/")
    out = {"partition": parts[1], "region": parts[3], "account": parts[4]}
    if len(resource) >= 2:
        out["stack_name"] = resource[1]
    return {k: v for k, v in out.items() if v}


def _state(raw: Any) -> dict[str, Any] | None:
    value = decode_value(raw)
    return redact(value) if isinstance(value, dict) else None


def _changes(drift: Mapping[str, Any], review: list[str]) -> list[DriftChange]:
    """Property differences with their values redacted like every other IaC value: the path's
    keys (``/Environment/Variables/DB_PASSWORD``), a secret ``Name`` beside a ``Value``, masks
    and credential-looking values (issue 15)."""
    changes: list[DriftChange] = []
    raw_states = (decode_value(drift.get("ExpectedProperties")), decode_value(drift.get("ActualProperties")))
    for diff in drift.get("PropertyDifferences") or []:
        if not isinstance(diff, Mapping):
            raise MalformedInput("A CloudFormation PropertyDifferences item is not an object.")
        path = diff.get("PropertyPath")
        if not isinstance(path, str):
            raise MalformedInput("A CloudFormation property difference has no PropertyPath.")
        if path and not path.startswith("/"):
            path = "/" + path
        kind = str(diff.get("DifferenceType", ""))
        change_type = _DIFFERENCE_TYPES.get(kind)
        if change_type is None:
            review.append(f"Unknown DifferenceType {kind!r} at {path}.")
            change_type = ChangeType.MODIFIED
        try:
            tokens = split_pointer(path)
        except ValueError:
            tokens = [path]
        raw_declared = decode_value(diff.get("ExpectedValue"))
        raw_actual = decode_value(diff.get("ActualValue"))
        declared = redact_at(tokens, raw_declared, *raw_states)
        actual = redact_at(tokens, raw_actual, *raw_states)
        if change_type is ChangeType.ADDED:
            declared = None
        elif change_type is ChangeType.REMOVED:
            actual = None
        hidden_declared = change_type is not ChangeType.ADDED and declared != raw_declared
        hidden_actual = change_type is not ChangeType.REMOVED and actual != raw_actual
        sensitive = hidden_declared or hidden_actual
        changes.append(DriftChange(path=path, declared=declared, actual=actual, change_type=change_type,
                                   sensitive=sensitive))
    return changes


def _event(drift: Mapping[str, Any], options: ParseOptions) -> DriftEvent | None:
    status = str(drift.get("StackResourceDriftStatus", ""))
    if status == "IN_SYNC":
        return None
    logical = drift.get("LogicalResourceId")
    rtype = drift.get("ResourceType")
    if not isinstance(logical, str) or not isinstance(rtype, str):
        raise MalformedInput(
            "A CloudFormation StackResourceDrifts item has no LogicalResourceId or ResourceType."
        )
    stack = parse_stack_arn(drift.get("StackId") if isinstance(drift.get("StackId"), str) else None)
    stack_name = stack.get("stack_name", "unknown-stack")
    address = f"{stack_name}/{logical}"
    review: list[str] = []
    drift_type = _STATUS_TYPES.get(status)
    if drift_type is None:
        drift_type = DriftType.MODIFIED
        review.append(
            f"CloudFormation drift status {status or '(missing)'!r}: drift could not be "
            "decided for this resource."
        )
    declared = _state(drift.get("ExpectedProperties"))
    actual = _state(drift.get("ActualProperties"))
    if drift_type is DriftType.DELETED:
        actual = None
        changes = [whole_resource_change(DriftType.DELETED, declared, None)]
    else:
        changes = _changes(drift, review)
    env = resolve_environment(
        options,
        address=address,
        name_parts=(stack_name, logical),
        states=(actual, declared),
        extra_patterns=(stack_name,),
        name_label="stack/logical id",
    )
    scope = ":".join(stack.get(k, "") for k in ("account", "region", "stack_name")) if stack else None
    metadata: dict[str, Any] = {
        "stack_id": drift.get("StackId"),
        "stack_name": stack_name,
        "logical_resource_id": logical,
        "drift_status": status,
        **{k: stack[k] for k in ("region", "account") if k in stack},
    }
    return build_event(
        source_format=SourceFormat.CFN_STACK_RESOURCE_DRIFTS,
        tool=IacTool.CLOUDFORMATION,
        drift_type=drift_type,
        address=address,
        resource_type=rtype,
        provider="aws",
        environment=env,
        changes=changes,
        declared_state=declared,
        actual_state=actual,
        confidence=0.3 if review else 1.0,
        options=options,
        scope=scope,
        physical_id=drift.get("PhysicalResourceId")
        if isinstance(drift.get("PhysicalResourceId"), str)
        else None,
        review_reasons=review,
        detected_at=parse_timestamp(drift.get("Timestamp")),
        metadata=metadata,
    )


def parse_resource_drifts(data: Mapping[str, Any], options: ParseOptions | None = None) -> ParseResult:
    """Events for every non-IN_SYNC resource of a ``describe-stack-resource-drifts`` output."""
    options = options or ParseOptions()
    drifts = data.get("StackResourceDrifts")
    if not isinstance(drifts, list):
        raise MalformedInput(
            f"CloudFormation StackResourceDrifts must be a list, found {type(drifts).__name__}."
        )
    events: list[DriftEvent] = []
    ignored: dict[str, int] = {}
    for drift in drifts:
        if not isinstance(drift, Mapping):
            raise MalformedInput("A CloudFormation StackResourceDrifts item is not an object.")
        event = _event(drift, options)
        if event is None:
            ignored["in_sync"] = ignored.get("in_sync", 0) + 1
        else:
            events.append(event)
    notices: list[str] = []
    incomplete: list[str] = []
    if data.get("NextToken"):
        incomplete.append("The output has a NextToken: only the first page of resource drifts was "
                          "ingested; fetch every page (the AWS CLI does unless --max-items is set).")
        notices.extend(incomplete)
    if not events:
        notices.append("No drifted resources in this report.")
    return ParseResult(
        source_format=SourceFormat.CFN_STACK_RESOURCE_DRIFTS,
        tool=IacTool.CLOUDFORMATION,
        rules_version=RULES_VERSION,
        events=tuple(events),
        notices=tuple(notices),
        ignored=ignored,
        incomplete=tuple(incomplete),
    )


def parse_detection_status(data: Mapping[str, Any], options: ParseOptions | None = None) -> ParseResult:
    """A stack-level status: no events, a notice saying what it found and what to ingest next."""
    stack = parse_stack_arn(data.get("StackId") if isinstance(data.get("StackId"), str) else None)
    name = stack.get("stack_name", "the stack")
    status = data.get("StackDriftStatus")
    detection = data.get("DetectionStatus")
    count = data.get("DriftedStackResourceCount")
    region = f" --region {stack['region']}" if "region" in stack else ""
    notices = [
        f"Stack {name}: drift detection {detection}, stack drift status {status}"
        + (f", {count} drifted resource(s)." if count is not None else ".")
    ]
    incomplete: list[str] = []
    if detection == "DETECTION_FAILED":
        incomplete.append(f"Stack {name}: drift detection failed: "
                          f"{data.get('DetectionStatusReason') or 'no reason given'}.")
        notices.append(f"Detection failed: {data.get('DetectionStatusReason') or 'no reason given'}.")
    if status == "DRIFTED" or (isinstance(count, int) and count > 0):
        incomplete.append(f"Stack {name} has drifted ({count} resource(s)) but this status names "
                          "no resource: no drift message was posted for them.")
        notices.append(
            "This status has no resource detail. Ingest the output of `aws cloudformation "
            f"describe-stack-resource-drifts --stack-name {name} --stack-resource-drift-status-filters "
            f"MODIFIED DELETED NOT_CHECKED{region}` to triage each resource."
        )
    return ParseResult(
        source_format=SourceFormat.CFN_STACK_DRIFT_DETECTION_STATUS,
        tool=IacTool.CLOUDFORMATION,
        rules_version=RULES_VERSION,
        notices=tuple(notices),
        ignored={"stack_status": 1},
        incomplete=tuple(incomplete),
    )
