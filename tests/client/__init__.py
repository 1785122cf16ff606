"""Tests of the SDK and the CLI."""
