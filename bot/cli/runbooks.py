"""``incident-bot runbooks check [DIR] [--base REV]``: vet runbooks before they reach an incident.

Prints ``file:line: problem`` for every malformed runbook and exits 1; with ``--base`` it also
reports a runbook whose text changed since that git revision while its ``version`` did not
(GOV-001 section 5.1: every change is versioned).
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path
from typing import Any

from domain.runbooks import Problem, RunbookError, parse


def register(subparsers: Any) -> None:
    runbooks = subparsers.add_parser("runbooks", help="runbooks: validate them")
    sub = runbooks.add_subparsers(dest="runbooks_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate every runbook (exit 1 with file:line messages)")
    check.add_argument("directory", nargs="?", default=None,
                       help="directory of *.md runbooks (default: the shipped runbooks/)")
    check.add_argument("--base", metavar="REV",
                       help="git revision to compare with: changed text needs a new version")
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from runbooks import RUNBOOKS_DIR

    directory = Path(args.directory) if args.directory else RUNBOOKS_DIR
    if not directory.is_dir():
        print(f"{directory}: not a directory")
        return 2
    problems: list[Problem] = []
    files = sorted(p for p in directory.glob("*.md") if p.name.upper() != "README.MD")
    versions: dict[Path, str] = {}
    for path in files:
        try:
            versions[path] = parse(path.read_text(encoding="utf-8"), str(path), path.stem).version
        except RunbookError as exc:
            problems += exc.problems
    if args.base:
        problems += _unversioned_changes(args.base, versions)
    for problem in problems:
        print(problem)
    if not files:
        print(f"{directory}: no runbooks (*.md)")
        return 1
    print(f"{len(files)} runbooks checked, {len(problems)} problems")
    return 1 if problems else 0


def _unversioned_changes(base: str, versions: dict[Path, str]) -> list[Problem]:
    problems = []
    for path, version in versions.items():
        top = subprocess.run(["git", "-C", str(path.parent), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True)
        if top.returncode != 0:
            return [Problem(str(path), 1, f"--base {base}: not inside a git repository")]
        relative = path.resolve().relative_to(Path(top.stdout.strip()).resolve())
        old = subprocess.run(["git", "-C", top.stdout.strip(), "show", f"{base}:{relative}"],
                             capture_output=True, text=True)
        if old.returncode != 0:
            continue  # a new runbook: nothing to compare with
        if old.stdout == path.read_text(encoding="utf-8"):
            continue
        try:
            old_version = parse(old.stdout, f"{base}:{relative}", path.stem).version
        except RunbookError:
            continue  # it was broken before; now it parses, which is a change worth a version
        if old_version == version:
            problems.append(Problem(str(path), 2, f"text changed since {base} but version is still "
                                                  f"{version}: bump it (semver)"))
    return problems
