"""Replay of the wall's retained history: the city picture at any past moment rebuilt into a temporary namespace of
its own by the aggregator's own engine and reducers, from the newest checkpoint before that moment and the raw
entries after it (`builder`); the replays asked for, bounded and expiring (`registry`); the process that builds and
plays them (`runner`)."""

from ioc.replay.builder import NotReplayable, Replay, history_reach
from ioc.replay.registry import ReplayState, close_replay, open_replay, read_replay

__all__ = ["NotReplayable", "Replay", "ReplayState", "close_replay", "history_reach", "open_replay", "read_replay"]
