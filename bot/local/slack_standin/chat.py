"""``api.test``, ``auth.test``, ``chat.*``, ``pins.*`` and ``reactions.*``."""

from __future__ import annotations

import copy

from bot.local.slack_standin.model import (
    _REACTION_NAME,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    JSON,
    TEAM_DOMAIN,
    TEAM_ID,
    TEAM_NAME,
    SlackError,
    _bool,
    _json_field,
    _metadata,
    _require,
)
from bot.local.slack_standin.workspace import Workspace


class ChatMethods(Workspace):
    """Posting, editing and decorating messages."""

    # ------------------------------------------------------------------ auth / chat

    def _api_test(self, params: JSON) -> JSON:
        if params.get("error"):
            raise SlackError(str(params["error"]))
        return {"args": params}

    def _auth_test(self, params: JSON) -> JSON:
        return {"url": f"https://{TEAM_DOMAIN}.slack.com/", "team": TEAM_NAME, "user": BOT_NAME,
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}

    def _chat_post_message(self, params: JSON) -> JSON:
        ch = self._channel(params, allow_name=True, allow_user=True)
        self._check_postable(ch)
        text, blocks = self._message_content(params)
        if blocks and not text:
            self.anomalies.append(f"chat.postMessage to {ch.id} with blocks but no text fallback")
        message = self._bot_message(text or "", blocks, params)
        message["ts"] = self.next_ts()
        thread_ts = str(params.get("thread_ts") or "") or None
        self._store_message(ch, message, thread_ts, broadcast=_bool(params.get("reply_broadcast")))
        return {"channel": ch.id, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _chat_update(self, params: JSON) -> JSON:
        ch = self._channel(params)
        message = self._find_message(ch, params.get("ts"))
        if message.get("bot_id") != BOT_ID:
            raise SlackError("cant_update_message")
        text, blocks = self._message_content(params)
        _metadata(params)  # refuse a malformed one before anything changes
        if text is not None:
            message["text"] = text
        if blocks is not None:
            message["blocks"] = blocks
        attachments = _json_field(params.get("attachments"), "invalid_attachments")
        if attachments is not None:
            message["attachments"] = attachments
        metadata = _metadata(params)
        if metadata is not None:
            message["metadata"] = metadata
        message["edited"] = {"user": BOT_USER_ID, "ts": self.next_ts()}
        return {"channel": ch.id, "ts": message["ts"], "text": message["text"],
                "message": copy.deepcopy(message)}

    def _chat_delete(self, params: JSON) -> JSON:
        ch = self._channel(params)
        message = self._find_message(ch, params.get("ts"))
        if message.get("bot_id") != BOT_ID:
            raise SlackError("cant_delete_message")
        ch.messages.remove(message)
        del ch.by_ts[message["ts"]]
        return {"channel": ch.id, "ts": message["ts"]}

    def _chat_post_ephemeral(self, params: JSON) -> JSON:
        ch = self._channel(params, allow_name=True)
        user = _require(params, "user")
        self._user(user)
        if user not in ch.members:
            raise SlackError("user_not_in_channel")
        text, blocks = self._message_content(params)
        message_ts = self.next_ts()
        self.ephemerals.append({"channel": ch.id, "user": user, "text": text or "", "blocks": blocks,
                                "thread_ts": params.get("thread_ts"), "message_ts": message_ts,
                                "via": "chat.postEphemeral", "time": self.clock()})
        return {"message_ts": message_ts}

    def _chat_get_permalink(self, params: JSON) -> JSON:
        ch = self._channel(params)
        message = self._find_message(ch, params.get("message_ts"))
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{ch.id}/p{message['ts'].replace('.', '')}"
        if message.get("thread_ts") and message["thread_ts"] != message["ts"]:
            link += f"?thread_ts={message['thread_ts']}&cid={ch.id}"
        return {"channel": ch.id, "permalink": link}

    # ------------------------------------------------------------------ pins / reactions

    def _pins_add(self, params: JSON) -> JSON:
        ch = self._channel(params, need_member=True)
        if not params.get("timestamp"):
            raise SlackError("no_item_specified")
        message = self._find_message(ch, params.get("timestamp"))
        if message["ts"] in ch.pins:
            raise SlackError("already_pinned")
        ch.pins.append(message["ts"])
        message.setdefault("pinned_to", []).append(ch.id)
        self.pins.append({"channel": ch.id, "ts": message["ts"], "user": BOT_USER_ID, "time": self.clock()})
        return {}

    def _pins_remove(self, params: JSON) -> JSON:
        ch = self._channel(params, need_member=True)
        message = self._find_message(ch, params.get("timestamp"))
        if message["ts"] not in ch.pins:
            raise SlackError("no_pin")
        ch.pins.remove(message["ts"])
        message["pinned_to"] = [c for c in message.get("pinned_to", []) if c != ch.id]
        self.pins = [p for p in self.pins if not (p["channel"] == ch.id and p["ts"] == message["ts"])]
        return {}

    def _pins_list(self, params: JSON) -> JSON:
        ch = self._channel(params)
        items = [{"type": "message", "created": int(self.clock()), "created_by": BOT_USER_ID,
                  "channel": ch.id, "message": copy.deepcopy(ch.by_ts[ts])} for ts in ch.pins]
        return {"items": items}

    def _reactions_add(self, params: JSON) -> JSON:
        ch = self._channel(params)
        if not params.get("timestamp"):
            raise SlackError("no_item_specified")
        message = self._find_message(ch, params.get("timestamp"))
        name = str(params.get("name") or "").strip(":")
        if not name or not _REACTION_NAME.match(name):
            raise SlackError("invalid_name")
        reactions = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if BOT_USER_ID in reaction["users"]:
                    raise SlackError("already_reacted")
                reaction["users"].append(BOT_USER_ID)
                reaction["count"] += 1
                return {}
        reactions.append({"name": name, "users": [BOT_USER_ID], "count": 1})
        return {}

    def _reactions_remove(self, params: JSON) -> JSON:
        ch = self._channel(params)
        message = self._find_message(ch, params.get("timestamp"))
        name = str(params.get("name") or "").strip(":")
        for reaction in message.get("reactions", []):
            if reaction["name"] == name and BOT_USER_ID in reaction["users"]:
                reaction["users"].remove(BOT_USER_ID)
                reaction["count"] -= 1
                if not reaction["count"]:
                    message["reactions"].remove(reaction)
                return {}
        raise SlackError("no_reaction")
