"""The Slack Web API client the bot uses, timed and counted per method for /metrics."""

from __future__ import annotations

import time
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.metrics import Metrics


class MeteredWebClient(AsyncWebClient):
    """Every Web API method goes through ``api_call``: time it, and count what Slack refused
    (``error`` is Slack's error code, or the HTTP status, or the connection failure's type)."""

    def __init__(self, *args: Any, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._metrics = metrics

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        started = time.perf_counter()
        try:
            return await super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            response = exc.response
            error = (response.get("error") if isinstance(response.data, dict) else None) or (
                f"http_{response.status_code}")
            self._metrics.slack_api_errors.labels(api_method, str(error)).inc()
            raise
        except Exception as exc:  # connection refused, timeout...: Slack did not answer
            self._metrics.slack_api_errors.labels(api_method, type(exc).__name__).inc()
            raise
        finally:
            self._metrics.slack_api_duration.labels(api_method).observe(time.perf_counter() - started)
