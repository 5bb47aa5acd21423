"""Files through upload v2: ``files.getUploadURLExternal``, the upload URL itself,
``files.completeUploadExternal``, ``files.info`` and ``url_private`` downloads."""

from __future__ import annotations

import copy
import mimetypes
import secrets

from aiohttp import web

from bot.local.slack_standin.faults import Faults
from bot.local.slack_standin.model import (
    BOT_USER_ID,
    JSON,
    TEAM_DOMAIN,
    TEAM_ID,
    SlackError,
    _Channel,
    _json_field,
    _require,
)


class FileMethods(Faults):
    """Uploads in two steps, as Slack's v2 flow does, and downloads with the bot token."""

    # ------------------------------------------------------------------ files (upload v2)

    def _files_get_upload_url(self, params: JSON) -> JSON:
        filename = _require(params, "filename")
        try:
            length = int(_require(params, "length"))
        except ValueError as exc:
            raise SlackError("invalid_arguments") from exc
        if length < 0:
            raise SlackError("invalid_arguments")
        file_id = self._new_id("F")
        upload_key = secrets.token_urlsafe(18)
        self._uploads[file_id] = {"id": file_id, "key": upload_key, "filename": filename, "length": length,
                                  "alt_txt": params.get("alt_txt"), "content": None, "completed": False,
                                  "snippet_type": params.get("snippet_type"), "created": int(self.clock())}
        return {"upload_url": f"{self.origin}/upload/v1/{upload_key}", "file_id": file_id}

    async def _handle_upload(self, request: web.Request) -> web.StreamResponse:
        outage = self._outage(request)
        if outage is not None:
            return outage
        key = request.match_info["upload_id"]
        upload = next((u for u in self._uploads.values() if u["key"] == key), None)
        if upload is None:
            return web.Response(status=404, text="upload_not_found", content_type="text/plain")
        if request.content_type == "multipart/form-data":
            form = await request.post()
            field_value = form.get("file") or next(iter(form.values()), b"")
            data = field_value.file.read() if isinstance(field_value, web.FileField) else (
                field_value.encode() if isinstance(field_value, str) else bytes(field_value))
        else:
            data = await request.read()
        if len(data) != upload["length"]:
            self.anomalies.append(
                f"upload {upload['id']}: declared length {upload['length']}, got {len(data)}")
        upload["content"] = data
        self._notify()
        return web.Response(status=200, text=f"OK - {len(data)}", content_type="text/plain")

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        outage = self._outage(request)
        if outage is not None:
            return outage
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            return web.Response(status=302, headers={"Location": f"https://{TEAM_DOMAIN}.slack.com/"})
        content = self.file_content(request.match_info["file_id"])
        if content is None:
            return web.Response(status=404, text="file_not_found")
        return web.Response(body=content, content_type="application/octet-stream")

    def _file_obj(self, upload: JSON, title: str, shares: dict[str, list[JSON]]) -> JSON:
        fid, name = upload["id"], upload["filename"]
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else "binary"
        mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        url = f"{self.origin}/files/{fid}/{name}"
        return {
            "id": fid, "created": upload["created"], "timestamp": upload["created"], "name": name,
            "title": title, "mimetype": mimetype,
            "filetype": ext, "pretty_type": ext.upper(), "user": BOT_USER_ID, "user_team": TEAM_ID,
            "editable": False, "size": len(upload["content"] or b""), "mode": "hosted", "is_external": False,
            "external_type": "", "is_public": bool(shares), "public_url_shared": False,
            "display_as_bot": False, "username": "", "url_private": url, "url_private_download": url,
            "permalink": f"https://{TEAM_DOMAIN}.slack.com/files/{BOT_USER_ID}/{fid}/{name}",
            "permalink_public": f"https://slack-files.com/{TEAM_ID}-{fid}", "alt_txt": upload.get("alt_txt"),
            "comments_count": 0, "is_starred": False, "has_rich_preview": False, "file_access": "visible",
            "channels": list(shares), "groups": [], "ims": [],
            "shares": {"public": shares} if shares else {},
        }

    def _files_complete_upload(self, params: JSON) -> JSON:
        files = _json_field(params.get("files"), "invalid_arguments")
        if not isinstance(files, list) or not files:
            raise SlackError("invalid_arguments",
                             response_metadata={"messages": ["[ERROR] missing required field: files"]})
        uploads = []
        for item in files:
            upload = self._uploads.get(str(item.get("id") if isinstance(item, dict) else ""))
            if upload is None or upload["completed"]:
                raise SlackError("file_not_found")
            if upload["content"] is None:
                self.anomalies.append(
                    f"files.completeUploadExternal for {upload['id']} before its bytes arrived")
                raise SlackError("file_not_found")
            uploads.append((upload, str(item.get("title") or upload["filename"])))
        targets: list[_Channel] = []
        channel_ids = [str(params["channel_id"])] if params.get("channel_id") else []
        channel_ids += [c.strip() for c in str(params.get("channels") or "").split(",") if c.strip()]
        for cid in dict.fromkeys(channel_ids):
            ch = self._channel({"channel": cid}, allow_user=True)
            self._check_postable(ch)
            targets.append(ch)
        thread_ts = str(params.get("thread_ts") or "") or None
        if thread_ts and len(targets) != 1:
            raise SlackError("invalid_arguments",
                             response_metadata={"messages": ["[ERROR] thread_ts needs exactly one channel"]})
        comment = str(params.get("initial_comment") or "")
        blocks = None if comment else _json_field(params.get("blocks"), "invalid_blocks_format")
        shares: dict[str, list[JSON]] = {}
        for ch in targets:
            message = self._bot_message(comment, blocks, {})
            message.update({"ts": self.next_ts(), "upload": True, "display_as_bot": False})
            share: JSON = {"ts": message["ts"], "channel_name": ch.name, "team_id": TEAM_ID,
                           "share_user_id": BOT_USER_ID, "reply_users": [], "reply_users_count": 0,
                           "reply_count": 0, "source": "UNKNOWN"}
            if thread_ts:
                share["thread_ts"] = thread_ts
            shares[ch.id] = [share]
            message["files"] = [self._file_obj(u, t, {ch.id: [share]}) for u, t in uploads]
            self._store_message(ch, message, thread_ts)
        out = []
        for upload, title in uploads:
            upload["completed"] = True
            obj = self._file_obj(upload, title, shares)
            out.append(obj)
            self.files.append({**copy.deepcopy(obj), "content": upload["content"], "thread_ts": thread_ts,
                               "initial_comment": comment or None, "channel_ids": [c.id for c in targets]})
        return {"files": out}

    def _files_info(self, params: JSON) -> JSON:
        fid = str(params.get("file") or "")
        for f in self.files:
            if f["id"] == fid:
                return {"file": {k: v for k, v in f.items()
                                 if k not in {"content", "thread_ts", "initial_comment", "channel_ids"}},
                        "comments": [], "response_metadata": {"next_cursor": ""}}
        raise SlackError("file_not_found")
