"""End-to-end tests drive :class:`bot.local.stack.LocalStack`: the product's own local setup."""

from bot.local.stack import ADMIN, BOT_TOKEN, SIGNING_SECRET, LocalStack

BotHarness = LocalStack

__all__ = ["ADMIN", "BOT_TOKEN", "SIGNING_SECRET", "BotHarness", "LocalStack"]
