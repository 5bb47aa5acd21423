"""Stand-ins for outside services that only the tests and benchmarks use (the product never imports them)."""
