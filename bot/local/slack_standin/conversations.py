"""``conversations.*``: create, rename, topic, invite, archive, list, history, replies, open."""

from __future__ import annotations

import copy

from bot.local.slack_standin.model import (
    _NAME_OK,
    _NAME_PUNCT_ONLY,
    BOT_USER_ID,
    CHANNEL_NAME_MAX,
    JSON,
    PURPOSE_MAX,
    TOPIC_MAX,
    SlackError,
    _bool,
    _page,
    _require,
    _ts_key,
)
from bot.local.slack_standin.workspace import Workspace


class ConversationMethods(Workspace):
    """Channel life cycle and reading channels back."""

    # ------------------------------------------------------------------ conversations

    def _conversations_create(self, params: JSON) -> JSON:
        name = str(params.get("name") or "")
        self._check_channel_name(name)
        if self._by_name(name) is not None:
            raise SlackError("name_taken")
        cid = self.add_channel(name, members=[BOT_USER_ID], is_private=_bool(params.get("is_private")))
        return {"channel": self._channel_obj(self._channels[cid])}

    @staticmethod
    def _check_channel_name(name: str) -> None:
        if not name:
            raise SlackError("invalid_name_required")
        if len(name) > CHANNEL_NAME_MAX:
            raise SlackError("invalid_name_maxlength")
        if not _NAME_OK.match(name):
            raise SlackError("invalid_name_specials")
        if _NAME_PUNCT_ONLY.match(name):
            raise SlackError("invalid_name_punctuation")

    def _conversations_rename(self, params: JSON) -> JSON:
        ch = self._channel(params, need_member=True)
        name = str(params.get("name") or "")
        self._check_channel_name(name)
        other = self._by_name(name)
        if other is not None and other is not ch:
            raise SlackError("name_taken")
        if name != ch.name:
            ch.previous_names.insert(0, ch.name)
            ch.name = name
        return {"channel": self._channel_obj(ch)}

    def _set_text_attr(self, params: JSON, attr: str, limit: int) -> JSON:
        ch = self._channel(params, need_member=True)
        if ch.is_archived:
            raise SlackError("is_archived")
        value = str(params.get(attr) or "")
        if len(value) > limit:
            raise SlackError("too_long")
        setattr(ch, attr, {"value": value, "creator": BOT_USER_ID, "last_set": int(self.clock())})
        verb = "topic" if attr == "topic" else "purpose"
        self._system_message(ch, f"channel_{verb}", BOT_USER_ID,
                             f"set the channel {verb}: {value}" if value else f"cleared the channel {verb}",
                             **{verb: value})
        return {"channel": self._channel_obj(ch)}

    def _conversations_set_topic(self, params: JSON) -> JSON:
        return self._set_text_attr(params, "topic", TOPIC_MAX)

    def _conversations_set_purpose(self, params: JSON) -> JSON:
        return self._set_text_attr(params, "purpose", PURPOSE_MAX)

    def _conversations_invite(self, params: JSON) -> JSON:
        ch = self._channel(params, need_member=True)
        if ch.is_archived:
            raise SlackError("is_archived")
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            raise SlackError("no_user")
        if len(users) > 1000:
            raise SlackError("too_many_users")
        errors: list[JSON] = []
        to_add: list[str] = []
        for uid in dict.fromkeys(users):
            if uid == BOT_USER_ID:
                errors.append({"user": uid, "ok": False, "error": "cant_invite_self"})
            elif uid not in self._users:
                errors.append({"user": uid, "ok": False, "error": "user_not_found"})
            elif self._users[uid]["deleted"]:
                errors.append({"user": uid, "ok": False, "error": "user_is_deleted"})
            elif uid in ch.members:
                errors.append({"user": uid, "ok": False, "error": "already_in_channel"})
            else:
                to_add.append(uid)
        hard = [e for e in errors if e["error"] != "already_in_channel"]
        if hard and not _bool(params.get("force")):
            raise SlackError(hard[0]["error"], errors=errors)
        if not to_add:
            raise SlackError(errors[0]["error"] if errors else "already_in_channel", errors=errors)
        for uid in to_add:
            ch.members.append(uid)
            self._system_message(ch, "channel_join", uid, f"<@{uid}> has joined the channel",
                                 inviter=BOT_USER_ID)
        result: JSON = {"channel": self._channel_obj(ch)}
        if errors:
            result["errors"] = errors
        return result

    def _conversations_kick(self, params: JSON) -> JSON:
        ch = self._channel(params, need_member=True)
        user = _require(params, "user")
        if user not in ch.members:
            raise SlackError("not_in_channel")
        ch.members.remove(user)
        return {}

    def _conversations_info(self, params: JSON) -> JSON:
        ch = self._channel(params)
        with_count = _bool(params.get("include_num_members"))
        return {"channel": self._channel_obj(ch, include_num_members=with_count)}

    def _conversations_join(self, params: JSON) -> JSON:
        ch = self._channel(params)
        if ch.is_archived:
            raise SlackError("is_archived")
        if ch.is_private:
            raise SlackError("method_not_supported_for_channel_type")
        result: JSON = {}
        if BOT_USER_ID in ch.members:
            result = {"warning": "already_in_channel",
                      "response_metadata": {"warnings": ["already_in_channel"]}}
        else:
            ch.members.append(BOT_USER_ID)
            self._system_message(ch, "channel_join", BOT_USER_ID, f"<@{BOT_USER_ID}> has joined the channel")
        return {"channel": self._channel_obj(ch), **result}

    def _conversations_archive(self, params: JSON) -> JSON:
        ch = self._channel(params, need_member=True)
        if ch.is_general:
            raise SlackError("cant_archive_general")
        if ch.is_archived:
            raise SlackError("already_archived")
        ch.is_archived = True
        self._system_message(ch, "channel_archive", BOT_USER_ID, "archived the channel")
        return {}

    def _conversations_unarchive(self, params: JSON) -> JSON:
        ch = self._channel(params)
        if not ch.is_archived:
            raise SlackError("not_archived")
        ch.is_archived = False
        return {}

    def archive_by_hand(self, channel: str, user: str, archived: bool = True) -> JSON:
        """A person archives (or unarchives) ``channel`` in Slack's UI: the channel changes as
        conversations.archive would change it, and the event Slack then sends is returned
        (``channel_archive`` / ``group_archive`` for a private channel; ``..._unarchive``)."""
        ch = self._channels[self.channel_id(channel)]
        if ch.is_archived == archived:
            raise SlackError("already_archived" if archived else "not_archived")
        ch.is_archived = archived
        verb = "archive" if archived else "unarchive"
        self._system_message(ch, f"channel_{verb}", user, f"<@{user}> {verb}d the channel")
        event: JSON = {"type": f"{'group' if ch.is_private else 'channel'}_{verb}",
                       "channel": ch.id, "user": user, "event_ts": self.next_ts()}
        if archived and not ch.is_private:
            event["is_moved"] = 0
        return event

    def _conversations_list(self, params: JSON) -> JSON:
        types = {t.strip() for t in str(params.get("types") or "public_channel").split(",")}
        exclude_archived = _bool(params.get("exclude_archived"))
        chans = []
        for ch in self._channels.values():
            kind = "im" if ch.is_im else ("private_channel" if ch.is_private else "public_channel")
            if kind not in types or (exclude_archived and ch.is_archived):
                continue
            if ch.is_private and BOT_USER_ID not in ch.members:
                continue
            chans.append(self._channel_obj(ch, include_num_members=True))
        page, next_cursor = _page(chans, params)
        return {"channels": page, "response_metadata": {"next_cursor": next_cursor}}

    def _conversations_members(self, params: JSON) -> JSON:
        ch = self._channel(params)
        page, next_cursor = _page(list(ch.members), params)
        return {"members": page, "response_metadata": {"next_cursor": next_cursor}}

    def _public_message(self, message: JSON, params: JSON) -> JSON:
        out = copy.deepcopy(message)
        if not _bool(params.get("include_all_metadata")):
            out.pop("metadata", None)
        return out

    @staticmethod
    def _in_window(message: JSON, params: JSON) -> bool:
        """Within ``oldest``..``latest`` (the bounds themselves only with ``inclusive``)."""
        inclusive = _bool(params.get("inclusive"))
        latest = _ts_key(params["latest"]) if params.get("latest") else None
        oldest = _ts_key(params["oldest"]) if params.get("oldest") else None
        key = _ts_key(message["ts"])
        if latest is not None and (key > latest or (key == latest and not inclusive)):
            return False
        return not (oldest is not None and (key < oldest or (key == oldest and not inclusive)))

    def _conversations_history(self, params: JSON) -> JSON:
        ch = self._channel(params, need_member=True)
        newest_first = [m for m in reversed(ch.messages)
                        if self._is_top_level(m) and self._in_window(m, params)]
        page, next_cursor = _page(newest_first, params)
        result: JSON = {"messages": [self._public_message(m, params) for m in page],
                        "has_more": bool(next_cursor), "pin_count": len(ch.pins),
                        "channel_actions_ts": None, "channel_actions_count": 0}
        if next_cursor:
            result["response_metadata"] = {"next_cursor": next_cursor}
        return result

    def _conversations_replies(self, params: JSON) -> JSON:
        ch = self._channel(params, need_member=True)
        ts = str(params.get("ts") or "")
        message = ch.by_ts.get(ts)
        if message is None:
            raise SlackError("thread_not_found")
        root = message.get("thread_ts") or ts
        thread = [m for m in ch.messages if m["ts"] == root or m.get("thread_ts") == root]
        if params.get("latest") or params.get("oldest"):
            # the window keeps the replies between oldest and latest; the parent always leads
            thread = [m for m in thread if m["ts"] == root or self._in_window(m, params)]
        page, next_cursor = _page(thread, params, default_limit=1000)
        result: JSON = {"messages": [self._public_message(m, params) for m in page],
                        "has_more": bool(next_cursor)}
        if next_cursor:
            result["response_metadata"] = {"next_cursor": next_cursor}
        return result

    def _conversations_open(self, params: JSON) -> JSON:
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users and params.get("channel"):
            return {"channel": self._channel_obj(self._channel(params)), "already_open": True}
        if len(users) != 1:
            raise SlackError("not_enough_users" if not users else "method_not_supported_for_channel_type")
        self._user(users[0])
        return {"no_op": False, "already_open": False, "channel": {"id": self._im_for(users[0]).id}}
