"""Runbooks: parsing with line-numbered problems, and which runbook an incident gets."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.cli.main import main
from domain.model import Severity
from domain.runbooks import RunbookError, match, parse
from runbooks import RUNBOOKS_DIR, load_all

SHIPPED, PROBLEMS = load_all()


def runbook(name: str, applies: str = "", fallback: bool = False, version: str = "1.0.0") -> str:
    return (f"---\nversion: {version}\ntitle: {name}\nowner: team\n"
            + ("fallback: true\n" if fallback else "") + applies
            + "---\nWhy.\n\n- [ ] first\n- [ ] second\n")


def library(*texts: tuple[str, str]) -> list:
    return [parse(text, f"{name}.md", name) for name, text in texts]


def test_the_shipped_runbooks_are_valid_and_cover_the_issue_list() -> None:
    assert PROBLEMS == []
    names = {r.name for r in SHIPPED}
    assert {"model-drift", "null-predictions", "accuracy-below-slo", "etl-sla-miss",
            "llm-provider-outage", "feature-store-outage", "generic-ml-incident"} <= names
    assert all(len(r.steps) >= 5 for r in SHIPPED)


@pytest.mark.parametrize(("severity", "source", "labels", "model", "expected"), [
    (Severity.P2, "automated_drift", [], "credit-risk-v3", "model-drift"),
    (Severity.P1, "manual", ["null-predictions"], "credit-risk-v3", "null-predictions"),
    (Severity.P3, "automated_performance", [], "fraud-detector", "accuracy-below-slo"),
    (Severity.P2, "manual", ["LLM"], "support-bot", "llm-provider-outage"),
    (Severity.P4, "manual", ["etl"], "churn", "etl-sla-miss"),
    (Severity.P1, "manual", [], "credit-risk-v3", "generic-ml-incident"),  # nothing specific
])
def test_shipped_runbooks_are_matched(severity: Severity, source: str, labels: list[str], model: str,
                                      expected: str) -> None:
    chosen = match(SHIPPED, severity, source, labels, model)
    assert chosen is not None and chosen.name == expected


def test_the_most_specific_runbook_wins() -> None:
    runbooks = library(
        ("generic", runbook("generic", fallback=True)),
        ("drift", runbook("drift", "applies_to:\n  trigger_sources: [automated_drift]\n")),
        ("drift-credit", runbook("drift-credit", "applies_to:\n  trigger_sources: [automated_drift]\n"
                                                 "  models: ['credit-*']\n")),
        ("drift-credit-v3", runbook("drift-credit-v3", "applies_to:\n  trigger_sources: [automated_drift]\n"
                                                       "  models: [credit-risk-v3]\n")),
    )
    pick = lambda model, source="automated_drift": match(runbooks, Severity.P2, source, [], model).name  # noqa: E731
    assert pick("credit-risk-v3") == "drift-credit-v3"  # two keys, no glob
    assert pick("credit-limit") == "drift-credit"  # two keys, a glob
    assert pick("fraud") == "drift"  # one key
    assert pick("fraud", "manual") == "generic"  # the fallback


@pytest.mark.parametrize(("title", "expected"), [
    ("Null predictions since 14:02", "null-predictions"),
    ("credit-risk-v3 model down after deploy", "null-predictions"),
    ("Feature store p99 at 4 s", "feature-store-outage"),
    ("OpenAI 429s on the support bot", "llm-provider-outage"),
    ("Non-null predictions look odd", "generic-ml-incident"),  # whole words only
    ("Scores look odd since 14:02", "generic-ml-incident"),
])
def test_shipped_runbooks_are_matched_by_the_words_of_a_manual_declaration(title: str,
                                                                            expected: str) -> None:
    chosen = match(SHIPPED, Severity.P1, "manual", [], "credit-risk-v3", title)
    assert chosen is not None and chosen.name == expected


def test_labels_or_keywords_either_one_names_the_topic() -> None:
    runbooks = library(
        ("generic", runbook("generic", fallback=True)),
        ("nulls", runbook("nulls", "applies_to:\n  labels: [null-predictions]\n"
                                   "  keywords: [null predictions, nan scores]\n")),
        ("nulls-p1", runbook("nulls-p1", "applies_to:\n  keywords: [null predictions]\n"
                                         "  severities: [p1]\n")),
    )
    pick = lambda labels, text, sev=Severity.P2: match(runbooks, sev, "manual", labels, "m", text).name  # noqa: E731
    assert pick(["null-predictions"], "something else") == "nulls"  # the label alone
    assert pick([], "NaN   scores on the batch run") == "nulls"  # the words alone, any case and spacing
    assert pick([], "null predictions", Severity.P1) == "nulls-p1"  # two keys beat one
    assert pick([], "nullable predictions") == "generic"


def test_every_key_present_must_match() -> None:
    [sev1_drift] = library(("x", runbook("x", "applies_to:\n  severities: [p1]\n"
                                              "  trigger_sources: [automated_drift]\n")))
    assert match([sev1_drift], Severity.P1, "automated_drift", [], "m") is sev1_drift
    assert match([sev1_drift], Severity.P2, "automated_drift", [], "m") is None


@pytest.mark.parametrize(("text", "expected"), [
    ("no front matter\n- [ ] a\n", "x.md:1: missing front matter"),
    ("---\nversion: 1.0\ntitle: t\nowner: o\n---\n- [ ] a\n", "x.md:2: version '1.0' is not semver"),
    ("---\nversion: 1.0.0\ntitle: t\n---\n- [ ] a\n", "'owner' is required"),
    ("---\nversion: 1.0.0\ntitle: t\nowner: o\n---\nno checklist\n", "x.md:6: no steps"),
    ("---\nversion: 1.0.0\ntitle: t\nowner: o\napplies_to:\n  teams: [a]\n---\n- [ ] a\n",
     "x.md:6: unknown applies_to key 'teams'"),
    ("---\nversion: 1.0.0\ntitle: t\nowner: o\napplies_to:\n  severities: [p9]\n---\n- [ ] a\n",
     "x.md:6: unknown severity 'p9'"),
    ("---\nversion: 1.0.0\ntitle: [t\n---\n- [ ] a\n", "front matter is not valid YAML"),
])
def test_malformed_runbooks_are_reported_with_file_and_line(text: str, expected: str) -> None:
    with pytest.raises(RunbookError) as raised:
        parse(text, "x.md", "x")
    assert expected in str(raised.value)


def test_a_malformed_runbook_is_skipped_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text(runbook("good", fallback=True))
    (tmp_path / "bad.md").write_text("---\nversion: one\n---\n")
    runbooks, problems = load_all(tmp_path)
    assert [r.name for r in runbooks] == ["good"]
    assert problems and all("bad.md" in p.file for p in problems)


def test_check_command_on_good_and_broken_runbooks(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runbooks", "check"]) == 0
    assert f"{len(SHIPPED)} runbooks checked, 0 problems" in capsys.readouterr().out
    (tmp_path / "bad.md").write_text("---\nversion: 1.0\ntitle: t\nowner: o\n---\nno steps\n")
    assert main(["runbooks", "check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path}/bad.md:2: version '1.0' is not semver" in out
    assert f"{tmp_path}/bad.md:6: no steps" in out


def test_check_against_a_git_base_wants_a_version_bump(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "drift.md").write_text(runbook("drift", fallback=True))
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "v1")
    (tmp_path / "drift.md").write_text(runbook("drift", fallback=True) + "- [ ] third\n")
    assert main(["runbooks", "check", str(tmp_path), "--base", "HEAD"]) == 1
    assert "text changed since HEAD but version is still 1.0.0" in capsys.readouterr().out
    (tmp_path / "drift.md").write_text(runbook("drift", fallback=True, version="1.1.0") + "- [ ] third\n")
    assert main(["runbooks", "check", str(tmp_path), "--base", "HEAD"]) == 0


def test_runbooks_dir_is_the_package_directory() -> None:
    assert (RUNBOOKS_DIR / "generic-ml-incident.md").is_file()
