"""bot/web.py decodes an interactive request's ``payload=<JSON>`` itself (in C) instead of
leaving it to urllib through Bolt: whatever it decodes must be what urllib would have, and what
the two could read differently is left to Bolt."""

from __future__ import annotations

import json
import random
from urllib.parse import parse_qsl, urlencode

from bot.web import form_payload


def urllib_payload(body: str) -> str | None:
    """What Bolt's parser takes as the payload of a form body."""
    return dict(parse_qsl(body, keep_blank_values=True)).get("payload")


def test_a_click_payload_decodes_as_urllib_decodes_it() -> None:
    payload = json.dumps({"type": "block_actions", "text": "100% = 50% + 50% & é ☃ 😀 <@U1>",
                          "url": "https://example.com/?a=b&c=%20", "blocks": [{"x": "+"}]})
    body = urlencode({"payload": payload})
    assert form_payload(body) == urllib_payload(body) == payload


def test_other_shapes_are_left_to_bolt() -> None:
    for body in ("", "payload", "payload=", "command=%2Fincident&text=status",
                 "payload=%7B%7D&x=1", "payload=%5B1%5D", "payload=%7B%22a%22%3A1%7D%",
                 "payload=%7B%%22a%22%3A1%7D", "payload=%7Bé%7D", "payload=%7B=%7D",
                 "payload=%7B%0A%7D%zz", "payload=%7B\n%7D"):
        decoded = form_payload(body)
        assert decoded is None or decoded == urllib_payload(body), body


def test_whatever_it_decodes_urllib_decodes_the_same() -> None:
    rng = random.Random(13)
    tokens = ["%3D", "%3d", "%", "3", "D", "d", "%E2%82%AC", "%C3", "%ZZ", "%2", "%7B", "+",
              "a", "=", "&", "\r", "\n", "é", "%%", "%0A", "%25"]
    decoded_some = 0
    for _ in range(20_000):
        body = "payload=%7B" + "".join(rng.choice(tokens) for _ in range(rng.randint(0, 10)))
        decoded = form_payload(body)
        if decoded is not None:
            decoded_some += 1
            assert decoded == urllib_payload(body), body
    assert decoded_some > 1000  # the fast path is taken, not only refused
