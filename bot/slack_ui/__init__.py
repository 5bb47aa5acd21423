"""Slack presentation: every text, Block Kit structure and action/callback id the bot shows.

Domain code returns facts; this package turns them into Slack words (issue 13)."""
