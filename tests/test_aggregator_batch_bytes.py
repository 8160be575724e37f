"""A batch is bounded by bytes as well as by count, on real Redis servers: huge entries are read in smaller reads,
split into several commits, each within the bound, and every entry still processed once, in order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from ioc.aggregator import Aggregator
from ioc.aggregator.commit import Commit
from ioc.aggregator.reader import BatchReader, weight
from ioc.keys import AGGREGATOR_GROUP, Domain
from ioc.reducers import Checked
from ioc.streams import Entry
from tests.test_aggregator import T0, add, level, make

BOUND = 100_000
HUGE = 30_000  # characters of junk in a huge entry: three fit a batch, a fourth does not


class Recording(Aggregator):
    """An aggregator that notes each batch it computes (how many entries, how many characters)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.batches: list[tuple[int, int]] = []

    def _compute(
        self,
        domain: Domain,
        entries: Sequence[Entry],
        readings: list[Checked],
        rejected: list[dict[str, str]],
        clock: float | None,
    ) -> Commit:
        self.batches.append((len(entries), weight(entries)))
        return super()._compute(domain, entries, readings, rejected, clock)


def fill(r, keys, count: int) -> list[str]:
    """Huge junk entries (dead letters to be) between water levels rising one centimetre each; all ids in order."""
    ids = []
    for n in range(count):
        ids.append(add(r, keys, "flood", level("wl-tam-ky", T0 + timedelta(minutes=n), 1.0 + n / 100)))
        ids.append(add(r, keys, "flood", {"junk": str(n) * HUGE}))
    return ids


def test_reads_of_huge_entries_come_in_batches_within_the_bound(r, keys, city) -> None:
    make(r, keys, city)  # the group
    ids = fill(r, keys, 20)
    reader = BatchReader(r, keys, ("flood",), "agg-test", 500, BOUND)
    seen: list[str] = []
    sizes = []
    counts = []
    while batch := reader.take().get("flood"):
        seen += [entry_id for entry_id, _ in batch]
        sizes.append((len(batch), weight(batch)))
        counts.append(reader.counts["flood"])
    reader.close()
    assert seen == ids  # every entry once, in order, though read ahead and carried over
    assert all(size <= BOUND for _, size in sizes) and max(count for count, _ in sizes) <= 7
    assert counts[0] < 10  # after the first read, the next asks for about BOUND's worth of such entries


def test_the_aggregator_commits_huge_entries_in_batches_within_the_bound(r, keys, city) -> None:
    declared = make(r, keys, city)  # declares the replay clock and makes the group
    declared.close()
    agg = Recording(r, keys, city, consumer="agg-test", batch_bytes=BOUND)
    agg.setup()
    ids = fill(r, keys, 30)
    assert agg.drain() == len(ids)
    assert len(agg.batches) >= 30 * HUGE // BOUND and all(size <= BOUND for _, size in agg.batches)
    assert r.hget(keys.stats("flood"), "processed") == "30"
    assert r.hget(keys.stats("flood"), "deadletter") == "30" and r.xlen(keys.deadletter("flood")) == 30
    assert r.xpending(keys.events("flood"), AGGREGATOR_GROUP)["pending"] == 0


def test_pending_huge_entries_are_recovered_in_batches_within_the_bound(r, keys, city) -> None:
    declared = make(r, keys, city)
    declared.close()
    ids = fill(r, keys, 15)
    r.xreadgroup(AGGREGATOR_GROUP, "agg-test", {keys.events("flood"): ">"})  # read by a consumer that then died
    agg = Recording(r, keys, city, consumer="agg-test", batch_bytes=BOUND)
    agg.setup()
    assert agg.drain() == len(ids)  # its own pending entries first, as the same consumer after a restart
    assert len(agg.batches) >= 15 * HUGE // BOUND and all(size <= BOUND for _, size in agg.batches)
    assert r.hget(keys.stats("flood"), "processed") == "15" and r.xlen(keys.deadletter("flood")) == 15
    assert r.xpending(keys.events("flood"), AGGREGATOR_GROUP)["pending"] == 0
