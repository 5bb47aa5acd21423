"""Issue 15, IaC parsing (items 9-13): driftctl deep mode, HCP Terraform's redacted plan, one
redaction for every path, report-level notices that say a report is partial, and the
`terraform plan -json` stream. Inputs are public examples or labelled SYNTHETIC variants."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from domain.iac.ingest import ingest
from domain.iac.model import DriftType, MalformedInput, SourceFormat, UnsupportedFormatVersion
from tests.paths import SHARED_DIR

FIXTURES = Path("/work/shared/fixtures/iac")
if not FIXTURES.exists():
    FIXTURES = SHARED_DIR / "fixtures" / "iac"
NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)

# Shaped like snyk/driftctl pkg/cmd/scan/output/testdata/output_computed_fields.json (v0.3x deep
# mode), with one non-computed changelog entry added (SYNTHETIC).
DRIFTCTL_DEEP: dict[str, Any] = {
    "summary": {"total_resources": 2, "total_changed": 1, "total_unmanaged": 0, "total_missing": 0,
                "total_managed": 2, "total_iac_source_count": 1},
    "managed": [{"id": "diff-id-1", "type": "aws_diff_resource"},
                {"id": "no-diff-id-1", "type": "aws_no_diff_resource"}],
    "unmanaged": None, "missing": None,
    "differences": [{
        "res": {"id": "diff-id-1", "type": "aws_diff_resource",
                "source": {"source": "tfstate://state.tfstate", "namespace": "module",
                           "internal_name": "name"}},
        "changelog": [
            {"type": "update", "path": ["updated", "field"], "from": "foobar", "to": "barfoo",
             "computed": True},
            {"type": "create", "path": ["new", "field"], "from": None, "to": "newValue",
             "computed": False},
            {"type": "delete", "path": ["a"], "from": "oldValue", "to": None, "computed": True},
            {"type": "update", "path": ["environment", "API_TOKEN"], "from": "tok-old-1234",
             "to": "tok-new-5678", "computed": False},
        ]}],
    "coverage": 100,
    "alerts": {"": [{"message": "Ignoring aws_vpc from drift calculation: Listing aws_vpc is "
                                "forbidden: dummy error"}]},
    "provider_name": "AWS", "provider_version": "3.19.0",
}

# The resource_drift entry of hashicorp/terraform internal/cloud/testdata/plan-json-full/
# plan-redacted.json (HCP Terraform's redacted plan), with its top-level shape.
HCP_REDACTED: dict[str, Any] = {
    "plan_format_version": "1.1",
    "resource_drift": [{
        "address": "tfcoremock_simple_resource.example", "mode": "managed",
        "type": "tfcoremock_simple_resource", "name": "example",
        "provider_name": "registry.terraform.io/hashicorp/tfcoremock",
        "change": {"actions": ["delete"],
                   "before": {"bool": True, "float": 0, "id": "my-simple-resource", "integer": 0,
                              "number": 0, "string": "Hello, world!"},
                   "after": None, "after_unknown": {}, "before_sensitive": {},
                   "after_sensitive": False}}],
    "resource_changes": [], "relevant_attributes": [], "output_changes": {},
}

# SYNTHETIC `terraform plan -json` stream, in the machine-readable UI format (ui 1.x).
PLAN_STREAM = "\n".join(json.dumps(m) for m in [
    {"@level": "info", "@message": "Terraform 1.9.0", "@module": "terraform.ui",
     "@timestamp": "2026-11-22T13:00:00.000000Z", "terraform": "1.9.0", "type": "version", "ui": "1.2"},
    {"@level": "info", "@message": "aws_s3_bucket.models: Drift detected (update)",
     "@module": "terraform.ui", "@timestamp": "2026-11-22T13:00:01.000000Z",
     "change": {"resource": {"addr": "aws_s3_bucket.models", "module": "",
                             "resource": "aws_s3_bucket.models", "implied_provider": "aws",
                             "resource_type": "aws_s3_bucket", "resource_name": "models",
                             "resource_key": None}, "action": "update"},
     "type": "resource_drift"},
    {"@level": "info", "@message": "aws_instance.gpu: Drift detected (delete)",
     "@module": "terraform.ui", "@timestamp": "2026-11-22T13:00:01.000000Z",
     "change": {"resource": {"addr": "aws_instance.gpu", "module": "",
                             "resource": "aws_instance.gpu", "implied_provider": "aws",
                             "resource_type": "aws_instance", "resource_name": "gpu",
                             "resource_key": None}, "action": "delete"},
     "type": "resource_drift"},
    {"@level": "info", "@message": "Plan: 1 to add, 1 to change, 0 to destroy.",
     "@module": "terraform.ui", "@timestamp": "2026-11-22T13:00:02.000000Z",
     "changes": {"add": 1, "change": 1, "import": 0, "remove": 0, "operation": "plan"},
     "type": "change_summary"},
]) + "\n"

SECRETS = ("hunter2-prod-db", "tok-old-1234", "tok-new-5678", "ghp_abcdefghijklmnopqrstuvwx1234",
           "xoxb-1111-2222-abcdefabcdef", "AKIAABCDEFGHIJKLMNOP",
           "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXZhbHVl", "sekret-via-name")


def cfn_lambda_with_password() -> dict[str, Any]:
    """SYNTHETIC: the SQS fixture's envelope around a Lambda whose DB_PASSWORD was changed by hand."""
    name = "cfn_describe_stack_resource_drifts__awsdocs_detect_drift_stack_sqs_modified.json"
    data = copy.deepcopy(json.loads((FIXTURES / name).read_text()))
    drift = data["StackResourceDrifts"][0]
    drift.update({
        "LogicalResourceId": "ScoringFunction", "ResourceType": "AWS::Lambda::Function",
        "PhysicalResourceId": "scoring-fn",
        "ExpectedProperties": json.dumps({"Environment": {"Variables": {
            "DB_PASSWORD": "hunter2-prod-db", "LOG_LEVEL": "info"}}}),
        "ActualProperties": json.dumps({"Environment": {"Variables": {
            "DB_PASSWORD": "hunter3-prod-db", "LOG_LEVEL": "debug"}}}),
        "PropertyDifferences": [
            {"PropertyPath": "/Environment/Variables/DB_PASSWORD", "ExpectedValue": "hunter2-prod-db",
             "ActualValue": "hunter3-prod-db", "DifferenceType": "NOT_EQUAL"},
            {"PropertyPath": "/Environment/Variables/LOG_LEVEL", "ExpectedValue": "info",
             "ActualValue": "debug", "DifferenceType": "NOT_EQUAL"}],
    })
    return data


