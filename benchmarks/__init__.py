"""Benchmarks of the whole system, above the app: `python -m benchmarks` (or `make bench`) measures throughput
through the aggregator next to the raw drain rate of the same Redis, and the bytes a browser receives per wall
tick. Method and results: docs/BENCHMARKS.md.

`throughput` measures the Dash-free core; `wall_tick` and `managers` measure the process's one web app
(app_factory.serving: built once, each benchmark's settings attached to it in turn); `browser` posts callbacks as a
browser's Dash renderer does (shared with the tests).
"""
