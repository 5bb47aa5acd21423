"""IaC drift reports: golden outputs for every shared fixture, clearly labelled synthetic variants,
and redaction of sensitive values. Regenerate goldens (after reviewing the diff!) with
``UPDATE_GOLDEN=1 pytest tests/unit/domain/iac``; CI never regenerates them."""

from __future__ import annotations

import copy
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from domain.iac.ingest import ingest
from domain.iac.model import DriftSeverity, DriftType, IacInputError, UnsupportedFormatVersion
from tests.paths import SHARED_DIR, TESTS_DIR

FIXTURES = Path("/work/shared/fixtures/iac")
if not FIXTURES.exists():
    FIXTURES = SHARED_DIR / "fixtures" / "iac"
GOLDEN = TESTS_DIR / "golden" / "iac"
NOW = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
FIXTURE_FILES = sorted(p.name for p in FIXTURES.iterdir() if p.suffix in (".json", ".diff"))


def outcome(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return {"refused": "not JSON: kubectl diff output is not a drift report this bot reads"}
    try:
        return ingest(data, now=NOW).model_dump(mode="json")
    except IacInputError as exc:
        return {"refused": str(exc)}


@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_every_shared_fixture_matches_its_golden_output(name: str) -> None:
    got = outcome((FIXTURES / name).read_text())
    golden = GOLDEN / f"{name}.golden.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert golden.exists(), f"no golden for {name}: run UPDATE_GOLDEN=1 pytest {__file__} and review it"
    assert got == json.loads(golden.read_text())


def test_the_fixture_facts_a_reviewer_can_check_by_eye() -> None:
    drift = ingest(json.loads((FIXTURES / "terraform_show_json_drift.json").read_text()), now=NOW)
    [item] = drift.items
    assert (item.event.drift_type, item.event.resource_address) == (DriftType.MODIFIED,
                                                                    "test_instance.should_refresh")
    [change] = item.event.changes
    assert (change.path, change.declared, change.actual) == ("/ami", "refresh-me", "refreshed")
    revert = next(r for r in item.triage.recommendations if r.command)
    assert revert.command == "terraform apply -refresh=true -target=test_instance.should_refresh"
    driftctl = ingest(json.loads((FIXTURES / "driftctl_scan_output_v0.38plus.json").read_text()), now=NOW)
    kinds = sorted(i.event.drift_type.value for i in driftctl.items)
    assert kinds == ["added", "added", "deleted", "deleted"]


def terraform_plan(resource_drift: list[dict[str, Any]]) -> dict[str, Any]:
    return {"format_version": "1.2", "terraform_version": "1.9.0", "resource_drift": resource_drift}


def drift_entry(address: str, rtype: str, actions: list[str], before: Any, after: Any,
                **change: Any) -> dict[str, Any]:
    return {"address": address, "mode": "managed", "type": rtype, "name": address.split(".")[-1],
            "provider_name": "registry.terraform.io/hashicorp/aws",
            "change": {"actions": actions, "before": before, "after": after, **change}}


def test_synthetic_ssh_opened_to_the_world_is_security_critical() -> None:
    """SYNTHETIC: a feature store's security group opened on port 22 to 0.0.0.0/0 by hand."""
    rule = {"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["10.0.0.0/8"]}
    opened = {**rule, "cidr_blocks": ["10.0.0.0/8", "0.0.0.0/0"]}
    report = ingest(terraform_plan([drift_entry(
        "aws_security_group.feature_store_prod", "aws_security_group", ["update"],
        {"name": "feature-store-prod", "ingress": [rule], "tags": {"env": "prod"}},
        {"name": "feature-store-prod", "ingress": [opened], "tags": {"env": "prod"}})]), now=NOW)
    [item] = report.items
    assert item.event.is_security_critical and item.event.environment == "prod"
    assert item.event.severity in (DriftSeverity.HIGH, DriftSeverity.CRITICAL)
    assert any("0.0.0.0/0" in hit.message and "22" in hit.message for hit in item.event.rule_hits)


def test_synthetic_deleted_resource() -> None:
    """SYNTHETIC: the model bucket was deleted outside Terraform."""
    report = ingest(terraform_plan([drift_entry("aws_s3_bucket.models", "aws_s3_bucket", ["delete"],
                                                {"bucket": "ml-models"}, None)]), now=NOW)
    [item] = report.items
    assert item.event.drift_type is DriftType.DELETED
    assert any(r.command and "-target=aws_s3_bucket.models" in r.command for r in item.triage.recommendations)


def test_synthetic_cloudformation_add_difference() -> None:
    """SYNTHETIC: based on the SQS fixture, with an ADD property difference."""
    name = "cfn_describe_stack_resource_drifts__awsdocs_detect_drift_stack_sqs_modified.json"
    data = json.loads((FIXTURES / name).read_text())
    data = copy.deepcopy(data)
    drift = data["StackResourceDrifts"][0]
    drift["PropertyDifferences"] = [{"PropertyPath": "/RedrivePolicy", "ExpectedValue": "null",
                                     "ActualValue": '{"maxReceiveCount": 5}', "DifferenceType": "ADD"}]
    [item] = ingest(data, now=NOW).items
    [change] = item.event.changes
    assert change.change_type.value == "added" and change.actual == {"maxReceiveCount": 5}


def test_sensitive_values_are_redacted_before_anything_else_sees_them() -> None:
    """SYNTHETIC drift built on the sensitive-values fixture's masks (its own plan has no drift)."""
    fixture = json.loads((FIXTURES / "terraform_show_json_sensitive_values.json").read_text())
    masks = fixture["resource_changes"][0]["change"]["after_sensitive"]
    assert masks == {"ami": True}
    entry = drift_entry("test_instance.test", "test_instance", ["update"],
                        {"ami": "ami-SECRET-BEFORE", "id": "i-1", "password": "hunter2"},
                        {"ami": "ami-SECRET-AFTER", "id": "i-1", "password": "hunter3"},
                        before_sensitive=masks, after_sensitive=masks)
    report = ingest(terraform_plan([entry]), now=NOW)
    text = json.dumps(report.model_dump(mode="json"))
    for secret in ("ami-SECRET-BEFORE", "ami-SECRET-AFTER", "hunter2", "hunter3"):
        assert secret not in text
    assert report.items and report.items[0].event.changes  # the drift itself is still reported
    assert "(sensitive)" in text or "REDACTED" in text.upper()


def test_another_major_format_version_is_refused_clearly() -> None:
    with pytest.raises(UnsupportedFormatVersion, match="2.0"):
        ingest({"format_version": "2.0", "resource_drift": []}, now=NOW)
    with pytest.raises(IacInputError, match="accepted"):
        ingest({"hello": "world"}, now=NOW)
