"""Pure domain rules: error codes, names, roles and references, free of frameworks."""
