"""The one boundary for free text from outside (domain/text_boundary.py, issue 14), as
specifications: controls go, lengths are bounded per field, PII is scrubbed, and ``None`` stays
``None`` where a field is optional. That every use case passes its text through it, on SQLite and
PostgreSQL, is tests/integration/test_text_boundary.py's.
"""

from __future__ import annotations

import pytest

from domain import text_boundary
from domain.text_boundary import CAPS, ELLIPSIS, clean, clean_optional, strip_controls

# -- controls ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "kept"), [
    ("nul\x00 in a title", "nul in a title"),  # PostgreSQL refuses NUL in text
    ("bell\x07 escape\x1b[31m", "bell escape[31m"),
    ("del\x7f and C1\x85\x9f", "del and C1"),
    ("bidi \u202eevil\u202c and \u2066isolate\u2069", "bidi evil and isolate"),
    ("lines\nand\ttabs stay", "lines\nand\ttabs stay"),
    ("windows\r\nline ends", "windows\nline ends"),
    ("old mac\rline ends", "old mac\nline ends"),
])
def test_controls_are_dropped_newlines_and_tabs_kept_and_line_ends_made_newlines(raw: str, kept: str) -> None:
    assert strip_controls(raw) == kept
    assert clean(raw) == kept


def test_unicode_text_that_is_not_a_control_is_kept() -> None:
    assert clean("Überweisung → 3 € · 予測 ✅") == "Überweisung → 3 € · 予測 ✅"


@pytest.mark.parametrize("nothing", [None, ""])
def test_no_text_is_the_empty_text(nothing: str | None) -> None:
    assert clean(nothing) == "" and clean(nothing, "title") == ""


def test_clean_keeps_surrounding_whitespace_as_written() -> None:
    assert clean("  indented\n") == "  indented\n"


# -- lengths ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("field", "cap"), sorted(CAPS.items()))
def test_each_field_is_bounded_to_its_cap_ending_with_an_ellipsis(field: str, cap: int) -> None:
    assert clean("x" * cap, field) == "x" * cap  # exactly the cap: untouched
    long = clean("x" * (cap + 1), field)
    assert len(long) == cap and long == "x" * (cap - 1) + ELLIPSIS


def test_the_caps_of_the_fields_people_type_into() -> None:
    assert (CAPS["title"], CAPS["description"], CAPS["note"], CAPS["reason"], CAPS["label"]) == (
        500, 3000, 8000, 1000, 64)


def test_a_field_without_a_cap_of_its_own_gets_the_texts() -> None:
    assert len(clean("y" * 10_000, "no-such-field")) == CAPS["text"]
    assert len(clean("y" * 10_000)) == CAPS["text"]


def test_whitespace_before_the_cut_is_dropped_so_the_ellipsis_follows_a_word() -> None:
    cut = clean("a" * 495 + " " * 10 + "b" * 10, "title")
    assert cut == "a" * 495 + ELLIPSIS


def test_controls_do_not_count_towards_the_cap() -> None:
    assert clean("\x00" * 100 + "z" * CAPS["label"], "label") == "z" * CAPS["label"]


def test_the_scrubber_never_sees_more_than_four_caps_of_text(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    def scrub(text: str) -> str:
        seen.append(len(text))
        return text

    monkeypatch.setattr(text_boundary, "scrub", scrub)
    clean("9" * 1_000_000, "note")
    clean("9" * 1_000_000, "label")
    assert seen == [4 * CAPS["note"], 4 * CAPS["label"]]


def test_placeholders_that_shorten_text_leave_room_to_fill_the_cap() -> None:
    title = clean("jane.doe@example.com " * 100, "title")  # 2,100 characters of addresses
    assert len(title) == CAPS["title"] and title.startswith("[email] [email]")
    assert "@" not in title


# -- PII ---------------------------------------------------------------------------------------------

def test_pii_is_scrubbed_before_it_can_be_stored() -> None:
    assert clean("told jane.doe@example.com at +1 415 555 0100; password=hunter2", "reason") == \
        "told [email] at [phone]; password=[secret]"


def test_a_control_cannot_hide_an_address_from_the_scrubber() -> None:
    assert clean("jane.doe@exa\x00mple.com") == "[email]"


# -- optional fields -------------------------------------------------------------------------------

@pytest.mark.parametrize("nothing", [None, "", "   ", "\n\t", "\x00\x07", " \u202e "])
def test_an_optional_field_with_nothing_to_say_is_none(nothing: str | None) -> None:
    assert clean_optional(nothing, "description") is None


def test_an_optional_field_is_cleaned_and_trimmed() -> None:
    assert clean_optional("  rolled back\x00 by jane.doe@example.com \n", "reason") == \
        "rolled back by [email]"
    assert len(clean_optional("d" * 5000, "description") or "") == CAPS["description"]
