"""Support agents against a running server: auth boundaries, every transition over REST, live
messages both ways, and takeovers that land while the bot is answering (the bot stays silent)."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from bot.agents import add_agent
from bot.auth import issue_shopper_token
from bot.db import Database
from bot.shopper_socket import ChatLimits
from policies.moderation_api import AllowAll
from server import create_app
from tests.scripted_engine import ScriptedEngine
from tests.test_protocol_ws import Client, idle


@pytest.fixture()
def server(shopbot_home, running_server):
    engine = ScriptedEngine(delay=0.02)
    # Rate limits are tested on their own; here a shopper may type fast.
    limits = ChatLimits(ip_rate=1000, ip_burst=1000, connect_rate=1000, connect_burst=1000, session_rate=1000, session_burst=1000)
    handle = running_server(lambda: create_app(shopbot_home, engine=engine, moderator=AllowAll(), limits=limits))
    handle.engine = engine

    async def add() -> None:
        db = Database(shopbot_home.database_url)
        await add_agent(db, "Alex", "alex-password")
        await add_agent(db, "Sam", "sam-password")
        await db.dispose()

    asyncio.run(add())
    return handle


async def last(client: Client, predicate: Any) -> dict[str, Any]:
    """The first frame from now on that matches."""
    return (await client.until(predicate))[-1]


async def bot_frames_after_takeover(client: Client) -> list[dict[str, Any]]:
    """Read until the socket is quiet; the bot frames numbered after the `human` handoff event."""
    while True:
        try:
            await client.recv(timeout=0.5)
        except asyncio.TimeoutError:
            break
    handoff_seq = next(f["seq"] for f in client.frames if f["type"] == "handoff" and f["state"] == "human")
    return [f for f in client.frames if f["type"] in ("bot_delta", "bot_uttered") and f["seq"] > handoff_seq]


async def login(http: httpx.AsyncClient, name: str) -> dict[str, str]:
    response = await http.post("/api/agent/login", json={"name": name, "password": f"{name.lower()}-password"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


class AgentSocket:
    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, base: str, headers: dict[str, str]) -> "AgentSocket":
        ws = await websockets.connect(base.replace("http", "ws") + "/agent/ws")
        sock = cls(ws)
        await sock.send({"type": "agent_hello", "token": headers["Authorization"].split()[1]})
        ready = await sock.recv()
        assert ready["type"] == "agent_ready", ready
        return sock

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = 10) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def until(self, predicate: Any, timeout: float = 10) -> dict[str, Any]:
        while True:
            frame = await self.recv(timeout)
            if predicate(frame):
                return frame


async def test_auth_boundaries(server) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        assert (await http.post("/api/agent/login", json={"name": "Alex", "password": "wrong"})).status_code == 401
        assert (await http.get("/api/conversations")).status_code == 401
        shopper_token = issue_shopper_token("store-secret", "ann_lee_1111")
        assert (await http.get("/api/conversations", headers={"Authorization": f"Bearer {shopper_token}"})).status_code == 401
        headers = await login(http, "Alex")
        assert (await http.get("/api/conversations", headers=headers)).status_code == 200
        assert (await http.post("/api/conversations/nope/takeover", headers=headers)).status_code == 404
    # An agent token never opens a shopper session.
    client = await Client.connect(server.ws_url)
    await client.send({"type": "session_request", "session_id": None, "last_seq": None, "token": headers["Authorization"].split()[1]})
    frame = await client.recv()
    assert frame["type"] == "error"
    await client.close()
    # And a bad token never opens the agent socket.
    ws = await websockets.connect(server.base_url.replace("http", "ws") + "/agent/ws")
    await ws.send(json.dumps({"type": "agent_hello", "token": shopper_token}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "error"
    await ws.close()


async def test_flag_takeover_live_messages_and_hand_back(server) -> None:
    shopper = await Client.connect(server.ws_url)
    session_id = (await shopper.start())["session_id"]
    frames = await shopper.turn("human please", "m1")
    assert frames[-2] == {**frames[-2], "type": "handoff", "state": "handoff_requested"}
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        alex = await login(http, "Alex")
        queue = (await http.get("/api/conversations", params={"state": "handoff_requested"}, headers=alex)).json()
        entry = next(e for e in queue if e["conversation_id"] == session_id)
        assert entry["reason"] == "shopper asked for a person" and entry["waiting_s"] >= 0 and entry["summary"]
        agent = await AgentSocket.open(server.base_url, alex)
        await agent.send({"type": "watch", "conversation_id": session_id})
        await asyncio.sleep(0.2)

        taken = await http.post(f"/api/conversations/{session_id}/takeover", headers=alex)
        assert taken.json() == {"conversation_id": session_id, "state": "human", "agent": "Alex"}
        joined = await last(shopper, lambda f: f["type"] == "handoff")
        assert joined["state"] == "human" and joined["agent"] == "Alex"

        # The shopper's message reaches the agent; the bot says nothing.
        turns_before = server.engine.turns
        await shopper.send({"type": "user_uttered", "text": "hello, anyone?", "message_id": "m2"})
        seen = await agent.until(lambda f: f["type"] == "event" and f["event"]["type"] == "user_uttered")
        assert seen["event"]["text"] == "hello, anyone?"
        # The agent's message reaches the shopper with the agent's name.
        await agent.send({"type": "agent_uttered", "conversation_id": session_id, "text": "Hi, I'm Alex. How can I help?"})
        said = await last(shopper, lambda f: f["type"] == "agent_uttered")
        assert said["text"] == "Hi, I'm Alex. How can I help?" and said["agent"] == "Alex"
        assert server.engine.turns == turns_before

        # Sam does not own it: no messages, no release, no resolve.
        sam = await login(http, "Sam")
        assert (await http.post(f"/api/conversations/{session_id}/release", headers=sam)).json()["detail"]["code"] == "not_owner"
        assert (await http.post(f"/api/conversations/{session_id}/takeover", headers=sam)).status_code == 409
        sam_socket = await AgentSocket.open(server.base_url, sam)
        await sam_socket.send({"type": "agent_uttered", "conversation_id": session_id, "text": "me too"})
        assert (await sam_socket.recv())["code"] == "not_owner"

        notes = await http.post(f"/api/conversations/{session_id}/notes", json={"text": "wants a refund exception"}, headers=alex)
        assert notes.status_code == 201
        detail = (await http.get(f"/api/conversations/{session_id}", headers=alex)).json()
        assert detail["notes"][0]["text"] == "wants a refund exception"
        assert [e["type"] for e in detail["events"] if e["type"] in ("user_uttered", "agent_uttered")] == ["user_uttered", "user_uttered", "agent_uttered"]

        released = await http.post(f"/api/conversations/{session_id}/release", headers=alex)
        assert released.json()["state"] == "bot"
        back = await last(shopper, lambda f: f["type"] == "handoff")
        assert back["state"] == "bot"
        frames = await shopper.turn("are you back?", "m3")
        assert any(f["type"] == "bot_uttered" and f["text"] == "You said: are you back?" for f in frames)
        # Notes never reach the shopper.
        assert all("refund exception" not in json.dumps(f) for f in shopper.frames)
        await agent.ws.close()
        await sam_socket.ws.close()
    await shopper.close()


async def test_resolve_then_invalid_transitions(server) -> None:
    shopper = await Client.connect(server.ws_url)
    session_id = (await shopper.start())["session_id"]
    await shopper.turn("human please", "m1")
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        alex = await login(http, "Alex")
        assert (await http.post(f"/api/conversations/{session_id}/release", headers=alex)).json()["detail"]["code"] == "invalid_transition"
        await http.post(f"/api/conversations/{session_id}/takeover", headers=alex)
        assert (await http.post(f"/api/conversations/{session_id}/resolve", headers=alex)).json()["state"] == "resolved"
        again = await http.post(f"/api/conversations/{session_id}/takeover", headers=alex)
        assert again.status_code == 409 and again.json()["detail"]["code"] == "resolved"
    # The shopper writes again: the bot is back.
    frames = await shopper.turn("one more question", "m2")
    assert any(f["type"] == "bot_uttered" for f in frames)
    await shopper.close()


async def test_takeover_while_streaming_stops_the_bot(server) -> None:
    server.engine.delay = 0.05  # a slow reply: about 2 s of deltas
    shopper = await Client.connect(server.ws_url)
    session_id = (await shopper.start())["session_id"]
    long_text = " ".join(f"word{i}" for i in range(40))
    await shopper.send({"type": "user_uttered", "text": long_text, "message_id": "m1"})
    await last(shopper, lambda f: f["type"] == "bot_delta")
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        alex = await login(http, "Alex")
        taken = await http.post(f"/api/conversations/{session_id}/takeover", headers=alex)
        assert taken.status_code == 200
        # Messages sent during and right after the takeover are all kept.
        for k in range(5):
            await shopper.send({"type": "user_uttered", "text": f"still there {k}?", "message_id": f"r{k}"})
        await asyncio.sleep(1.5)
        late = await bot_frames_after_takeover(shopper)
        assert not late, late  # the shopper got nothing of the bot after the handoff event
        assert sum(f["type"] == "bot_delta" for f in shopper.frames) < 40  # the reply was cut short
        detail = (await http.get(f"/api/conversations/{session_id}", headers=alex)).json()
        stored = detail["events"]
        assert not [e for e in stored if e["type"] == "bot_uttered"]  # no half-finished reply stored as complete
        texts = [e["text"] for e in stored if e["type"] == "user_uttered"]
        assert texts == [long_text] + [f"still there {k}?" for k in range(5)]
    await shopper.close()


async def test_race_messages_during_takeover(server) -> None:
    """Shopper messages keep coming while an agent takes over: nothing of the bot after the ack."""
    server.engine.delay = 0.005
    shopper = await Client.connect(server.ws_url)
    session_id = (await shopper.start())["session_id"]
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        alex = await login(http, "Alex")

        async def chatter() -> None:
            for k in range(30):
                await shopper.send({"type": "user_uttered", "text": f"msg {k}", "message_id": f"c{k}"})
                await asyncio.sleep(0.01)

        sender = asyncio.create_task(chatter())
        await asyncio.sleep(0.1)
        taken = await http.post(f"/api/conversations/{session_id}/takeover", headers=alex)
        assert taken.status_code == 200
        await sender
        await asyncio.sleep(1.0)
        late = await bot_frames_after_takeover(shopper)
        assert not late, late
        detail = (await http.get(f"/api/conversations/{session_id}", headers=alex)).json()
        texts = [e["text"] for e in detail["events"] if e["type"] == "user_uttered"]
        assert texts == [f"msg {k}" for k in range(30)]  # none lost, in order
        assert not [f for f in shopper.frames if f["type"] == "error"]
    await shopper.close()


async def test_dashboard_is_served(server) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        page = await http.get("/agent")
        assert page.status_code == 200 and "agent dashboard" in page.text
        schema = (await http.get("/openapi.json")).json()
        for path in ("/api/agent/login", "/api/conversations", "/api/conversations/{conversation_id}/takeover", "/api/conversations/{conversation_id}/notes"):
            assert path in schema["paths"]


async def test_frustrated_shopper_is_queued_for_a_human(server) -> None:
    shopper = await Client.connect(server.ws_url)
    session_id = (await shopper.start())["session_id"]
    first = await shopper.turn("this is the third time I ask about my refund", "f1")
    assert not [f for f in first if f["type"] == "handoff"]  # one sharp message is not enough
    await shopper.send({"type": "user_uttered", "text": "you don't understand, this is ridiculous!!!", "message_id": "f2"})
    handoff = await last(shopper, lambda f: f["type"] == "handoff")
    assert handoff["state"] == "handoff_requested"
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        alex = await login(http, "Alex")
        queue = (await http.get("/api/conversations", params={"state": "handoff_requested", "flagged": "true"}, headers=alex)).json()
        entry = next(e for e in queue if e["conversation_id"] == session_id)
        assert entry["reason"].startswith("frustration:")
    await shopper.close()
