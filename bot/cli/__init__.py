"""The ``incident-bot`` command line: :mod:`bot.cli.main` builds the parser from a static list of
sub-command modules, one per group (core, policy, drift, runbooks, iac, audit, check, outbox)."""
