"""Benchmarks (figures, not pass/fail): `python -m bench.suite`, see BENCHMARKS.md."""
