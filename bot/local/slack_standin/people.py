"""What people do to messages in Slack's UI: react, pin, edit, delete (issue 19, items 3, 4).

Each ``*_by_hand`` method changes the stored message the way Slack does and returns the event
Slack then sends (the shapes of the Events API reference: ``reaction_added`` /
``reaction_removed``, ``pin_added`` / ``pin_removed``, ``message`` with subtype
``message_changed`` / ``message_deleted``); :class:`bot.local.slack_driver.SlackDriver`
delivers it. The module-level builders make the same events without a stand-in.
"""

from __future__ import annotations

import copy
import time

from bot.local.slack_standin.model import _REACTION_NAME, JSON, SlackError
from bot.local.slack_standin.workspace import Workspace


def reaction_event(added: bool, channel: str, ts: str, user: str, reaction: str,
                   item_user: str | None, event_ts: str) -> JSON:
    event: JSON = {"type": "reaction_added" if added else "reaction_removed", "user": user,
                   "reaction": reaction,
                   "item": {"type": "message", "channel": channel, "ts": ts},
                   "event_ts": event_ts}
    if item_user:  # messages from integrations have none
        event["item_user"] = item_user
    return event


def pin_event(added: bool, channel: str, message: JSON, user: str, event_ts: str,
              pin_count: int) -> JSON:
    now = int(time.time())
    event: JSON = {"type": "pin_added" if added else "pin_removed", "user": user,
                   "channel_id": channel,
                   "item": {"type": "message", "created": now, "created_by": user,
                            "channel": channel, "message": copy.deepcopy(message)},
                   "item_user": message.get("user"), "pin_count": str(pin_count),
                   "pinned_info": {"channel": channel, "pinned_by": user, "pinned_ts": now},
                   "event_ts": event_ts}
    if not added:
        event["has_pins"] = pin_count > 0
    return event


def changed_event(channel: str, previous: JSON, current: JSON, event_ts: str) -> JSON:
    return {"type": "message", "subtype": "message_changed", "hidden": True, "channel": channel,
            "message": copy.deepcopy(current), "previous_message": copy.deepcopy(previous),
            "ts": event_ts, "event_ts": event_ts,
            "channel_type": "im" if channel.startswith("D") else "channel"}


def deleted_event(channel: str, previous: JSON, event_ts: str) -> JSON:
    return {"type": "message", "subtype": "message_deleted", "hidden": True, "channel": channel,
            "deleted_ts": previous["ts"], "previous_message": copy.deepcopy(previous),
            "ts": event_ts, "event_ts": event_ts,
            "channel_type": "im" if channel.startswith("D") else "channel"}


class PeopleActions(Workspace):
    """People reacting, pinning, editing and deleting, as tests and the demo make them."""

    def _stored(self, channel: str, ts: str) -> tuple[str, JSON]:
        ch = self._lookup_channel(channel)
        if ch is None:
            raise SlackError("channel_not_found")
        return ch.id, self._find_message(ch, ts)

    def react_by_hand(self, channel: str, ts: str, user: str, reaction: str,
                      added: bool = True) -> JSON:
        """``user`` adds (or removes) the emoji ``reaction`` on the message."""
        cid, message = self._stored(channel, ts)
        name = reaction.strip(":")
        if not _REACTION_NAME.match(name):
            raise SlackError("invalid_name")
        reactions = message.setdefault("reactions", [])
        entry = next((r for r in reactions if r["name"] == name), None)
        if added:
            if entry is None:
                entry = {"name": name, "users": [], "count": 0}
                reactions.append(entry)
            if user in entry["users"]:
                raise SlackError("already_reacted")
            entry["users"].append(user)
            entry["count"] += 1
        else:
            if entry is None or user not in entry["users"]:
                raise SlackError("no_reaction")
            entry["users"].remove(user)
            entry["count"] -= 1
            if not entry["count"]:
                reactions.remove(entry)
        self._notify()
        return reaction_event(added, cid, message["ts"], user, name,
                              None if message.get("bot_id") and not message.get("user")
                              else message.get("user"), self.next_ts())

    def pin_by_hand(self, channel: str, ts: str, user: str, added: bool = True) -> JSON:
        """``user`` pins (or unpins) the message in its channel."""
        cid, message = self._stored(channel, ts)
        ch = self._channels[cid]
        if added == (message["ts"] in ch.pins):
            raise SlackError("already_pinned" if added else "no_pin")
        if added:
            ch.pins.append(message["ts"])
            message.setdefault("pinned_to", []).append(cid)
            self.pins.append({"channel": cid, "ts": message["ts"], "user": user,
                              "time": self.clock()})
        else:
            ch.pins.remove(message["ts"])
            message["pinned_to"] = [c for c in message.get("pinned_to", []) if c != cid]
            self.pins = [p for p in self.pins if not (p["channel"] == cid and p["ts"] == message["ts"])]
        self._notify()
        return pin_event(added, cid, message, user, self.next_ts(), len(ch.pins))

    def edit_by_hand(self, channel: str, ts: str, text: str, user: str | None = None) -> JSON:
        """The author edits the message's text (``edited`` stamped as Slack does)."""
        cid, message = self._stored(channel, ts)
        previous = copy.deepcopy(message)
        editor = user or message.get("user")
        message["text"] = text
        message["blocks"] = [{"type": "rich_text", "block_id": self._block_id(), "elements": [
            {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}]}]
        edited_ts = self.next_ts()
        message["edited"] = {"user": editor, "ts": edited_ts}
        self._notify()
        return changed_event(cid, previous, message, self.next_ts())

    def delete_by_hand(self, channel: str, ts: str) -> JSON:
        """The author deletes the message: it is gone from the channel's history."""
        cid, message = self._stored(channel, ts)
        ch = self._channels[cid]
        ch.messages.remove(message)
        del ch.by_ts[message["ts"]]
        if message["ts"] in ch.pins:
            ch.pins.remove(message["ts"])
        self._notify()
        return deleted_event(cid, message, self.next_ts())
