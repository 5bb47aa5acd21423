"""``users.*``, ``usergroups.*`` and ``views.*`` (modals and the Home tab, with trigger ids)."""

from __future__ import annotations

import copy
import secrets
import time

from bot.local.slack_standin.blocks import validate_view
from bot.local.slack_standin.model import (
    APP_ID,
    BOT_ID,
    JSON,
    TEAM_ID,
    SlackError,
    _bool,
    _json_field,
    _page,
    _require,
)
from bot.local.slack_standin.workspace import Workspace


class UserAndViewMethods(Workspace):
    """People, groups and views."""

    # ------------------------------------------------------------------ users / groups

    def _users_info(self, params: JSON) -> JSON:
        return {"user": copy.deepcopy(self._user(str(params.get("user") or "")))}

    def _users_list(self, params: JSON) -> JSON:
        page, next_cursor = _page([copy.deepcopy(u) for u in self._users.values()], params)
        return {"members": page, "cache_ts": int(self.clock()),
                "response_metadata": {"next_cursor": next_cursor}}

    def _users_lookup_by_email(self, params: JSON) -> JSON:
        email = _require(params, "email").lower()
        for user in self._users.values():
            if str(user["profile"].get("email", "")).lower() == email and not user["deleted"]:
                return {"user": copy.deepcopy(user)}
        raise SlackError("users_not_found")

    def _usergroups_list(self, params: JSON) -> JSON:
        include_users = _bool(params.get("include_users"))
        include_disabled = _bool(params.get("include_disabled"))
        groups = []
        for group in self._usergroups.values():
            if group["date_delete"] and not include_disabled:
                continue
            out = copy.deepcopy(group)
            if not include_users:
                out.pop("users", None)
            groups.append(out)
        return {"usergroups": groups}

    def _usergroups_users_list(self, params: JSON) -> JSON:
        group = self._usergroups.get(str(params.get("usergroup") or ""))
        if group is None:
            raise SlackError("no_such_subteam")
        return {"users": list(group["users"])}

    # ------------------------------------------------------------------ views

    def _check_view(self, params: JSON) -> JSON:
        view = _json_field(params.get("view"), "invalid_arguments")
        if view is None:
            raise SlackError("invalid_arguments",
                             response_metadata={"messages": ["[ERROR] missing required field: view"]})
        errors = validate_view(view)
        if errors:
            raise SlackError("invalid_arguments",
                             response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})
        return view

    def _use_trigger(self, params: JSON) -> None:
        trigger = str(params.get("trigger_id") or params.get("interactivity_pointer") or "")
        if not trigger:
            raise SlackError("invalid_arguments",
                             response_metadata={"messages": ["[ERROR] missing required field: trigger_id"]})
        issued = self._triggers.get(trigger)
        if issued is None:
            if self.strict_trigger_ids:
                raise SlackError("invalid_trigger_id")
            return
        if issued["used"]:
            raise SlackError("exchanged_trigger_id")
        if time.monotonic() - issued["issued"] > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        issued["used"] = True

    def _store_view(self, view: JSON, *, previous: str | None = None, root: str | None = None,
                    view_id: str | None = None) -> JSON:
        vid = view_id or self._new_id("V")
        for block in view.get("blocks", []):
            block.setdefault("block_id", self._block_id())
        stored: JSON = {
            "id": vid, "team_id": TEAM_ID, "type": view["type"], "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""), "callback_id": view.get("callback_id", ""),
            "state": {"values": {}}, "hash": f"{int(self.clock())}.{secrets.token_hex(4)}",
            "title": view.get("title"), "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)), "close": view.get("close"),
            "submit": view.get("submit"), "previous_view_id": previous, "root_view_id": root or vid,
            "app_id": APP_ID, "external_id": view.get("external_id", ""), "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID, "submit_disabled": bool(view.get("submit_disabled", False)),
        }
        self._views[vid] = stored
        return stored

    def _views_open(self, params: JSON) -> JSON:
        view = self._check_view(params)
        if view.get("type") != "modal":
            raise SlackError("invalid_arguments")
        self._use_trigger(params)
        stored = self._store_view(view)
        self.opened_views.append(stored)
        return {"view": copy.deepcopy(stored)}

    def _views_push(self, params: JSON) -> JSON:
        view = self._check_view(params)
        self._use_trigger(params)
        parent = self.opened_views[-1] if self.opened_views else None
        stored = self._store_view(view, previous=parent["id"] if parent else None,
                                  root=parent["root_view_id"] if parent else None)
        self.opened_views.append(stored)
        return {"view": copy.deepcopy(stored)}

    def _views_update(self, params: JSON) -> JSON:
        view = self._check_view(params)
        view_id = str(params.get("view_id") or "")
        external_id = str(params.get("external_id") or "")
        if not view_id and not external_id:
            raise SlackError("invalid_arguments")
        target = self._views.get(view_id) if view_id else next(
            (v for v in self._views.values() if external_id and v.get("external_id") == external_id), None)
        if target is None:
            raise SlackError("not_found")
        if params.get("hash") and params["hash"] != target["hash"]:
            raise SlackError("hash_conflict")
        replacement = self._store_view(view, previous=target["previous_view_id"], root=target["root_view_id"],
                                       view_id=target["id"])
        replacement["state"] = target["state"]
        target.clear()
        target.update(replacement)
        self._views[target["id"]] = target
        return {"view": copy.deepcopy(target)}

    def _views_publish(self, params: JSON) -> JSON:
        view = self._check_view(params)
        if view.get("type") != "home":
            raise SlackError("invalid_arguments")
        user = str(params.get("user_id") or "")
        self._user(user)
        current = self.published_views.get(user)
        if current is not None and params.get("hash") and params["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        stored = self._store_view(view, view_id=current["id"] if current else None)
        self.published_views[user] = stored
        return {"view": copy.deepcopy(stored)}
