"""Issue 13's "tests that check texts import the renderer": how many Slack texts the tests repeat.

Run ``python benchmarks/test_text_copies.py [ROOT] [-v]``.

A *text repeated by tests* is a string literal of 25 characters or more in ``tests/`` (a plain
literal or the constant part of an f-string; docstrings and space-free identifiers excluded) at
least half of whose characters lie in runs of ``RUN`` characters that a renderer's text also
holds: a string literal or f-string constant part of ``bot/slack_ui/`` (the ``Messages`` renderer
``bot/slack_ui/messages.py`` included) or of ``domain/messages.py``. Runs, not whole literals,
because a test usually copies a rendered text with its placeholders filled in
(``"INC-2 is resolved as a duplicate of INC-1"`` for ``f"{key} is resolved as a duplicate of "``);
the half keeps a test that only names a role (``"Incident Commander"``) out.

The unit tests that pin a renderer's exact wording (``tests/unit/bot/slack_ui/``) are counted
apart: each text is meant to be written once there and built by calling the renderer everywhere
else. ``-v`` prints each copy with its file and line.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

MIN_LENGTH = 25
RUN = 10
COVERED = 0.5
PINNING_TESTS = Path("tests/unit/bot/slack_ui")


def renderer_files(root: Path) -> list[Path]:
    return sorted((root / "bot" / "slack_ui").rglob("*.py")) + [root / "domain" / "messages.py"]


def literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of each string literal and f-string constant part, docstrings excluded."""
    tree = ast.parse(path.read_text())
    docs = {id(node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in docs):
            found.append((node.lineno, node.value))
    return found


def runs(text: str) -> set[str]:
    return {text[i:i + RUN] for i in range(len(text) - RUN + 1)}


def covered(text: str, rendered: set[str]) -> float:
    """The share of ``text``'s characters inside a run that ``rendered`` holds."""
    inside = [False] * len(text)
    for i in range(len(text) - RUN + 1):
        if text[i:i + RUN] in rendered:
            inside[i:i + RUN] = [True] * RUN
    return sum(inside) / len(text)


def copies(root: Path) -> list[tuple[Path, int, str]]:
    rendered: set[str] = set()
    for path in renderer_files(root):
        for _, text in literals(path):
            rendered |= runs(text)
    found = []
    for path in sorted((root / "tests").rglob("*.py")):
        for line, text in literals(path):
            if (len(text) >= MIN_LENGTH and any(c.isspace() for c in text)
                    and covered(text, rendered) >= COVERED):
                found.append((path.relative_to(root), line, text))
    return found


def main(root: Path, verbose: bool) -> None:
    found = copies(root)
    pinning = [c for c in found if c[0].is_relative_to(PINNING_TESTS)]
    others = [c for c in found if not c[0].is_relative_to(PINNING_TESTS)]
    print(f"texts repeated by tests: {len(found)} "
          f"({len(others)} outside {PINNING_TESTS}/, {len(pinning)} in its renderer tests)")
    by_file = Counter(path for path, _, _ in others)
    for path, n in sorted(by_file.items(), key=lambda x: (-x[1], str(x[0]))):
        print(f"  {path}: {n}")
        if verbose:
            for _, line, text in (c for c in others if c[0] == path):
                print(f"      {line}: {text[:110]!r}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "-v"]
    main(Path(args[0] if args else ".").resolve(), "-v" in sys.argv[1:])
