"""Service-layer tests: rules and SQL behaviour below the HTTP layer."""
