"""Pure domain: incident aggregate, state machine, policy, services and ports. No I/O here."""
