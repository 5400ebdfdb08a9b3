"""Protocol v1 over a real WebSocket against a running uvicorn server (scripted engine)."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from bot.shopper_socket import ChatLimits
from policies.moderation_api import AllowAll
from server import create_app
from tests.scripted_engine import ScriptedEngine


class Client:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> "Client":
        return cls(await websockets.connect(url, **kwargs))

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(frame if isinstance(frame, (str, bytes)) else json.dumps(frame))

    async def recv(self, timeout: float = 10) -> dict[str, Any]:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def start(self, session_id: str | None = None, last_seq: int | None = None, token: str | None = None) -> dict[str, Any]:
        await self.send({"type": "session_request", "session_id": session_id, "last_seq": last_seq, "token": token})
        confirm = await self.recv()
        assert confirm["type"] == "session_confirm", confirm
        return confirm

    async def until(self, predicate: Any, timeout: float = 15) -> list[dict[str, Any]]:
        got = []
        while True:
            frame = await self.recv(timeout)
            got.append(frame)
            if predicate(frame):
                return got

    async def turn(self, text: str, message_id: str | None = None, payload: str | None = None) -> list[dict[str, Any]]:
        await self.send({"type": "user_uttered", "text": text, "message_id": message_id, "payload": payload})
        return await self.until(idle)

    async def close(self) -> None:
        await self.ws.close()


def idle(frame: dict[str, Any]) -> bool:
    return frame["type"] == "status" and frame["state"] == "idle"


@pytest.fixture()
def server(shopbot_home, running_server):
    engine = ScriptedEngine()
    # Every test client comes from 127.0.0.1: lift the per-address limits (tested on their own).
    limits = ChatLimits(ip_rate=1000, ip_burst=1000, connect_rate=1000, connect_burst=1000)
    handle = running_server(lambda: create_app(shopbot_home, engine=engine, moderator=AllowAll(), limits=limits))
    handle.engine = engine
    return handle


async def test_streaming_order_and_cards(server) -> None:
    client = await Client.connect(server.ws_url)
    confirm = await client.start()
    assert confirm["seq"] == 0 and confirm["session_id"]
    frames = await client.turn("any lamp for my desk?", "m1")
    types = [f["type"] for f in frames]
    assert types[:4] == ["user_uttered", "status", "status", "bot_delta"]
    assert frames[1]["state"] == "thinking"
    assert frames[2] == {**frames[2], "state": "tool", "tool": "search_products", "label": "Searching products..."}
    assert types[-2:] == ["bot_uttered", "status"]
    deltas = [f for f in frames if f["type"] == "bot_delta"]
    reply = frames[-2]
    assert len(deltas) > 3 and all(d["turn_id"] == reply["turn_id"] for d in deltas)
    assert reply["text"] == "".join(d["text"] for d in deltas) == "You said: any lamp for my desk?"
    assert [c["id"] for c in reply["cards"]] == ["lamp-1", "lamp-2"]
    assert set(reply["cards"][0]) >= {"id", "name", "price", "image", "options"}
    assert reply["quick_replies"][0] == {"title": "Yes", "payload": "yes"}
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) and seqs[0] == 1
    await client.close()


async def test_resume_after_dropped_connection_no_gap_no_duplicate(server) -> None:
    client = await Client.connect(server.ws_url)
    session_id = (await client.start())["session_id"]
    await client.turn("first question", "m1")
    await client.send({"type": "user_uttered", "text": "second question is longer than the first", "message_id": "m2"})
    seen = await client.until(lambda f: f["type"] == "bot_delta")  # drop mid-answer
    last_seq = max(f["seq"] for f in client.frames)
    client.ws.transport.abort()  # a dropped connection: no close handshake
    await asyncio.sleep(0.5)  # the answer goes on without a socket

    again = await Client.connect(server.ws_url)
    confirm = await again.start(session_id, last_seq)
    assert confirm["session_id"] == session_id and confirm["seq"] == last_seq
    replay = await again.until(lambda f: f["type"] == "bot_uttered")
    assert [f["type"] for f in replay] == ["bot_uttered"]
    assert replay[0]["text"] == "You said: second question is longer than the first"
    assert replay[0]["seq"] > last_seq
    # The whole stored history, once and in order, from a fresh start:
    fresh = await Client.connect(server.ws_url)
    await fresh.start(session_id, 0)
    history = await fresh.until(lambda f: f["type"] == "bot_uttered" and "second" in f["text"])
    assert [f["type"] for f in history] == ["user_uttered", "bot_uttered", "user_uttered", "bot_uttered"]
    seqs = [f["seq"] for f in history]
    assert seqs == sorted(set(seqs))
    # ... the same over REST
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        page = (await http.get(f"/api/sessions/{session_id}/events", params={"after_seq": 0})).json()
        assert [e["seq"] for e in page["events"]] == seqs
        later = (await http.get(f"/api/sessions/{session_id}/events", params={"after_seq": seqs[1]})).json()
        assert [e["seq"] for e in later["events"]] == seqs[2:]
        assert (await http.get("/api/sessions/nope/events")).status_code == 404
    # and the conversation goes on
    frames = await again.turn("third", "m3")
    assert frames[-2]["text"] == "You said: third" and frames[0]["seq"] > replay[0]["seq"]
    del seen
    for c in (again, fresh):
        await c.close()


async def test_resend_with_same_message_id_is_idempotent(server) -> None:
    client = await Client.connect(server.ws_url)
    session_id = (await client.start())["session_id"]
    await client.send({"type": "user_uttered", "text": "hello", "message_id": "dup"})
    await client.send({"type": "user_uttered", "text": "hello", "message_id": "dup"})  # while queued
    await client.until(idle)
    await client.send({"type": "user_uttered", "text": "hello", "message_id": "dup"})  # after stored
    await client.close()
    again = await Client.connect(server.ws_url)
    await again.start(session_id, 0)
    await again.send({"type": "user_uttered", "text": "hello", "message_id": "dup"})  # after reconnect
    await again.send({"type": "user_uttered", "text": "next", "message_id": "n1"})
    frames = await again.until(lambda f: f["type"] == "bot_uttered" and f["text"].endswith("next"))
    assert [f["type"] for f in frames if f["type"] in ("user_uttered", "bot_uttered")] == ["user_uttered", "bot_uttered"] * 2
    assert server.engine.turns == 2
    await again.close()


async def test_messages_sent_mid_answer_are_queued_in_order(server) -> None:
    client = await Client.connect(server.ws_url)
    await client.start()
    for i in range(4):
        await client.send({"type": "user_uttered", "text": f"message number {i}", "message_id": f"q{i}"})
    frames: list[dict[str, Any]] = []
    for _ in range(4):
        frames += await client.until(idle)
    # Each turn is complete before the next starts: echo, thinking, deltas, reply, idle.
    turns: list[list[dict[str, Any]]] = []
    for f in frames:
        if f["type"] == "user_uttered":
            turns.append([])
        turns[-1].append(f)
    assert len(turns) == 4
    for i, turn in enumerate(turns):
        assert turn[0]["text"] == f"message number {i}"
        assert turn[-1]["state"] == "idle" and turn[-2]["type"] == "bot_uttered"
        assert turn[-2]["text"] == f"You said: message number {i}"
        assert {f["turn_id"] for f in turn if f["type"] in ("bot_delta", "bot_uttered")} == {turn[-2]["turn_id"]}
    seqs = [f["seq"] for f in frames]
    assert seqs == sorted(set(seqs))
    await client.close()


async def test_fifty_concurrent_sessions_without_cross_talk(server) -> None:
    async def one(n: int) -> tuple[str, list[str]]:
        client = await Client.connect(server.ws_url)
        session_id = (await client.start())["session_id"]
        replies = []
        for k in range(2):
            frames = await client.turn(f"shopper {n} asks {k}", f"s{n}-{k}")
            assert all(f["text"] == f"shopper {n} asks {k}" for f in frames if f["type"] == "user_uttered")
            replies.append(frames[-2]["text"])
            deltas = "".join(f["text"] for f in frames if f["type"] == "bot_delta")
            assert deltas == frames[-2]["text"]
        await client.close()
        return session_id, replies

    results = await asyncio.gather(*(one(n) for n in range(50)))
    assert len({sid for sid, _ in results}) == 50
    for n, (_, replies) in enumerate(results):
        assert replies == [f"You said: shopper {n} asks {k}" for k in range(2)]


async def test_handoff_from_engine_sets_state_and_silences_bot(server) -> None:
    from bot.db import Database
    from bot.sessions import load_session

    client = await Client.connect(server.ws_url)
    session_id = (await client.start())["session_id"]
    frames = await client.turn("human please", "h1")
    assert [f["type"] for f in frames][-3:] == ["bot_uttered", "handoff", "status"]
    assert frames[-2]["state"] == "handoff_requested"
    db = Database(server.app.state.db.url)
    assert (await load_session(db, session_id)).conversation_state == "handoff_requested"
    turns_before = server.engine.turns
    await client.send({"type": "user_uttered", "text": "are you there?", "message_id": "h2"})
    echo = await client.recv()
    assert echo["type"] == "user_uttered"
    with pytest.raises(asyncio.TimeoutError):
        await client.recv(timeout=0.5)
    assert server.engine.turns == turns_before  # the bot stays quiet while a human is coming
    # an agent message reaches the shopper (moderated, stored, seq'd)
    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
        server.app.state.pipeline.agent_say(session_id, "ana", "Hi, Ana here."), server.server_loop))
    agent = await client.recv()
    assert agent["type"] == "agent_uttered" and agent["agent"] == "ana" and agent["seq"] > echo["seq"]
    await db.dispose()
    await client.close()


async def test_agent_takeover_release_reach_the_shopper(server) -> None:
    from bot.handoff import Action

    def on_server(coro):
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, server.server_loop))

    pipeline = server.app.state.pipeline
    client = await Client.connect(server.ws_url)
    session_id = (await client.start())["session_id"]
    await client.turn("hello", "a1")
    await on_server(pipeline.change_ownership(session_id, Action.takeover, agent="ana"))
    assert (await client.recv()) == {**client.frames[-1], "type": "handoff", "state": "human"}
    await client.send({"type": "user_uttered", "text": "is a person there?", "message_id": "a2"})
    assert (await client.recv())["type"] == "user_uttered"
    with pytest.raises(asyncio.TimeoutError):  # a human owns it: no bot turn
        await client.recv(timeout=0.4)
    await on_server(pipeline.agent_say(session_id, "ana", "Yes, Ana here."))
    assert (await client.recv())["type"] == "agent_uttered"
    await on_server(pipeline.change_ownership(session_id, Action.release, agent="ana"))
    assert (await client.recv())["state"] == "bot"
    frames = await client.turn("back to the bot", "a3")
    assert frames[-2]["text"] == "You said: back to the bot"
    await client.close()
