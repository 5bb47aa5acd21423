"""What the three adapters share: one JSON request, and errors that say which tracker failed."""

from __future__ import annotations

from typing import Any

import aiohttp

from domain.trackers import TrackerError


async def request_json(session: aiohttp.ClientSession, method: str, url: str, *, label: str,
                       headers: dict[str, str], body: Any = None) -> Any:
    """Send one request; a refusal, a network failure or a non-JSON answer is a TrackerError."""
    try:
        async with session.request(method, url, headers=headers, json=body) as response:
            text = await response.text()
            if response.status >= 400:
                raise TrackerError(f"{label} answered {response.status} to {method} {url}: {text[:300]}")
            if not text:
                return {}
            try:
                return await response.json(content_type=None)
            except ValueError as exc:
                raise TrackerError(f"{label} answered {method} {url} with something not JSON") from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TrackerError(f"{label} could not be reached at {url}: {exc}") from exc
