"""Messages between server processes: who needs to hear about a conversation's new events.

One process needs nothing but `MemoryBus`. With several worker processes (`--workers N`) set
`SHOPBOT_REDIS_URL` and `RedisBus` carries the same messages over Redis pub/sub, so a shopper on
one process and an agent on another see each other's messages at once. The database stays the
record (events have their `seq` there); the bus only says "look, something new", so a lost bus
message delays delivery until the next one or a reconnect, and never loses an event.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, Protocol

from bot import jsontext

log = logging.getLogger(__name__)


class Bus(Protocol):
    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        """Deliver `message` to every subscriber of `channel`, in this process and the others."""
        ...

    def post(self, channel: str, message: dict[str, Any], *, echo: bool = True) -> None:
        """`publish` without waiting; `echo=False`: only to the other processes (a sender that
        has delivered the message here itself)."""
        ...

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

    def post(self, channel: str, message: dict[str, Any], *, echo: bool = True) -> None:
        if echo:
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
    """Redis pub/sub. One connection listens for every channel this process has subscribers on.

    Redis may go away (a restart, a failover) while the server runs. Nothing here raises because
    of it: a publish that fails is logged and dropped (the database holds the event; the bus only
    says "look"), subscribing is recorded locally, and the listener reconnects with backoff and
    subscribes again to every channel that has local subscribers. `connected` says whether the
    listening connection was up at its last read; `healthy()` asks Redis now (`/readyz`).

    A message reaches this process's own subscribers at once, when it is published, and Redis
    carries it only to the other processes: each payload starts with this bus's random origin,
    and the listener drops its own without parsing them (a process subscribed to a conversation
    it also writes to used to read every frame of it back)."""

    BACKOFF_START_S = 0.1
    BACKOFF_MAX_S = 2.0
    LOG_EVERY_S = 10.0  # while Redis is down, one warning per this many seconds, not one per frame
    PUBLISH_PAUSE_S = 1.0  # after a failed publish, drop without trying for this long (no pile-up of attempts)

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # Fail fast while Redis is away (one retry covers a pooled connection that went stale
        # across a restart); the listener's own backoff does the waiting, not every publish.
        self._redis = redis.from_url(
            url, decode_responses=True, socket_connect_timeout=2, socket_timeout=10, retry=Retry(NoBackoff(), 1)
        )
        # What a lost or refused connection raises (redis-py wraps socket errors in its own types).
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._pubsub = self._redis.pubsub()
        self._local = MemoryBus()
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._broken = asyncio.Event()  # set when a subscribe failed: the reader reconnects at once
        self.connected = False
        self._last_warning = 0.0
        self._publish_paused_until = 0.0
        self.publish_failures = 0
        self._outbox: list[tuple[str, str, asyncio.Future[None] | None]] = []  # (channel, payload, done) waiting to be sent
        self._publisher: asyncio.Task[None] | None = None
        self._origin = secrets.token_hex(8)  # each payload is "<origin> <JSON>"

    def _warn(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_warning >= self.LOG_EVERY_S:
            self._last_warning = now
            log.warning("redis bus: %s failed (%s: %s); the database stays the record, retrying", what, type(exc).__name__, exc)

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        """Publish; when Redis is unreachable the message is dropped and logged, never raised.

        Messages queue in order and one task sends whatever has queued as one pipeline (one
        connection, one round trip), so a burst of frames never needs a connection each: redis-py's
        pool holds 100, and hundreds of concurrent publishes used to exhaust it. Returns once the
        message's batch was sent or dropped."""
        done = self._queue(channel, message, echo=True, wait=True)
        if done is not None:
            await asyncio.shield(done)

    def post(self, channel: str, message: dict[str, Any], *, echo: bool = True) -> None:
        self._queue(channel, message, echo=echo, wait=False)

    def _queue(self, channel: str, message: dict[str, Any], *, echo: bool, wait: bool) -> asyncio.Future[None] | None:
        if echo:
            self._local.deliver_local(channel, message)
        if time.monotonic() < self._publish_paused_until:
            self.publish_failures += 1
            return None
        done = asyncio.get_running_loop().create_future() if wait else None
        self._outbox.append((channel, f"{self._origin} {jsontext.dumps(message)}", done))
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.create_task(self._publish_queued())
        return done

    async def _publish_queued(self) -> None:
        while self._outbox:
            batch, self._outbox = self._outbox, []
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for channel, data, _ in batch:
                        pipe.publish(channel, data)
                    await pipe.execute()
            except self._errors as exc:
                self.publish_failures += len(batch)
                self._publish_paused_until = time.monotonic() + self.PUBLISH_PAUSE_S
                self._warn("publish", exc)
            finally:
                for _, _, done in batch:
                    if done is not None and not done.done():
                        done.set_result(None)

    async def subscribe(self, channel: str) -> Subscription:
        async with self._lock:
            first = not self._local.has_subscribers(channel)
            sub = await self._local.subscribe(channel)
            if first:
                try:
                    await self._pubsub.subscribe(channel)
                except self._errors as exc:  # the reader subscribes again once Redis is back
                    self._warn("subscribe", exc)
                    self.connected = False
                    self._broken.set()
            if self._reader is None:
                self._reader = asyncio.create_task(self._read())
        local_close = sub._on_close

        async def remove(s: Subscription) -> None:
            async with self._lock:
                await local_close(s)
                if not self._local.has_subscribers(channel):
                    try:
                        await self._pubsub.unsubscribe(channel)
                    except self._errors as exc:  # a reconnect subscribes only to channels still wanted
                        self._warn("unsubscribe", exc)

        sub._on_close = remove
        return sub

    async def _reconnect(self) -> None:
        """A new listening connection subscribed to every channel with local subscribers; retried
        with exponential backoff until Redis answers."""
        delay = self.BACKOFF_START_S
        while True:
            old = None
            try:
                await self._redis.ping()  # outside the lock: subscribe() callers must not wait on it
                async with self._lock:
                    old, self._pubsub = self._pubsub, self._redis.pubsub()
                    channels = list(self._local._subscribers)
                    if channels:
                        await self._pubsub.subscribe(*channels)
            except self._errors as exc:
                self._warn("reconnect", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.BACKOFF_MAX_S)
                continue
            finally:
                if old is not None:
                    await self._close_quietly(old)
            self._broken.clear()
            self.connected = True
            self._publish_paused_until = 0.0
            log.info("redis bus: connected again, %d channel(s) subscribed", len(channels))
            return

    async def _close_quietly(self, pubsub: Any) -> None:
        try:
            await pubsub.aclose()
        except self._errors:
            pass  # its connection is already gone: nothing to close cleanly

    async def _read(self) -> None:
        while True:
            if self._broken.is_set():
                await self._reconnect()
            if not self._pubsub.subscribed:
                await asyncio.sleep(0.05)
                continue
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except (*self._errors, RuntimeError) as exc:  # RuntimeError: redis-py's 'connection not set'
                self.connected = False
                self._warn("listening", exc)
                await self._reconnect()
                continue
            self.connected = True
            if message is None:
                continue
            origin, _, body = str(message["data"]).partition(" ")
            if origin == self._origin:
                continue  # our own: delivered here when it was published
            try:
                payload = jsontext.loads(body)
            except jsontext.JSONDecodeError:
                log.warning("redis bus: ignoring a malformed message on %s", message.get("channel"))
                continue
            self._local.deliver_local(message["channel"], payload)

    async def healthy(self) -> bool:
        """Redis answers now and the listener is connected (or has nothing to listen to yet)."""
        try:
            answered = bool(await asyncio.wait_for(self._redis.ping(), timeout=2))
        except (*self._errors, asyncio.TimeoutError):
            return False
        return answered and (self._reader is None or self.connected)

    async def close(self) -> None:
        if self._publisher is not None:
            await asyncio.gather(self._publisher, return_exceptions=True)  # what is queued goes out first
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self._close_quietly(self._pubsub)
        try:
            await self._redis.aclose()
        except self._errors:
            pass  # shutting down with Redis gone: nothing left to close cleanly


def make_bus(redis_url: str | None) -> MemoryBus | RedisBus:
    """`RedisBus` when a Redis URL is configured, else `MemoryBus`."""
    return RedisBus(redis_url) if redis_url else MemoryBus()
