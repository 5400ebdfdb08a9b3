"""Fault: Redis restarts in the middle of a conversation between two worker processes.

While Redis is down, turns still complete and are stored (the database is the record) and
`/readyz` says so; once it is back on the same port, frames cross between the workers again with no
process restarted, and a shopper who reconnects gets every stored event exactly once, in order.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.bus import RedisBus
from tests.databases import home_with_agent
from tests.services import _wait_port, free_port, wait_healthy
from tests.test_agents_server import AgentSocket, login
from tests.test_protocol_ws import Client, idle


@dataclass
class RestartableRedis:
    """A redis-server on a fixed loopback port that can be stopped and started again there."""

    port: int
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (scripts/system-deps.sh installs Debian's redis-server)")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture()
def redis_process() -> Iterator[RestartableRedis]:
    server = RestartableRedis(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _start_worker(port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "wb") as log_file:  # a file, not a pipe: a chatty worker never blocks on it
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "tests.scripted_app:app", "--factory", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=log_file,
        )


@pytest.fixture()
def workers(tmp_path: Path, new_database: Any, redis_process: RestartableRedis) -> Iterator[tuple[str, str]]:
    """Two server processes (scripted engine) sharing one database and the restartable Redis."""
    home, url = home_with_agent(tmp_path, new_database)
    env = {**os.environ, "SHOPBOT_HOME": str(home), "SHOPBOT_DATABASE_URL": url, "SHOPBOT_REDIS_URL": redis_process.url}
    ports = [free_port(), free_port()]
    logs = [tmp_path / f"worker-{n}.log" for n in range(2)]
    procs = [_start_worker(port, env, log) for port, log in zip(ports, logs)]
    try:
        for port, proc, log in zip(ports, procs, logs):
            wait_healthy(port, proc, log.read_text)
        yield f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}"
        assert all(proc.poll() is None for proc in procs), "a worker exited during the test"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)


async def _readyz(base: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        return (await http.get("/readyz")).json()


async def _until_redis(base: str, state: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        report = await _readyz(base)
        if report.get("redis") == state:
            return report
        assert time.monotonic() < deadline, f"{base}/readyz never reported redis {state}: {report}"
        await asyncio.sleep(0.1)


async def _agent_sees(agent: AgentSocket, text: str, timeout: float) -> bool:
    """Read the agent socket until a user_uttered event with `text` arrives, or time runs out."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = await agent.recv(timeout=left)
        except asyncio.TimeoutError:
            return False
        if frame.get("type") == "event" and frame["event"].get("type") == "user_uttered" and frame["event"].get("text") == text:
            return True
    return False


