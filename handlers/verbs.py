"""The one ``/incident`` verb table, shared by core and feature verbs.

How a feature adds a verb: one call in its ``install(container)``::

    container.slack.verbs.add(
        "stats", stats_command,
        help="`/incident stats [days]`: incident counts and times to resolve",
        scoped=False)  # False: not about one incident (so not serialised per incident)

``stats_command(ctx, parsed, body, respond)`` is awaited after the ack with the parsed command
(``parsed.number`` is the incident number when the text gave one, ``parsed.rest`` the rest);
raise ``domain.model.DomainError`` for a user-facing refusal, reply with ``ctx.reply``.
The parser, the help text and the dispatch all read this table; nothing else to edit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.slack_ui.mrkdwn import mentioned_user
from domain.commands import Grammar

if TYPE_CHECKING:
    from domain.commands import Parsed
    from handlers.slack_context import SlackContext

VerbHandler = Callable[["SlackContext", "Parsed", dict[str, Any], Any], Awaitable[None]]

HELP_HEADER = "*`/incident` commands*"
HELP_FOOTER = ("Inside an incident channel the incident is implied; elsewhere give its number "
               "first:\n`/incident resolve 42 fixed by rollback`.\n"
               "Severity: P1..P4 (also p1, sev1, SEV-1).")


@dataclass(frozen=True)
class Verb:
    """One ``/incident`` verb: its name, what it answers to, its help line and its handler.

    ``help`` may hold several lines (each becomes a bullet) or be empty when another verb's line
    already describes it (``mitigate`` is on ``ack``'s line). ``scoped``: the verb acts on one
    incident, so commands on that incident run one after another in the order sent.
    """

    name: str
    handler: VerbHandler
    help: str = ""
    aliases: tuple[str, ...] = ()
    scoped: bool = True


class DuplicateVerb(ValueError):
    """Two registrations claim one name: a wiring mistake, refused at start-up."""


@dataclass
class VerbTable:
    """Every ``/incident`` verb, in registration order (core first, then features)."""

    _verbs: dict[str, Verb] = field(default_factory=dict)
    _aliases: dict[str, str] = field(default_factory=dict)
    _grammar: Grammar | None = None

    def add(self, name: str, handler: VerbHandler, *, help: str = "",
            aliases: tuple[str, ...] = (), scoped: bool = True) -> Verb:
        """Register a verb (see the module docstring); returns it."""
        return self.include(Verb(name, handler, help=help, aliases=aliases, scoped=scoped))

    def include(self, verb: Verb) -> Verb:
        """Register ``verb``; a name or alias already taken is refused (no silent override)."""
        for name in (verb.name, *verb.aliases):
            if name in self._verbs or name in self._aliases:
                raise DuplicateVerb(f"/incident {name} is registered twice")
        self._verbs[verb.name] = verb
        self._aliases.update({alias: verb.name for alias in verb.aliases})
        self._grammar = None
        return verb

    def get(self, name: str) -> Verb | None:
        return self._verbs.get(self._aliases.get(name, name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[Verb]:
        return iter(self._verbs.values())

    def grammar(self) -> Grammar:
        """What the (pure) parser needs: the known names, the aliases, and Slack's mentions
        read as user ids."""
        if self._grammar is None:
            self._grammar = Grammar(verbs=tuple(self._verbs), aliases=dict(self._aliases),
                                    user=mentioned_user)
        return self._grammar

    def help_text(self) -> str:
        lines = [f"• {line}" for verb in self for line in verb.help.splitlines() if line]
        return "\n".join([HELP_HEADER, *lines, HELP_FOOTER])
