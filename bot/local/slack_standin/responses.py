"""``response_url`` posts: ephemeral, in_channel, replace_original, delete_original."""

from __future__ import annotations

import json

from aiohttp import web

from bot.local.slack_standin.blocks import validate_blocks
from bot.local.slack_standin.faults import Faults
from bot.local.slack_standin.model import (
    BOT_USER_ID,
    JSON,
    RESPONSE_URL_TTL,
    RESPONSE_URL_USES,
    _bool,
)


class ResponseUrls(Faults):
    """Apply posts to the ``response_url`` minted by :meth:`Workspace.new_response_url`."""

    # ------------------------------------------------------------------ response_url

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        """Apply a ``response_url`` post the way Slack does (ephemeral, in_channel, replace, delete)."""
        outage = self._outage(request)
        if outage is not None:
            return outage
        rid = request.match_info["response_id"]
        raw = await request.read()
        context = self._response_urls.get(rid)
        try:
            if request.content_type == "application/x-www-form-urlencoded":
                form = await request.post()
                body = json.loads(str(form.get("payload") or "{}"))
            else:
                body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = None
        record: JSON = {"id": rid, "body": body, "time": self.clock(), "context": dict(context or {}),
                        "status": 200, "result": "ok"}
        self.responses.append(record)
        try:
            if context is None:
                return self._response_result(record, 404, "expired_url")
            if not isinstance(body, dict):
                return self._response_result(record, 400, "invalid_payload")
            if context["uses"] >= RESPONSE_URL_USES:
                return self._response_result(record, 404, "used_url")
            if self.clock() - context["created"] > RESPONSE_URL_TTL:
                return self._response_result(record, 404, "expired_url")
            response = self._apply_response(record, context, body)
            if response.status == 200:
                context["uses"] += 1
            return response
        finally:
            self._notify()

    def _response_result(self, record: JSON, status: int, text: str) -> web.Response:
        record["status"], record["result"] = status, text
        return web.Response(status=status, text=text, content_type="text/html")

    def _apply_response(self, record: JSON, context: JSON, body: JSON) -> web.Response:
        ch = self._channels.get(context.get("channel") or "")
        message_ts = context.get("message_ts")
        if _bool(body.get("delete_original")):
            if ch is not None and message_ts in ch.by_ts and not context.get("is_ephemeral"):
                message = ch.by_ts.pop(message_ts)
                ch.messages.remove(message)
            return self._response_result(record, 200, "ok")
        text = body.get("text")
        blocks = body.get("blocks")
        if not text and not blocks and not body.get("attachments"):
            return self._response_result(record, 400, "no_text")
        if blocks is not None:
            errors = validate_blocks(blocks)
            if errors:
                record["errors"] = errors
                return self._response_result(record, 400, "invalid_blocks")
        replace = _bool(body.get("replace_original"))
        if replace and ch is not None and message_ts in ch.by_ts and not context.get("is_ephemeral"):
            message = ch.by_ts[message_ts]
            message["text"] = text or ""
            if blocks is not None:
                message["blocks"] = blocks
            else:
                message.pop("blocks", None)
            message["edited"] = {"user": BOT_USER_ID, "ts": self.next_ts()}
        elif body.get("response_type") == "in_channel" and ch is not None:
            message = self._bot_message(text or "", blocks, body)
            message["ts"] = self.next_ts()
            self._store_message(ch, message, body.get("thread_ts") or context.get("thread_ts"))
        else:
            self.ephemerals.append({"channel": context.get("channel"), "user": context["user"],
                                    "text": text or "", "blocks": blocks,
                                    "thread_ts": context.get("thread_ts"),
                                    "message_ts": self.next_ts(), "via": "response_url",
                                    "replace_original": replace, "time": self.clock()})
        return self._response_result(record, 200, "ok")
