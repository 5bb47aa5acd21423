"""Shape checks shared by the webhooks: a field of the wrong type is a 400 with its name, not a
500 halfway through a use case."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from domain.paging.pagerduty import EventResult, Verdict

STATUS_OF = {Verdict.CREATED: 201, Verdict.APPLIED: 200, Verdict.DUPLICATE: 200,
             Verdict.IGNORED: 202, Verdict.RETRY: 409}


def bad(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def answer(result: EventResult) -> web.Response:
    return web.json_response(result.body, status=STATUS_OF[result.verdict])


def text_problem(body: Any) -> str | None:
    """Lone surrogates (valid JSON escapes, invalid text) can be neither stored nor posted."""
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "the payload holds text that is not valid Unicode"
    return None


def _type_problem(obj: dict[str, Any], where: str, keys: tuple[str, ...], kind: type,
                  name: str) -> str | None:
    for key in keys:
        value = obj.get(key)
        if value is not None and not isinstance(value, kind):
            return f"{where}.{key} must be {name}"
    return None


def field_problem(obj: dict[str, Any], where: str, strings: tuple[str, ...] = (),
                  objects: tuple[str, ...] = (), lists: tuple[str, ...] = (),
                  ids: tuple[str, ...] = ()) -> str | None:
    """Each named field absent, null or of its type. ``ids`` are also stored as keys: short,
    without NULs."""
    problem = _type_problem(obj, where, strings + ids, str, "a string")
    if problem:
        return problem
    for key in ids:
        value = obj.get(key) or ""
        if len(value) > 64 or "\x00" in value:
            return f"{where}.{key} must be a short id without NUL bytes"
    return (_type_problem(obj, where, objects, dict, "an object")
            or _type_problem(obj, where, lists, list, "a list"))
