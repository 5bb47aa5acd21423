"""The local Slack world: everything that stands in for Slack when there is no real workspace.

:mod:`bot.local.slack_standin` is a Slack Web API and Socket Mode stand-in on loopback,
:mod:`bot.local.slack_driver` signs and sends requests as Slack does, :mod:`bot.local.stack`
puts the real Bolt app, the stand-in and the driver together, and :mod:`bot.local.demo` plays
a scripted incident on it. `incident-bot demo` and the end-to-end tests run on this world;
the serving bot never imports it (only the ``demo`` sub-command does).
"""
