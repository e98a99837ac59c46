"""What every fake does with messages: set fields of one (submessages copied), and serve a
topic as a gRPC server stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any, TypeVar

from google.protobuf.message import Message

from postflow.core.pubsub import Topic

T = TypeVar("T")


def assign(target: Message, /, **fields: Any) -> None:
    for name, value in fields.items():
        if isinstance(value, Message):
            getattr(target, name).CopyFrom(value)
        else:
            setattr(target, name, value)


async def follow(topic: Topic[T], first: Iterable[T]) -> AsyncIterator[T]:
    """A server stream: `first`, then what the topic publishes until it ends or drops us."""
    with topic.subscribe() as subscription:
        for message in first:
            yield message
        async for message in subscription:
            yield message
