"""HTTP webhooks in: each module verifies and shape-checks one sender's payload, runs one use
case (domain/) and answers with JSON; nothing else happens here."""
