"""A bounded topic: every item published reaches every subscriber, and no subscriber can hold
up the publisher or the others.

Each subscription has its own buffer of at most `maxsize` items. What happens to one that
falls that far behind is chosen explicitly, per topic:

- `Overflow.DROP_OLDEST`: it loses its oldest buffered item and stays subscribed (for feeds
  where only the latest state matters).
- `Overflow.DROP_SUBSCRIBER`: its buffer is emptied and its subscription ends; it must
  catch up another way (resume by sequence number, or start from a snapshot).
- `Overflow.LATEST_PER_KEY`: it holds one item per key (the topic's `key` function), the
  newest, which goes last in line, so a slow subscriber gets the latest of each key and loses
  no key's change to another's; `maxsize` counts keys, and one more ends the subscription as
  with DROP_SUBSCRIBER (for feeds of the state of each of a bounded set of things).

`close()` ends every subscription once its buffered items are read, and ends later ones at
once. Publish from the event loop's thread; items are never None (None marks the end).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Overflow(enum.Enum):
    DROP_OLDEST = "drop the oldest item"
    DROP_SUBSCRIBER = "drop the subscriber"
    LATEST_PER_KEY = "keep the latest item per key"


class Subscription(Generic[T]):
    """One subscriber's buffer: `await get()` (None once ended) or `async for`."""

    def __init__(self, maxsize: int, overflow: Overflow, key: Callable[[T], Hashable] | None = None) -> None:
        self.dropped = False  # ended because it fell behind
        self._items: OrderedDict[Hashable, T] = OrderedDict()  # by key, or by arrival without one
        self._maxsize = maxsize
        self._overflow = overflow
        self._key = key
        self._arrivals = itertools.count()
        self._ended = False
        self._wakeup = asyncio.Event()

    def __len__(self) -> int:
        """Items buffered and not read yet."""
        return len(self._items)

    async def get(self) -> T | None:
        """The next item, waiting for one; None once the subscription ended and is drained."""
        while not self._items:
            if self._ended:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._items.popitem(last=False)[1]

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        item = await self.get()
        if item is None:
            raise StopAsyncIteration
        return item

    def _offer(self, item: T) -> bool:
        """Buffers `item`; False when it does not fit and the subscriber must be dropped."""
        key = self._key(item) if self._key else next(self._arrivals)
        if key in self._items:
            del self._items[key]  # its newest goes last in line
        elif len(self._items) >= self._maxsize:
            if self._overflow is not Overflow.DROP_OLDEST:
                return False
            self._items.popitem(last=False)
        self._items[key] = item
        self._wakeup.set()
        return True

    def _end(self, *, discard: bool = False) -> None:
        if discard:
            self._items.clear()
        self._ended = True
        self._wakeup.set()


class Topic(Generic[T]):
    def __init__(self, maxsize: int, overflow: Overflow, name: str = "topic",
                 key: Callable[[T], Hashable] | None = None) -> None:
        if maxsize < 1:
            raise ValueError(f"{name}: maxsize must be at least 1, got {maxsize}")
        if (key is None) == (overflow is Overflow.LATEST_PER_KEY):
            raise ValueError(f"{name}: a key function goes with {Overflow.LATEST_PER_KEY} and only with it")
        self.maxsize = maxsize
        self.overflow = overflow
        self.name = name
        self.key = key
        self.dropped = 0  # subscriptions ended for falling behind
        self._subscriptions: set[Subscription[T]] = set()
        self._closed = False

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def publish(self, item: T) -> None:
        for subscription in list(self._subscriptions):
            if not subscription._offer(item):
                self._drop(subscription)

    @contextlib.contextmanager
    def subscribe(self, first: Iterable[T] = ()) -> Iterator[Subscription[T]]:
        """A subscription to `first` (buffered as if published), then to what is published
        from now on, for the length of the block."""
        subscription: Subscription[T] = Subscription(self.maxsize, self.overflow, self.key)
        for item in first:
            if not subscription._offer(item):
                self._drop(subscription)
                break
        if self._closed:
            subscription._end()
        elif not subscription.dropped:
            self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    def close(self) -> None:
        """Ends every subscription after its buffered items, and every later one at once."""
        self._closed = True
        for subscription in self._subscriptions:
            subscription._end()
        self._subscriptions.clear()

    def _drop(self, subscription: Subscription[T]) -> None:
        self._subscriptions.discard(subscription)
        subscription.dropped = True
        subscription._end(discard=True)
        self.dropped += 1
        log.info("%s: a subscriber fell %d items behind and was dropped", self.name, self.maxsize)
