"""Benchmarks of the whole system, above the app: `python -m benchmarks` (or `make bench`) measures throughput
through the aggregator next to the raw drain rate of the same Redis, and the bytes a browser receives per wall
tick. Method and results: docs/BENCHMARKS.md.

`throughput` measures the Dash-free core; `wall_tick` builds the web app through app_factory.create_app; `browser`
posts callbacks as a browser's Dash renderer does (shared with the tests).
"""
