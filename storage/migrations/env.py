"""Alembic environment: runs on the connection handed over by ``storage.migrate``.

``incident-bot db upgrade`` and ``serve`` call ``storage.migrate.upgrade(engine)``, which opens
an async connection and runs Alembic on it, so the same code path serves SQLite and PostgreSQL.
"""

from __future__ import annotations

from alembic import context

from storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `incident-bot db upgrade` (storage.migrate)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
