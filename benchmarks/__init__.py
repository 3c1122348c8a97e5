"""Runnable benchmarks of the project against its peers (``python -m benchmarks.bench_<area>``)."""