def test_driftctl_deep_mode_differences_are_modified_resources() -> None:
    """Item 9: `differences` (counted in summary.total_changed) become modified events."""
    report = ingest(DRIFTCTL_DEEP, now=NOW)
    [item] = report.items
    event = item.event
    assert (event.drift_type, event.resource_address) == (DriftType.MODIFIED, "aws_diff_resource.diff-id-1")
    paths = {c.path: (c.change_type.value, c.declared, c.actual) for c in event.changes}
    assert paths["/updated/field"] == ("modified", "foobar", "barfoo")
    assert paths["/new/field"] == ("added", None, "newValue")
    assert paths["/a"] == ("removed", "oldValue", None)
    assert paths["/environment/API_TOKEN"] == ("modified", "(sensitive)", "(sensitive)")
    assert 0 < event.confidence < 1
    assert any("deep mode" in n for n in report.notices)
    all_computed = copy.deepcopy(DRIFTCTL_DEEP)
    all_computed["differences"][0]["changelog"] = DRIFTCTL_DEEP["differences"][0]["changelog"][:1]
    [computed] = ingest(all_computed, now=NOW).items
    assert computed.event.needs_manual_review and computed.event.confidence < event.confidence


def test_hcp_terraform_redacted_plan_is_read() -> None:
    """Item 10: `plan_format_version` (no format_version) is HCP Terraform's redacted plan."""
    report = ingest(HCP_REDACTED, now=NOW)
    assert report.source_format is SourceFormat.HCP_TERRAFORM_REDACTED_PLAN
    assert report.format_version == "1.1"
    [item] = report.items
    assert (item.event.drift_type, item.event.resource_address) == (
        DriftType.DELETED, "tfcoremock_simple_resource.example")
    with pytest.raises(UnsupportedFormatVersion):
        ingest({**HCP_REDACTED, "plan_format_version": "2.0"}, now=NOW)


