"""Business rules and all SQL. Services raise domain errors and never speak HTTP."""
