"""Messages between server processes: who needs to hear about a conversation's new events.

One process needs nothing but `MemoryBus`. With several worker processes (`--workers N`) set
`SHOPBOT_REDIS_URL` and `RedisBus` carries the same messages over Redis pub/sub, so a shopper on
one process and an agent on another see each other's messages at once. The database stays the
record (events have their `seq` there); the bus only says "look, something new", so a lost bus
message delays delivery until the next one or a reconnect, and never loses an event.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Bus(Protocol):
    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...

    async def subscribe(self, channel: str) -> "Subscription":
        """Messages published on `channel` from now on (the subscription is live on return)."""
        ...

    async def close(self) -> None: ...


class Subscription:
    """Messages on one channel, from the moment of subscribing; `async for` to read them."""

    def __init__(self, on_close) -> None:  # type: ignore[no-untyped-def]
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=10_000)
        self._on_close = on_close

    def deliver(self, message: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:  # a stuck reader must not stall every other subscriber
            log.warning("bus subscriber is not reading; dropping a notification")

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self.queue.get()

    async def close(self) -> None:
        await self._on_close(self)


class MemoryBus:
    """In-process delivery (a single server process)."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        self.deliver_local(channel, message)

    def deliver_local(self, channel: str, message: dict[str, Any]) -> None:
        for sub in list(self._subscribers.get(channel, ())):
            sub.deliver(message)

    def has_subscribers(self, channel: str) -> bool:
        return bool(self._subscribers.get(channel))

    async def subscribe(self, channel: str) -> Subscription:
        async def remove(sub: Subscription) -> None:
            self._subscribers[channel].discard(sub)
            if not self._subscribers[channel]:
                self._subscribers.pop(channel, None)

        sub = Subscription(remove)
        self._subscribers[channel].add(sub)
        return sub

    async def close(self) -> None:
        self._subscribers.clear()


class RedisBus:
    """Redis pub/sub. One connection listens for every channel this process has subscribers on."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url, decode_responses=True)
        self._pubsub = self._redis.pubsub()
        self._local = MemoryBus()
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        await self._redis.publish(channel, json.dumps(message))

    async def subscribe(self, channel: str) -> Subscription:
        async with self._lock:
            first = not self._local.has_subscribers(channel)
            sub = await self._local.subscribe(channel)
            if first:
                await self._pubsub.subscribe(channel)
            if self._reader is None:
                self._reader = asyncio.create_task(self._read())
        local_close = sub._on_close

        async def remove(s: Subscription) -> None:
            async with self._lock:
                await local_close(s)
                if not self._local.has_subscribers(channel):
                    await self._pubsub.unsubscribe(channel)

        sub._on_close = remove
        return sub

    async def _read(self) -> None:
        while True:
            if not self._pubsub.subscribed:
                await asyncio.sleep(0.05)
                continue
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except (ConnectionError, OSError, RuntimeError) as exc:
                log.warning("redis bus: listening failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            if message is None:
                continue
            try:
                payload = json.loads(message["data"])
            except (TypeError, json.JSONDecodeError):
                log.warning("redis bus: ignoring a malformed message on %s", message.get("channel"))
                continue
            self._local.deliver_local(message["channel"], payload)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self._pubsub.aclose()
        await self._redis.aclose()


def make_bus(redis_url: str | None) -> MemoryBus | RedisBus:
    """`RedisBus` when a Redis URL is configured, else `MemoryBus`."""
    return RedisBus(redis_url) if redis_url else MemoryBus()
