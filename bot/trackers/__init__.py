"""Issue tracker adapters (issue 21): Jira REST v2/v3, GitHub Issues, Linear GraphQL, on aiohttp.

Each fills :class:`domain.trackers.Tracker`; :func:`tracker_for` builds the one a team's
configuration names, on a session the caller owns.
"""

from __future__ import annotations

import aiohttp

from bot.trackers.github import GitHubIssues
from bot.trackers.jira import JiraIssues
from bot.trackers.linear import LinearIssues
from domain.trackers import Tracker, TrackerConfig


def tracker_for(config: TrackerConfig, session: aiohttp.ClientSession) -> Tracker:
    if config.kind == "jira":
        return JiraIssues(config, session)
    if config.kind == "github":
        return GitHubIssues(config, session)
    return LinearIssues(config, session)


__all__ = ["tracker_for", "JiraIssues", "GitHubIssues", "LinearIssues"]
