"""The local Redis Cluster of the tests (benchmarks/cluster.py, shared with the cluster benchmark): skipped where
redis-server and redis-cli are not installed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import cluster as clusters
from benchmarks.cluster import LocalCluster

__all__ = ["LocalCluster", "local_cluster"]


@contextlib.contextmanager
def local_cluster(folder: Path, *, aof: bool = False) -> Iterator[LocalCluster]:
    """A started three-master cluster, stopped when the block ends; the test skipped without Redis 7's binaries."""
    if not clusters.available():
        pytest.skip("needs redis-server and redis-cli (Redis 7) for a local cluster")
    with clusters.local_cluster(folder, aof=aof) as cluster:
        yield cluster
