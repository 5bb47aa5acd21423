"""Paging integrations (issue 5): PagerDuty events and Alertmanager alert groups as incident
changes, and incident changes made here sent back to PagerDuty (always through the outbox)."""
