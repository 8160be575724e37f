"""Streams aged out by time: the first entry a stream must keep (its retention's cutoff, or earlier where a consumer
group still needs an entry), and trimming before it in bounded batches, so a first prune of a long history never
blocks Redis for long. Used by the aggregator for the raw, alerts and dead-letter streams."""

from __future__ import annotations

from typing import Final

from ioc.cluster import Client

TRIM_BATCH: Final = 10_000  # entries one XTRIM may remove (whole stream nodes of up to 100 entries)
TRIM_MAX_BATCHES: Final = 100  # XTRIMs per stream and pass: at most a million entries a pass, the rest next time

EntryId = tuple[int, int]  # (milliseconds, sequence): comparable


def entry_pair(entry_id: str) -> EntryId:
    """A stream entry id as a comparable (milliseconds, sequence) pair."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def keep_from(client: Client, key: str, cutoff_ms: int, *, reader: str | None = None) -> EntryId | None:
    """The first entry id the stream must keep: `cutoff_ms`, or earlier where any consumer group has not delivered
    an entry yet or holds one pending (not acknowledged). With `reader`, a group that must see every entry: None
    (keep everything) while that group does not exist on the stream, and its last delivered entry is kept (the
    incident engine tells alerts trimmed before it read them by a first entry past that one). Raises
    redis.ResponseError for a missing key or one that is not a stream."""
    keep: EntryId = (cutoff_ms, 0)
    found = False
    for group in client.xinfo_groups(key):
        delivered = entry_pair(str(group.get("last-delivered-id") or "0-0"))
        if group.get("name") == reader:
            # The reader's last delivered entry itself stays, so a gap past it always means entries it never read.
            found = True
            keep = min(keep, delivered)
        keep = min(keep, (delivered[0], delivered[1] + 1))
        if int(group.get("pending") or 0):
            oldest = client.xpending(key, str(group["name"]))["min"]
            if oldest is not None:
                keep = min(keep, entry_pair(str(oldest)))
    if reader is not None and not found:
        return None
    return keep


def trim_before(
    client: Client,
    key: str,
    cutoff_ms: int,
    *,
    reader: str | None = None,
    batch: int = TRIM_BATCH,
    max_batches: int = TRIM_MAX_BATCHES,
) -> int:
    """Remove a stream's entries older than `cutoff_ms` that no consumer group still needs (keep_from), in XTRIMs
    of at most `batch` entries each (approximate: whole stream nodes, so a node holding a newer entry stays), at
    most `max_batches` of them; returns how many entries went."""
    keep = keep_from(client, key, cutoff_ms, reader=reader)
    if keep is None or keep <= (0, 1):
        return 0
    minid = f"{keep[0]}-{keep[1]}"
    removed = 0
    for _ in range(max_batches):
        went = int(client.xtrim(key, minid=minid, approximate=True, limit=batch))
        removed += went
        if not went:
            break
    return removed
