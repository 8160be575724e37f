"""Redis stream consumption shared by every consumer: the consumer-group base and the raw replies it reads."""

from ioc.streams.consumer import StreamConsumer
from ioc.streams.namespaces import ConsumerSet
from ioc.streams.replies import Entry, Fields

__all__ = ["ConsumerSet", "Entry", "Fields", "StreamConsumer"]
