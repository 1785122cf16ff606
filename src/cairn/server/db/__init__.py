"""Database: the schema, engines and migrations. Only services/ runs SQL against it."""
