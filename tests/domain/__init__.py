"""Unit tests of the pure domain rules (cairn.server.domain)."""
