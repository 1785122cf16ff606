"""HTTP edge: identity, dependencies, error mapping and middleware shared by api/ and web/."""
