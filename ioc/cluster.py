"""Redis Cluster support in one place: the client type every process holds (a plain client or a cluster client,
IOC_REDIS_CLUSTER), and the node of a key's hash slot for the code that talks to Redis over connections of its own
(the stream consumers' reads as sent, the aggregator's reads and commits sent ahead).

Every key of a domain carries the hash tag `{<namespace>.<domain>}` (ioc/keys.py), so a domain lives in one slot,
hence on one node: a script or transaction over a domain's keys runs there whole. Work that spans domains (the
wall's snapshot, the simulator's appends, the watchdog's reads) uses the cluster client's pipeline, which splits
it per node; a read or commit sent ahead goes to the node of its domain's slot on a connection from that node's pool.
On a single server every key has the same "node": the client itself, so nothing changes there.
"""

from __future__ import annotations

from typing import TypeAlias

import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

Client: TypeAlias = redis.Redis | RedisCluster  # what ioc.store.connect gives


def is_cluster(client: Client) -> bool:
    """Whether this is a cluster client."""
    return isinstance(client, RedisCluster)


def node_client(client: Client, key: str) -> redis.Redis:
    """The plain client of the node serving `key`'s slot (its connections pooled per node); on a single server,
    the client itself. Only commands on keys of that slot may go through it."""
    if isinstance(client, RedisCluster):
        return client.get_redis_connection(client.get_node_from_key(key))
    return client


def refresh_topology(client: Client) -> None:
    """Ask the cluster again which node serves which slot (after a node failed or slots moved); nothing to do on a
    single server. Raises a connection error while no node answers."""
    if isinstance(client, RedisCluster):
        try:
            client.nodes_manager.initialize()
        except RedisClusterException as exc:  # no node answered: an outage like any other
            raise redis.ConnectionError(str(exc)) from exc


def key_slot(client: Client, key: str) -> int | None:
    """The cluster hash slot of a key (None on a single server: one place holds every key)."""
    if isinstance(client, RedisCluster):
        return int(client.keyslot(key))
    return None
