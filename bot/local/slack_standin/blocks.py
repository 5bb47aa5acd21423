"""Block Kit and view validation: the errors real Slack gives, so a malformed message fails here
as it would in production."""

from __future__ import annotations

from typing import Any

from bot.local.slack_standin.model import _BLOCK_TYPES, MESSAGE_BLOCKS_MAX, VIEW_BLOCKS_MAX


def _text_len_errors(obj: Any, pointer: str, max_len: int, *, plain_only: bool = False,
                     required: bool = True) -> list[str]:
    """Validate a composition text object the way Block Kit does."""
    if obj is None:
        return [f"missing required field: {pointer.rsplit('/', 1)[-1]} [json-pointer:{pointer}]"] \
            if required else []
    if not isinstance(obj, dict) or obj.get("type") not in {"plain_text", "mrkdwn"}:
        return [f"must provide an object [json-pointer:{pointer}]"]
    if plain_only and obj.get("type") != "plain_text":
        return [f"must be a plain_text object [json-pointer:{pointer}/type]"]
    text = obj.get("text")
    if not isinstance(text, str) or len(text) == 0:
        return [f"must be more than 0 characters [json-pointer:{pointer}/text]"]
    if len(text) > max_len:
        return [f"must be less than {max_len + 1} characters [json-pointer:{pointer}/text]"]
    return []


def _element_errors(element: Any, pointer: str) -> list[str]:
    """Interactive elements: the limits the bot is most likely to trip over."""
    if not isinstance(element, dict) or "type" not in element:
        return [f"must provide an object with a type [json-pointer:{pointer}]"]
    errors: list[str] = []
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > 255):
        errors.append(f"must be less than 256 characters [json-pointer:{pointer}/action_id]")
    if element["type"] == "button":
        errors += _text_len_errors(element.get("text"), f"{pointer}/text", 75, plain_only=True)
        if len(str(element.get("value", ""))) > 2000:
            errors.append(f"must be less than 2001 characters [json-pointer:{pointer}/value]")
        if element.get("style") not in (None, "primary", "danger"):
            errors.append(f"must be one of primary, danger [json-pointer:{pointer}/style]")
    if element["type"] in {"static_select", "multi_static_select", "radio_buttons", "checkboxes",
                           "overflow"} and "option_groups" not in element:
        options = element.get("options")
        if not isinstance(options, list) or not options:
            errors.append(f"must provide options [json-pointer:{pointer}/options]")
        elif len(options) > 100:
            errors.append(f"must provide at most 100 items [json-pointer:{pointer}/options]")
        else:
            for i, option in enumerate(options):
                if not isinstance(option, dict) or "value" not in option:
                    errors.append(f"must provide a value [json-pointer:{pointer}/options/{i}]")
                    continue
                errors += _text_len_errors(option.get("text"), f"{pointer}/options/{i}/text", 75)
    return errors


def validate_blocks(blocks: Any, *, max_blocks: int = MESSAGE_BLOCKS_MAX, root: str = "/blocks") -> list[str]:
    """Return Block Kit errors Slack would report (empty list when Slack would accept the blocks)."""
    if not isinstance(blocks, list):
        return [f"must provide an array [json-pointer:{root}]"]
    errors: list[str] = []
    if len(blocks) > max_blocks:
        errors.append(f"must provide at most {max_blocks} items [json-pointer:{root}]")
    seen_ids: set[str] = set()
    for i, block in enumerate(blocks):
        ptr = f"{root}/{i}"
        if not isinstance(block, dict):
            errors.append(f"must provide an object [json-pointer:{ptr}]")
            continue
        kind = block.get("type")
        if kind not in _BLOCK_TYPES:
            errors.append(f"unsupported type: {kind} [json-pointer:{ptr}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id or len(block_id) > 255:
                errors.append(f"must be 1-255 characters [json-pointer:{ptr}/block_id]")
            elif block_id in seen_ids:
                errors.append(f"duplicate block_id: {block_id} [json-pointer:{ptr}/block_id]")
            else:
                seen_ids.add(block_id)
        if kind == "section":
            if "text" not in block and "fields" not in block:
                errors.append(f"must provide text or fields [json-pointer:{ptr}]")
            if "text" in block:
                errors += _text_len_errors(block["text"], f"{ptr}/text", 3000)
            fields = block.get("fields")
            if fields is not None:
                if not isinstance(fields, list) or len(fields) > 10:
                    errors.append(f"must provide at most 10 items [json-pointer:{ptr}/fields]")
                else:
                    for j, item in enumerate(fields):
                        errors += _text_len_errors(item, f"{ptr}/fields/{j}", 2000)
            if "accessory" in block:
                errors += _element_errors(block["accessory"], f"{ptr}/accessory")
        elif kind == "header":
            errors += _text_len_errors(block.get("text"), f"{ptr}/text", 150, plain_only=True)
        elif kind in {"context", "actions"}:
            elements = block.get("elements")
            limit = 10 if kind == "context" else 25
            if not isinstance(elements, list) or not elements:
                errors.append(f"must provide elements [json-pointer:{ptr}/elements]")
            elif len(elements) > limit:
                errors.append(f"must provide at most {limit} items [json-pointer:{ptr}/elements]")
            elif kind == "actions":
                action_ids: set[str] = set()
                for j, element in enumerate(elements):
                    errors += _element_errors(element, f"{ptr}/elements/{j}")
                    aid = element.get("action_id") if isinstance(element, dict) else None
                    if aid is not None and aid in action_ids:
                        errors.append(f"duplicate action_id: {aid} [json-pointer:{ptr}/elements/{j}]")
                    elif aid is not None:
                        action_ids.add(aid)
        elif kind == "input":
            errors += _text_len_errors(block.get("label"), f"{ptr}/label", 2000, plain_only=True)
            if "element" not in block:
                errors.append(f"missing required field: element [json-pointer:{ptr}]")
            else:
                errors += _element_errors(block["element"], f"{ptr}/element")
        elif kind == "image":
            if not block.get("image_url") and not block.get("slack_file"):
                errors.append(f"missing required field: image_url [json-pointer:{ptr}]")
            if not block.get("alt_text"):
                errors.append(f"missing required field: alt_text [json-pointer:{ptr}]")
    return errors


def validate_view(view: Any) -> list[str]:
    """Return the errors Slack gives for a malformed modal or Home tab view."""
    if not isinstance(view, dict):
        return ["must provide an object [json-pointer:/view]"]
    errors: list[str] = []
    kind = view.get("type")
    if kind not in {"modal", "home"}:
        return ["must be one of modal, home [json-pointer:/view/type]"]
    if kind == "modal":
        errors += _text_len_errors(view.get("title"), "/view/title", 24, plain_only=True)
        for key in ("submit", "close"):
            if key in view and view[key] is not None:
                errors += _text_len_errors(view[key], f"/view/{key}", 24, plain_only=True)
        has_inputs = any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
        if has_inputs and not view.get("submit"):
            errors.append("must provide submit when there are input blocks [json-pointer:/view/submit]")
    errors += validate_blocks(view.get("blocks", []), max_blocks=VIEW_BLOCKS_MAX, root="/view/blocks")
    for key, limit in (("callback_id", 255), ("private_metadata", 3000), ("external_id", 255)):
        if len(str(view.get(key) or "")) > limit:
            errors.append(f"must be less than {limit + 1} characters [json-pointer:/view/{key}]")
    return errors
