"""Charts and self-contained HTML reports (drift, insights), outside Slack."""
