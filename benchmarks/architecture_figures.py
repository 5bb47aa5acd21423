"""Issue 13's layout figures for a source tree: run ``python benchmarks/architecture_figures.py [ROOT]``.

Counts what the issue measures: modules importing SQLAlchemy outside ``storage/``, raw
connections taken from the unit of work outside ``storage/``, functions over 80 lines, modules
over 700 lines and modules at ``bot/``'s top level.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGES = ("bot", "handlers", "domain", "scheduler", "runbooks", "storage")


def sources(root: Path) -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (root / pkg).rglob("*.py")
                  if "migrations" not in p.parts)


def long_functions(path: Path, limit: int = 80) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > limit:
                found.append((f"{node.name}:{node.lineno}", length))
    return found


def main(root: Path) -> None:
    files = sources(root)
    outside = [p for p in files if p.relative_to(root).parts[0] != "storage"]
    sqla = [p for p in outside if "import sqlalchemy" in p.read_text()
            or "from sqlalchemy" in p.read_text()]
    raw = sum(p.read_text().count("sql_connection(") for p in outside)
    private_insert = sum(p.read_text().count("_insert(") - p.read_text().count("def _insert(")
                         for p in outside if "from storage.repositories import" in p.read_text()
                         and "_insert" in p.read_text())
    longs = [(p.relative_to(root), name, n) for p in files for name, n in long_functions(p)]
    big = [(p.relative_to(root), len(p.read_text().splitlines())) for p in files
           if len(p.read_text().splitlines()) > 700]
    top = [p for p in (root / "bot").glob("*.py") if p.name != "__init__.py"]
    print(f"SQLAlchemy-importing modules outside storage/: {len(sqla)}")
    for p in sqla:
        print(f"  {p.relative_to(root)}")
    print(f"sql_connection( uses outside storage/: {raw}; storage private _insert( uses: {private_insert}")
    print(f"functions over 80 lines: {len(longs)}")
    for path, name, n in sorted(longs, key=lambda x: -x[2]):
        print(f"  {path} {name} ({n} lines)")
    print(f"modules over 700 lines: {len(big)} {[f'{p} ({n})' for p, n in big]}")
    print(f"modules at bot/ top level: {len(top)}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve())
