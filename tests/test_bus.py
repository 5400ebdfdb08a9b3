"""The process bus: in memory, and over a real Redis between two independent clients."""
from __future__ import annotations

import asyncio

import pytest

from bot.bus import MemoryBus, RedisBus
from tests.services import redis_server


@pytest.fixture(scope="module")
def redis_url():
    with redis_server() as url:
        yield url


async def _next(sub, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(sub.queue.get(), timeout)


async def test_memory_bus_delivers_to_each_subscriber() -> None:
    bus = MemoryBus()
    a, b = await bus.subscribe("conv:1"), await bus.subscribe("conv:1")
    other = await bus.subscribe("conv:2")
    await bus.publish("conv:1", {"seq": 1})
    assert await _next(a) == {"seq": 1} and await _next(b) == {"seq": 1}
    assert other.queue.empty()
    await a.close()
    await bus.publish("conv:1", {"seq": 2})
    assert a.queue.empty() and await _next(b) == {"seq": 2}


async def test_redis_bus_between_two_processes_clients(redis_url: str) -> None:
    worker_a, worker_b = RedisBus(redis_url), RedisBus(redis_url)
    try:
        on_b = await worker_b.subscribe("conv:42")
        on_a = await worker_a.subscribe("conv:42")
        for seq in range(1, 6):
            await worker_a.publish("conv:42", {"seq": seq})
        assert [(await _next(on_b))["seq"] for _ in range(5)] == [1, 2, 3, 4, 5]
        assert [(await _next(on_a))["seq"] for _ in range(5)] == [1, 2, 3, 4, 5]
        # post: the same without waiting; echo=False reaches only the other process
        worker_a.post("conv:42", {"seq": 6}, echo=False)
        assert (await _next(on_b))["seq"] == 6
        worker_b.post("conv:42", {"seq": 7})
        assert (await _next(on_b))["seq"] == 7 and (await _next(on_a))["seq"] == 7
        await asyncio.sleep(0.2)
        assert on_a.queue.empty() and on_b.queue.empty()  # nobody got its own message back through Redis
        await on_b.close()
        await worker_a.publish("conv:42", {"seq": 8})
        assert (await _next(on_a))["seq"] == 8
        await asyncio.sleep(0.2)
        assert on_b.queue.empty() and on_a.queue.empty()
    finally:
        await worker_a.close()
        await worker_b.close()
