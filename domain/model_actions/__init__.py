"""Acting on a model from an incident (issue 18): the registry's view of a model, what changed
before an incident, rollback under GOV-001's RACI, accepted drift and snoozes.

Pure rules and use cases over ports: no SQLAlchemy, no Slack, no HTTP. The MLflow adapter is in
``bot/registry/``, the tables in ``storage/registry_tables.py``.
"""
