"""Two server processes sharing one database and Redis: a shopper on one, an agent on the other,
see each other's messages at once, and the handoff state holds across processes."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.databases import home_with_agent
from tests.services import free_port, redis_server, wait_healthy
from tests.test_agents_server import AgentSocket, last, login
from tests.test_protocol_ws import Client


def _start(port: int, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.scripted_app:app", "--factory", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


@pytest.fixture()
def two_workers(tmp_path, new_database) -> Iterator[tuple[str, str]]:
    home, url = home_with_agent(tmp_path, new_database)
    with redis_server() as redis_url:
        env = {**os.environ, "SHOPBOT_HOME": str(home), "SHOPBOT_DATABASE_URL": url, "SHOPBOT_REDIS_URL": redis_url}
        ports = [free_port(), free_port()]
        procs = [_start(port, env) for port in ports]
        try:
            for port, proc in zip(ports, procs):
                wait_healthy(port, proc, lambda: proc.stderr.read().decode())  # type: ignore[union-attr]
            yield f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}"
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=20)


async def test_shopper_and_agent_on_different_processes(two_workers: tuple[str, str]) -> None:
    shopper_side, agent_side = two_workers
    shopper = await Client.connect(shopper_side.replace("http", "ws") + "/ws")
    session_id = (await shopper.start())["session_id"]
    frames = await shopper.turn("human please", "m1")
    assert any(f["type"] == "handoff" and f["state"] == "handoff_requested" for f in frames)
    async with httpx.AsyncClient(base_url=agent_side) as http:
        alex = await login(http, "Alex")
        queue = (await http.get("/api/conversations", params={"state": "handoff_requested"}, headers=alex)).json()
        assert session_id in [e["conversation_id"] for e in queue]
        agent = await AgentSocket.open(agent_side, alex)
        await agent.send({"type": "watch", "conversation_id": session_id})
        taken = await http.post(f"/api/conversations/{session_id}/takeover", headers=alex)
        assert taken.json()["state"] == "human"
        joined = await last(shopper, lambda f: f["type"] == "handoff")
        assert joined["state"] == "human" and joined["agent"] == "Alex"

        await shopper.send({"type": "user_uttered", "text": "hello from the other worker", "message_id": "m2"})
        seen = await agent.until(lambda f: f["type"] == "event" and f["event"]["type"] == "user_uttered")
        assert seen["event"]["text"] == "hello from the other worker"
        await agent.send({"type": "agent_uttered", "conversation_id": session_id, "text": "Alex here, on worker two."})
        said = await last(shopper, lambda f: f["type"] == "agent_uttered")
        assert said == {**said, "text": "Alex here, on worker two.", "agent": "Alex"}
        assert not [f for f in shopper.frames if f["type"] == "bot_uttered" and "other worker" in f["text"]]

        # Invalid moves are refused on either process.
        other = httpx.AsyncClient(base_url=shopper_side)
        assert (await other.post(f"/api/conversations/{session_id}/takeover", headers=alex)).status_code == 409
        await other.aclose()

        await http.post(f"/api/conversations/{session_id}/release", headers=alex)
        back = await last(shopper, lambda f: f["type"] == "handoff")
        assert back["state"] == "bot"
        frames = await shopper.turn("bot again?", "m3")
        assert any(f["type"] == "bot_uttered" and f["text"] == "You said: bot again?" for f in frames)
        await agent.ws.close()
    await shopper.close()


async def test_takeover_on_another_process_mid_answer_gets_its_own_seq(two_workers: tuple[str, str]) -> None:
    """The bot streams on one worker; an agent takes over through the other, which has not seen
    the streamed frames. The handoff event must not reuse a number a delta already had (the
    widget skips numbers it has seen), so the turn's transient numbers are reserved up front."""
    shopper_side, agent_side = two_workers
    shopper = await Client.connect(shopper_side.replace("http", "ws") + "/ws")
    session_id = (await shopper.start())["session_id"]
    long_text = " ".join(f"word{i}" for i in range(60))  # 60+ deltas, 10 ms apart
    await shopper.send({"type": "user_uttered", "text": long_text, "message_id": "long"})
    await shopper.until(lambda f: f["type"] == "bot_delta")
    async with httpx.AsyncClient(base_url=agent_side) as http:
        alex = await login(http, "Alex")
        taken = await http.post(f"/api/conversations/{session_id}/takeover", headers=alex)
        assert taken.json()["state"] == "human"
    await last(shopper, lambda f: f["type"] == "handoff" and f["state"] == "human")
    seqs = [f["seq"] for f in shopper.frames if f["type"] != "session_confirm"]
    assert len(seqs) == len(set(seqs)), sorted(s for s in seqs if seqs.count(s) > 1)
    assert seqs == sorted(seqs)
    await shopper.close()
