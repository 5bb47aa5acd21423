"""Where the tests find the repository's files, wherever a test module sits in the tree."""

from __future__ import annotations

from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
#: the workplace's shared fixtures beside the checkout (absent on a plain clone)
SHARED_DIR = REPO_ROOT.parent / "shared"