async def test_turns_survive_a_redis_restart_and_delivery_resumes(workers: tuple[str, str], redis_process: RestartableRedis) -> None:
    shopper_side, agent_side = workers
    shopper = await Client.connect(shopper_side.replace("http", "ws") + "/ws")
    session_id = (await shopper.start())["session_id"]
    await shopper.turn("hello before the restart", "m1")
    resume_from = max(f["seq"] for f in shopper.frames)
    async with httpx.AsyncClient(base_url=agent_side, timeout=10) as http:
        alex = await login(http, "Alex")
        agent = await AgentSocket.open(agent_side, alex)
        await agent.send({"type": "watch", "conversation_id": session_id})
        # Delivery across the workers works before the fault (the watch subscribes on worker B).
        sent = 0
        deadline = time.monotonic() + 15
        while True:
            sent += 1
            await shopper.turn(f"before {sent}", f"b{sent}")
            if await _agent_sees(agent, f"before {sent}", timeout=1.0):
                break
            assert time.monotonic() < deadline, "the agent on worker B never saw the shopper's messages"

        redis_process.stop()
        # Redis is down: a turn on worker A still completes and is stored; readiness reports it.
        frames = await shopper.turn("while redis is down", "m2")
        assert any(f["type"] == "bot_uttered" and f["text"] == "You said: while redis is down" for f in frames)
        assert not [f for f in frames if f["type"] == "error"]
        stored = (await http.get(f"/api/sessions/{session_id}/events", params={"after_seq": 0})).json()["events"]
        assert [e["text"] for e in stored if e["type"] == "bot_uttered"][-1] == "You said: while redis is down"
        for base in workers:
            report = await _until_redis(base, "unavailable")
            assert report["status"] == "ready" and report["problems"] == []  # the workers stay in rotation

        redis_process.start()  # same port, empty: every subscription must be made again
        for base in workers:
            await _until_redis(base, "ok")
        # Shopper (worker A) -> agent (worker B): the shopper's new messages reach the agent again.
        deadline = time.monotonic() + 20
        n = 0
        while True:
            n += 1
            await shopper.turn(f"after {n}", f"a{n}")
            if await _agent_sees(agent, f"after {n}", timeout=1.0):
                break
            assert time.monotonic() < deadline, "delivery from worker A to worker B did not resume after the restart"
        # Agent (worker B) -> shopper (worker A): take over and speak; the shopper on A hears it.
        taken = await http.post(f"/api/conversations/{session_id}/takeover", headers=alex)
        assert taken.status_code == 200 and taken.json()["state"] == "human", taken.text
        deadline = time.monotonic() + 20
        k = 0
        heard = None
        while heard is None:
            k += 1
            await agent.send({"type": "agent_uttered", "conversation_id": session_id, "text": f"Alex here {k}"})
            try:
                heard = (await shopper.until(lambda f: f["type"] == "agent_uttered", timeout=1.0))[-1]
            except asyncio.TimeoutError:
                assert time.monotonic() < deadline, "delivery from worker B to worker A did not resume after the restart"
        assert heard["agent"] == "Alex" and heard["text"].startswith("Alex here")
        await agent.ws.close()

        # A shopper reconnecting (to the other worker) gets every stored event after its resume
        # point exactly once, in order: the same list the database holds.
        stored = (await http.get(f"/api/sessions/{session_id}/events", params={"after_seq": 0})).json()["events"]
    await shopper.close()
    again = await Client.connect(agent_side.replace("http", "ws") + "/ws")
    confirm = await again.start(session_id=session_id, last_seq=resume_from)
    expected = [e for e in stored if e["seq"] > resume_from]
    replay = [await again.recv() for _ in expected]
    assert replay == expected
    seqs = [e["seq"] for e in stored]
    assert seqs == sorted(set(seqs)) and confirm["head"] >= seqs[-1]
    texts = [e["text"] for e in stored if e["type"] == "user_uttered"]
    assert texts == ["hello before the restart", *[f"before {i}" for i in range(1, sent + 1)], "while redis is down", *[f"after {i}" for i in range(1, n + 1)]]
    assert [e["text"] for e in stored if e["type"] == "agent_uttered"] == [f"Alex here {i}" for i in range(1, k + 1)]
    with pytest.raises(asyncio.TimeoutError):  # nothing more: no duplicate after the replay
        await again.recv(timeout=0.5)
    await again.close()


async def test_redis_bus_publish_never_raises_and_resubscribes(redis_process: RestartableRedis) -> None:
    """The bus itself: a publish while Redis is down is dropped and logged, not raised; once
    Redis is back the listener has subscribed again without anyone asking."""
    sender, receiver = RedisBus(redis_process.url), RedisBus(redis_process.url)
    try:
        sub = await receiver.subscribe("conversation:x")
        await sender.publish("conversation:x", {"n": 0})
        assert (await asyncio.wait_for(sub.queue.get(), 5)) == {"n": 0}
        redis_process.stop()
        await sender.publish("conversation:x", {"n": 1})  # no exception
        assert sender.publish_failures >= 1 and not await sender.healthy()
        late = await receiver.subscribe("conversation:late")  # subscribing while down does not raise either
        redis_process.start()
        deadline = time.monotonic() + 15
        got: dict[str, Any] | None = None
        n = 1
        while got is None:
            n += 1
            await sender.publish("conversation:late", {"n": n})
            try:
                got = await asyncio.wait_for(late.queue.get(), 0.5)
            except asyncio.TimeoutError:
                assert time.monotonic() < deadline, "the listener did not subscribe again after the restart"
        await sender.publish("conversation:x", {"n": "after"})
        while (message := await asyncio.wait_for(sub.queue.get(), 5)) != {"n": "after"}:
            assert message["n"] != 1  # what was published while Redis was down is gone, not replayed late
        assert await receiver.healthy()
    finally:
        await sender.close()
        await receiver.close()
