"""Issue 13's layout figures for a source tree: run ``python benchmarks/architecture_figures.py [ROOT]``.

Counts what the issue measures: modules importing SQLAlchemy outside ``storage/``, raw
connections taken from the unit of work outside ``storage/``, functions over 80 lines, modules
over 700 lines, modules at ``bot/``'s top level, and Slack words written in ``domain/`` string
literals (mentions ``<@``/``<!``/``<#``, ``:emoji:``, mrkdwn ``*bold*`` and ``_italic_``, entity
escaping), which the issue wants only in ``bot/slack_ui/``.
"""

from __future__ import annotations

import ast
import re
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


# Slack words in a string literal: a mention or link, an emoji shortcode, mrkdwn bold or italic
# around a word or a placeholder, or an HTML entity written for Slack's escaping; in a regex, a
# mention's ``<`` followed by a group or class of sigils (``<([@#!])``, ``<(?:@``) too. ``(?<!``
# and ``(?<=`` (regex lookbehinds) and ``a:b:c`` keys are not Slack words.
SLACK_WORDS = re.compile(
    r"(?<!\(\?)<[@!#]"
    r"|<\((?:\?:)?\[?\\?[@!#]"
    r"|(?<![\w}]):[a-z0-9_+-]+:(?![\w{])"
    r"|(?<![\w*])\*(?=[\w{(])[^*\n]*?(?<=[\w})!?.])\*(?![\w*])"
    r"|(?<![\w])_(?=[\w{(])[^_\n]*?(?<=[\w})])_(?![\w])"
    r"|&(?:amp|lt|gt);"
)
_PATTERN_CALLS = {"compile", "match", "fullmatch", "search", "sub", "findall", "finditer"}


def _skipped(tree: ast.AST) -> tuple[set[int], set[int]]:
    """ids of the string constants that are docstrings (any bare string statement: module, class,
    function and attribute docstrings), and of those that are regex patterns (``re.compile(...)``
    and friends: they parse Slack syntax, they do not write it)."""
    docs: set[int] = set()
    patterns: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            docs.add(id(node.value))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in _PATTERN_CALLS and node.args
              and (node.func.attr == "compile"
                   or isinstance(node.func.value, ast.Name) and node.func.value.id == "re")):
            patterns.update(id(n) for n in ast.walk(node.args[0]))
    return docs, patterns


def slack_words(path: Path) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(line, match) for each Slack word written in a string literal of ``path``, and for each
    parsed by a regex pattern; docstrings and comments (not in the AST) excluded. f-strings are
    read as their source segment, so a bold placeholder such as ``*{key}*`` is caught."""
    source = path.read_text()
    tree = ast.parse(source)
    docs, patterns = _skipped(tree)
    written: list[tuple[int, str]] = []
    parsed: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = ast.get_source_segment(source, node) or ""
            for value in node.values:
                docs.add(id(value))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            text = node.value
        else:
            continue
        found = parsed if id(node) in patterns else written
        found += [(node.lineno, m.group(0)) for m in SLACK_WORDS.finditer(text)]
    return sorted(set(written)), sorted(set(parsed))


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
    found = {p.relative_to(root): slack_words(p) for p in files
             if p.relative_to(root).parts[0] == "domain"}
    for i, kind in enumerate(("written in", "parsed by regexes in")):
        words = {p: w[i] for p, w in found.items() if w[i]}
        print(f"Slack words {kind} domain/ string literals: {sum(map(len, words.values()))} "
              f"in {len(words)} modules")
        for p, w in sorted(words.items(), key=lambda x: (-len(x[1]), str(x[0]))):
            print(f"  {p} ({len(w)}): {', '.join(sorted({m for _, m in w}))[:150]}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve())
