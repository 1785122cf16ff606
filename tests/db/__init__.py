"""Database tests: schema and migrations on SQLite and PostgreSQL."""