def test_one_redaction_for_every_path() -> None:
    """Item 11: CloudFormation property differences, secret-ish names (API_TOKEN, a Name beside a
    Value) and credential-looking values (ghp_, xox, AKIA, JWT) are redacted, in Terraform,
    CloudFormation and driftctl alike; the drift itself is still reported."""
    cfn = ingest(cfn_lambda_with_password(), now=NOW)
    [item] = cfn.items
    changes = {c.path: c for c in item.event.changes}
    pw = changes["/Environment/Variables/DB_PASSWORD"]
    assert (pw.declared, pw.actual, pw.sensitive) == ("(sensitive)", "(sensitive)", True)
    assert changes["/Environment/Variables/LOG_LEVEL"].actual == "debug"  # not a secret

    before = {"tags": {"env": "prod"}, "environment": {"API_TOKEN": "tok-old-1234",
                                                       "MAX_TOKENS": "512"},
              "user_data": "export GH=ghp_abcdefghijklmnopqrstuvwx1234",
              "containers": [{"env": [{"name": "DB_PASS_SECRET", "value": "sekret-via-name"}]}],
              "note": "xoxb-1111-2222-abcdefabcdef"}
    after = {"tags": {"env": "prod"}, "environment": {"API_TOKEN": "tok-new-5678",
                                                      "MAX_TOKENS": "1024"},
             "user_data": "AKIAABCDEFGHIJKLMNOP",
             "containers": [{"env": [{"name": "DB_PASS_SECRET", "value": "sekret-via-name2"}]}],
             "note": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXZhbHVl"}
    tf = ingest({"format_version": "1.2", "resource_drift": [{
        "address": "aws_instance.scorer", "mode": "managed", "type": "aws_instance", "name": "scorer",
        "provider_name": "registry.terraform.io/hashicorp/aws",
        "change": {"actions": ["update"], "before": before, "after": after}}]}, now=NOW)
    deep = ingest(DRIFTCTL_DEEP, now=NOW)
    for report in (cfn, tf, deep):
        text = json.dumps(report.model_dump(mode="json"))
        for secret in (*SECRETS, "hunter3-prod-db", "sekret-via-name2"):
            assert secret not in text
    tf_changes = {c.path: c for c in tf.items[0].event.changes}
    assert tf_changes["/environment/MAX_TOKENS"].actual == "1024"  # a number of tokens, no secret
    assert {"/environment/API_TOKEN", "/user_data", "/note",
            "/containers/0/env/0/value"} <= set(tf_changes)
    assert all(tf_changes[p].sensitive for p in ("/environment/API_TOKEN", "/user_data", "/note"))


def test_report_level_notices_say_when_a_report_is_partial() -> None:
    """Item 12: errored plans, CloudFormation's NextToken and driftctl alerts are `incomplete`."""
    errored = ingest({**HCP_REDACTED, "errored": True}, now=NOW)
    assert any("errored" in n for n in errored.incomplete)
    paged = cfn_lambda_with_password()
    paged["NextToken"] = "abc"
    assert any("NextToken" in n for n in ingest(paged, now=NOW).incomplete)
    alerts = ingest(DRIFTCTL_DEEP, now=NOW).incomplete
    assert alerts and "aws_vpc" in alerts[0]
    assert ingest(HCP_REDACTED, now=NOW).incomplete == ()


def test_terraform_plan_json_stream_is_read() -> None:
    """Item 13: `terraform plan -json` (JSON lines) -> its resource_drift messages."""
    from domain.iac.ingest import decode_report

    data = decode_report(PLAN_STREAM.encode())
    report = ingest(data, now=NOW)
    assert report.source_format is SourceFormat.TERRAFORM_PLAN_STREAM
    kinds = {(i.event.resource_address, i.event.drift_type.value) for i in report.items}
    assert kinds == {("aws_s3_bucket.models", "modified"), ("aws_instance.gpu", "deleted")}
    assert all(i.event.needs_manual_review for i in report.items)  # no attribute values: say so
    with pytest.raises(MalformedInput):
        decode_report(b"{not json\n{nor this}\n")
    assert decode_report(b'{"a": 1}') == {"a": 1}
