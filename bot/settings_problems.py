"""Every bad setting as one line a person can act on, instead of a pydantic traceback (issue 16).

``Settings()`` stops at the first malformed JSON value (``SettingsError`` with the JSON error
buried in its cause) and reports validation errors in pydantic's words. Here the environment
and ``.env`` are read by sources that note a malformed value and skip it, so *every* problem is
found in one pass, each as ``NAME: problem``::

    PAGERDUTY_ROUTING_KEYS: not valid JSON at line 1 column 6 (Expecting ':' delimiter)
    GOVERNANCE_ROLES: expected a list of ids for incident_commander, got 'U1'

and the settings are still built, with the bad ones at their defaults, so ``incident-bot check``
can go on to check everything else.
"""

from __future__ import annotations

import json
from typing import Any, get_args, get_origin

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from pydantic_settings.sources import PydanticBaseEnvSettingsSource

from bot.settings import Settings

SECRET_WORDS = ("SECRET", "TOKEN", "KEY", "PASSWORD")


def env_name(field_name: str) -> str:
    """The variable that sets a field (its alias when it has one)."""
    field = Settings.model_fields.get(field_name)
    alias = field.validation_alias if field is not None else None
    return (alias if isinstance(alias, str) else field_name).upper()


def load_settings(**init: Any) -> tuple[Settings, list[str]]:
    """The settings with every bad value at its default, and one line per bad value."""
    problems: list[str] = []
    skipped: set[str] = set()  # fields found bad: read as unset, so their default stands in

    def tolerant(source: PydanticBaseSettingsSource) -> PydanticBaseSettingsSource:
        if isinstance(source, PydanticBaseEnvSettingsSource):
            prepare = source.prepare_field_value

            def prepare_or_note(field_name: str, field: Any, value: Any, complex_: bool) -> Any:
                if field_name in skipped:
                    return None
                try:
                    return prepare(field_name, field, value, complex_)
                except ValueError as exc:  # a JSON value that does not parse
                    skipped.add(field_name)
                    problems.append(f"{env_name(field_name)}: {_json_problem(exc)}")
                    return None

            setattr(source, "prepare_field_value", prepare_or_note)  # noqa: B010 (an instance override)
        return source

    class Collecting(Settings):
        @classmethod
        def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                       init_settings: PydanticBaseSettingsSource,
                                       env_settings: PydanticBaseSettingsSource,
                                       dotenv_settings: PydanticBaseSettingsSource,
                                       file_secret_settings: PydanticBaseSettingsSource,
                                       ) -> tuple[PydanticBaseSettingsSource, ...]:
            chosen = super().settings_customise_sources(
                settings_cls, init_settings=init_settings, env_settings=env_settings,
                dotenv_settings=dotenv_settings, file_secret_settings=file_secret_settings)
            return tuple(tolerant(source) for source in chosen)

    for _ in range(len(Settings.model_fields) + 1):
        try:
            settings = Collecting(**{k: v for k, v in init.items() if k not in skipped})
            return Settings.model_construct(**dict(settings)), problems
        except ValidationError as exc:
            bad = _note_errors(exc, problems)
            if not bad or bad <= skipped:
                break  # a problem no default can fix (a whole-model rule): stop here
            skipped.update(bad)
    return Settings.model_construct(), problems


def settings_problems(**init: Any) -> list[str]:
    """Only the one-line problems (empty when the settings are valid)."""
    return load_settings(**init)[1]


def _note_errors(exc: ValidationError, problems: list[str]) -> set[str]:
    """Adds each error's line to ``problems``; returns the fields at fault."""
    bad: set[str] = set()
    for error in exc.errors(include_url=False):
        line = describe_error(error)
        if line not in problems:
            problems.append(line)
        loc = error.get("loc") or ()
        if loc and str(loc[0]) in Settings.model_fields:
            bad.add(str(loc[0]))
    return bad


def _json_problem(exc: ValueError) -> str:
    cause = exc.__cause__ or exc.__context__ or exc
    if isinstance(exc, json.JSONDecodeError):
        cause = exc
    if isinstance(cause, json.JSONDecodeError):
        return f"not valid JSON at line {cause.lineno} column {cause.colno} ({cause.msg})"
    return f"not valid JSON ({cause})"


def describe_error(error: Any) -> str:
    """One pydantic error on one line: ``NAME: problem`` (values of secrets never shown)."""
    loc = tuple(error.get("loc") or ())
    if not loc:
        return f"settings: {_plain(error.get('msg', 'invalid'))}"
    name = env_name(str(loc[0]))
    given = error.get("input")
    kind = error.get("type", "")
    secret = any(word in name for word in SECRET_WORDS)
    field = Settings.model_fields.get(str(loc[0]))
    item = _item_kind(field.annotation if field is not None else None)
    if len(loc) >= 2 and kind in ("list_type", "string_type"):
        wanted = "a list of ids" if kind == "list_type" else "text"
        if len(loc) > 2:
            return f"{name}: expected a list of ids for {loc[1]}; item {loc[2]} is {_shown(given, secret)}"
        return f"{name}: expected {wanted} for {loc[1]}, got {_shown(given, secret)}"
    if kind in ("dict_type", "model_type"):
        example = '{"incident_commander": ["U012ABC"]}' if item == "list" else '{"key": "value"}'
        return f"{name}: expected a JSON object like {example}, got {_shown(given, secret)}"
    shown = f"={given}" if isinstance(given, str | int | float) and not secret else ""
    return f"{name}{shown}: {error.get('msg', 'invalid')}"


def _item_kind(annotation: Any) -> str:
    """``list`` for ``dict[str, list[str]]`` settings, else ``text``."""
    if get_origin(annotation) is dict:
        value = get_args(annotation)[1]
        return "list" if get_origin(value) is list else "text"
    return "text"


def _shown(value: object, secret: bool) -> str:
    if secret:
        return "a value (hidden)"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _plain(message: str) -> str:
    return message.removeprefix("Value error, ")
