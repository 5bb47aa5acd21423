"""Outbox deliveries to the outside world (one module per destination)."""
