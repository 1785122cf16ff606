"""JSON API tests."""
