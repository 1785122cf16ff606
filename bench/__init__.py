"""Benchmarks: run as `python -m bench.<name>`; figures and how to read them in README.md."""
