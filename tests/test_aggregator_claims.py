"""Claiming stalled entries says the truth (issue 13): a lone aggregator reading ahead claims nothing and logs no
claim; only other consumers' entries are claimed, counted apart from the reads ahead settled before each look; an
aggregator's own entries left pending are recovered and logged as such. On both Redis versions, a tiny
claim_idle_ms standing in for the 60 s of production."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
import redis

from ioc.city import City
from ioc.keys import AGGREGATOR_GROUP, Keys
from tests.test_aggregator import T0, add, make, speed

IDLE_MS = 5


def fill(r: redis.Redis, keys: Keys, city: City, count: int, first_minute: int = 0) -> None:
    camera = city.sensors_of("traffic_camera")[0]
    for minute in range(first_minute, first_minute + count):
        add(r, keys, "traffic", speed(camera, T0 + timedelta(minutes=minute), 30.0))


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings logged about pending entries (not the simulated clock's notice)."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.WARNING and ("pending" in record.getMessage() or "claimed" in record.getMessage())
    ]


def test_a_lone_consumer_reading_ahead_claims_nothing(r, keys, city, caplog) -> None:
    """The overload case: every round sends the next read ahead, so a claim pass always settles a round first. Those
    are new entries of its own: handled, but neither claimed nor logged as claimed (the log said 'claimed and
    processed 500 entries left by stopped consumers' every 30 s at x60 in the 10,000-sensor city)."""
    fill(r, keys, city, 30)
    agg = make(r, keys, city, batch_size=10, claim_idle_ms=IDLE_MS)
    assert agg.run_once() == 10  # and the read of the next 10 is on its way
    time.sleep(IDLE_MS * 4 / 1000)  # the 10 read ahead are now pending on it longer than claim_idle_ms
    with caplog.at_level(logging.INFO, logger="ioc.aggregator"):
        assert agg.claim_stuck() == 10  # the round read ahead, settled before looking for stalled entries
    assert warnings(caplog) == []
    assert not any("recovered" in message for message in caplog.messages)
    assert agg.drain() == 10
    assert r.hget(keys.stats("traffic"), "processed") == "30"
    assert r.xpending(keys.events("traffic"), AGGREGATOR_GROUP)["pending"] == 0


def test_other_consumers_entries_are_claimed_and_counted_apart(r, keys, city, caplog) -> None:
    fill(r, keys, city, 6)
    dead = make(r, keys, city, consumer="agg-dead", batch_size=6)
    assert len(dead.read_entries("traffic", ">")) == 6  # read, then that host died
    fill(r, keys, city, 30, first_minute=6)
    survivor = make(r, keys, city, consumer="agg-survivor", batch_size=10, claim_idle_ms=IDLE_MS)
    assert survivor.run_once() == 10  # 10 new, and 10 more read ahead
    time.sleep(IDLE_MS * 4 / 1000)
    with caplog.at_level(logging.INFO, logger="ioc.aggregator"):
        assert survivor.claim_stuck() == 16  # the 10 read ahead and the 6 claimed
    assert warnings(caplog) == [
        f"claimed and processed 6 entries other consumers of group {AGGREGATOR_GROUP} left pending over {IDLE_MS} ms"
    ]
    assert survivor.drain() == 10
    assert r.hget(keys.stats("traffic"), "processed") == "36"
    assert r.xpending(keys.events("traffic"), AGGREGATOR_GROUP)["pending"] == 0


def test_own_entries_left_pending_are_recovered_not_claimed(r, keys, city, caplog) -> None:
    """Entries this consumer read and lost on the way (never handled) are its own left-overs: recovered, and the
    log says so, not that someone else stopped."""
    fill(r, keys, city, 12)
    agg = make(r, keys, city, batch_size=5, claim_idle_ms=IDLE_MS)
    assert len(agg.read_entries("traffic", ">")) == 5  # read, then dropped (a lost reply, say)
    time.sleep(IDLE_MS * 4 / 1000)
    with caplog.at_level(logging.INFO, logger="ioc.aggregator"):
        assert agg.claim_stuck() == 5
    assert warnings(caplog) == [
        f"5 entries of this consumer (agg-test) were pending over {IDLE_MS} ms, read but never acknowledged: recovering"
    ]
    assert "recovered 5 pending entries" in caplog.messages
    assert agg.drain() == 7
    assert r.hget(keys.stats("traffic"), "processed") == "12"
    assert r.xpending(keys.events("traffic"), AGGREGATOR_GROUP)["pending"] == 0


def test_recovery_counts_only_left_overs_not_the_read_ahead(r, keys, city, caplog) -> None:
    fill(r, keys, city, 30)
    agg = make(r, keys, city, batch_size=10)
    assert agg.run_once() == 10  # 10 more read ahead
    with caplog.at_level(logging.INFO, logger="ioc.aggregator"):
        assert agg.recover() == 10  # the round read ahead, settled; nothing was left over
    assert not any("recovered" in message for message in caplog.messages)
