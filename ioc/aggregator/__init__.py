"""The aggregator: the one process that consumes the raw streams, exactly once, into derived state.

`engine` the consumer (a StreamConsumer of ioc/streams): checks each batch, loads state, runs the domain reducers
(ioc/reducers/) and hands the result on; `commit` the Lua scripts that load state and apply a batch with its XACK
atomically, and the committer that pipelines them; `reader` the reads of new entries sent ahead; `cache` the state
this consumer committed, kept in memory while it is current.
"""

from ioc.aggregator.engine import (
    REPLAY_MIN_TTL_S,
    ROLLUP_RETENTION_S,
    Aggregator,
    rollup_ttl_s,
    run_aggregator,
    tune_gc,
)

__all__ = ["REPLAY_MIN_TTL_S", "ROLLUP_RETENTION_S", "Aggregator", "rollup_ttl_s", "run_aggregator", "tune_gc"]
