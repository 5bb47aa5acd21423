"""The shipped runbooks (``*.md`` here) and their loader; the parsing and matching rules live in
:mod:`domain.runbooks`, the Slack side in :mod:`runbooks.wiring`."""

from __future__ import annotations

from pathlib import Path

import structlog

from domain.runbooks import Problem, Runbook, RunbookError, parse

RUNBOOKS_DIR = Path(__file__).resolve().parent
log = structlog.get_logger("runbooks")


def load_all(directory: Path | str = RUNBOOKS_DIR) -> tuple[list[Runbook], list[Problem]]:
    """Every valid runbook in ``directory``; a malformed one is skipped and reported."""
    runbooks: list[Runbook] = []
    problems: list[Problem] = []
    for path in sorted(Path(directory).glob("*.md")):
        if path.name.upper() == "README.MD":
            continue
        try:
            runbooks.append(parse(path.read_text(encoding="utf-8"), str(path), path.stem))
        except RunbookError as exc:
            problems += exc.problems
            log.error("runbook.skipped", file=str(path), problems=[str(p) for p in exc.problems])
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(path), 1, f"cannot read: {exc}"))
    return runbooks, problems
