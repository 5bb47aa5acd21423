"""The loaded runbooks: the Markdown files of a directory (malformed ones skipped and logged)."""

from __future__ import annotations

from pathlib import Path

from domain.runbooks import Runbook
from runbooks import load_all


class RunbookLibrary:
    """The runbooks as loaded at start, by name, and where a reader finds each one."""

    def __init__(self, directory: Path, base_url: str | None = None) -> None:
        self.directory = directory
        self.base_url = (base_url or "").rstrip("/")
        self.runbooks, self.problems = load_all(directory)
        self.by_name = {r.name: r for r in self.runbooks}

    def url(self, runbook: Runbook) -> str:
        path = f"runbooks/{runbook.name}.md"
        return f"{self.base_url}/{runbook.name}.md" if self.base_url else path
