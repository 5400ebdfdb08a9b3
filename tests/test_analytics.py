"""Analytics over conversations held through the real server: one contained, one handed off to an
agent, one with a moderation block, tool calls with and without errors. The endpoint's numbers
are checked exactly against what was done; the latency figures against the stored timestamps."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from bot import analytics
from bot.agents import add_agent
from bot.auth import issue_shopper_token
from bot.db import Database
from bot.shopper_socket import ChatLimits
from bot.turns import ConversationState, DeltaEvent, HandoffEvent, ReplyEvent, StatusEvent, TurnEvent
from policies.moderation_api import ModerationResult, Source
from server import create_app
from tests.test_protocol_ws import Client

BLOCK_REPLY = "Please keep it civil."


class ToolEngine:
    """A scripted engine that keeps tool calls in its state the way bot.engine does (an assistant
    message with `tool_calls`, then a `role: tool` result; failures start with "Error:")."""

    async def run_turn(self, state: ConversationState, text: str, payload: str | None = None) -> AsyncIterator[TurnEvent]:
        yield StatusEvent("thinking")
        await asyncio.sleep(0.01)
        state.messages.append({"role": "user", "content": text})
        if "lamp" in text:
            yield StatusEvent("tool", tool="search_products", label="Searching products...")
            self._tool(state, "search_products", {"query": "lamp"}, "2 products found")
        if "order" in text:
            yield StatusEvent("tool", tool="get_order_details", label="Looking up your order...")
            self._tool(state, "get_order_details", {"order_id": "#W0"}, "Error: no order #W0 for this account")
        reply = f"You said: {text}"
        yield DeltaEvent(reply)
        state.messages.append({"role": "assistant", "content": reply})
        yield ReplyEvent(reply)
        if "human please" in text:
            yield HandoffEvent(reason="shopper asked for a person", summary=text)
        yield StatusEvent("idle")

    @staticmethod
    def _tool(state: ConversationState, name: str, arguments: dict[str, Any], result: str) -> None:
        call_id = f"call_{len(state.messages)}"
        function = {"name": name, "arguments": json.dumps(arguments)}
        state.messages.append({"role": "assistant", "content": None, "tool_calls": [{"id": call_id, "type": "function", "function": function}]})
        state.messages.append({"role": "tool", "tool_call_id": call_id, "name": name, "content": result})


class WordModerator:
    """Blocks shopper messages containing "rudeword"; allows everything else."""

    mode = "test"

    def check(self, text: str, source: Source = "shopper") -> ModerationResult:
        if source == "shopper" and "rudeword" in text:
            return ModerationResult(action="block", text=text, reasons=["toxicity"], reply=BLOCK_REPLY)
        return ModerationResult(action="allow", text=text)


def make_app(settings: Any) -> Any:
    limits = ChatLimits(ip_rate=1000, ip_burst=1000, connect_rate=1000, connect_burst=1000, session_rate=1000, session_burst=1000)
    return create_app(settings, engine=ToolEngine(), moderator=WordModerator(), limits=limits)


async def seed(base_url: str, settings: Any) -> dict[str, str]:
    """Three conversations through the real server; returns the agent's auth header."""
    db = Database(settings.database_url)
    await add_agent(db, "Alex", "alex-password")
    await db.dispose()
    ws_url = base_url.replace("http", "ws") + "/ws"
    # Contained: a product search and a thank-you.
    contained = await Client.connect(ws_url)
    await contained.start()
    await contained.turn("any lamp for my desk?", "a1")
    await contained.turn("thanks", "a2")
    # Handed off: an order look-up that fails, then the shopper asks for a person; Alex takes over.
    handed = await Client.connect(ws_url)
    handed_id = (await handed.start())["session_id"]
    await handed.turn("where is my order?", "b1")
    await handed.turn("human please", "b2")
    # Blocked: the message never reaches the engine.
    blocked = await Client.connect(ws_url)
    await blocked.start()
    frames = await blocked.turn("you rudeword", "c1")
    assert any(f["type"] == "moderation" and f["action"] == "block" for f in frames), frames
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.post("/api/agent/login", json={"name": "Alex", "password": "alex-password"})
        headers = {"Authorization": f"Bearer {response.json()['token']}"}
        taken = await http.post(f"/api/conversations/{handed_id}/takeover", headers=headers)
        assert taken.status_code == 200, taken.text
    for client in (contained, handed, blocked):
        await client.close()
    return headers


@pytest.fixture()
def seeded(shopbot_home, running_server):
    server = running_server(lambda: make_app(shopbot_home))
    server.headers = asyncio.run(seed(server.base_url, shopbot_home))
    return server


async def stored_latencies(url: str) -> list[float]:
    """Turn latencies (ms) recomputed here from the raw event rows, to check the SQL against."""
    from sqlalchemy import select

    from bot.events import EventRow

    db = Database(url)
    async with db.read() as session:
        rows = (await session.execute(select(EventRow.session_id, EventRow.seq, EventRow.type, EventRow.created_at).order_by(EventRow.session_id, EventRow.seq))).all()
    await db.dispose()
    out, asked = [], None
    for sid, _seq, kind, at in rows:
        if kind == "user_uttered":
            asked = (sid, at)
        elif kind == "bot_uttered" and asked is not None and asked[0] == sid:
            out.append((at - asked[1]).total_seconds() * 1000)
            asked = None
    return out


async def test_endpoint_counts_exactly(seeded, shopbot_home) -> None:
    async with httpx.AsyncClient(base_url=seeded.base_url) as http:
        response = await http.get("/agent/analytics", params={"bucket": "hour"}, headers=seeded.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["conversations"], body["contained"], body["handed_off"]) == (3, 2, 1)
    assert body["contained_rate"] == pytest.approx(2 / 3) and body["handoff_rate"] == pytest.approx(1 / 3)
    assert body["turns"] == 5
    assert body["tools"] == [
        {"tool": "get_order_details", "calls": 1, "errors": 1},
        {"tool": "search_products", "calls": 1, "errors": 0},
    ]
    assert body["moderation_by_action"] == [{"action": "block", "reason": None, "count": 1}]
    assert body["moderation_by_reason"] == [{"action": "block", "reason": BLOCK_REPLY, "count": 1}]
    assert body["handoffs_by_reason"] == [{"reason": "shopper asked for a person", "count": 1}]
    series = body["series"]
    assert len(series) >= 24 * 7  # every hour of the 7-day default window, empty ones included
    assert sum(p["turns"] for p in series) == 5 and sum(p["replies"] for p in series) == 5
    assert sum(p["handoff_requests"] for p in series) == 1 and sum(p["takeovers"] for p in series) == 1
    # Latency: every one of the 5 turns was answered (the blocked one by the moderation reply).
    expected = await stored_latencies(shopbot_home.database_url)
    assert len(expected) == 5
    assert body["latency_p50_ms"] == pytest.approx(analytics.percentile(expected, 50), abs=1e-6)
    assert body["latency_p95_ms"] == pytest.approx(max(expected), abs=1e-6)
    busy = [p for p in series if p["turns"]]
    assert all(p["latency_p50_ms"] is not None and p["latency_p50_ms"] <= p["latency_p95_ms"] for p in busy)
    assert 0 < body["latency_p50_ms"] < 10_000


async def test_window_and_bucket(seeded) -> None:
    async with httpx.AsyncClient(base_url=seeded.base_url) as http:
        day = (await http.get("/agent/analytics", params={"bucket": "day"}, headers=seeded.headers)).json()
        assert 7 <= len(day["series"]) <= 8 and day["conversations"] == 3
        # A window that starts after everything happened is empty, not an error.
        later = (datetime.now(timezone.utc) + timedelta(seconds=1)).isoformat()
        await asyncio.sleep(1.1)
        empty = (await http.get("/agent/analytics", params={"since": later}, headers=seeded.headers)).json()
        assert (empty["conversations"], empty["turns"], empty["tools"], empty["contained_rate"]) == (0, 0, [], None)
        bad = await http.get("/agent/analytics", params={"bucket": "minute"}, headers=seeded.headers)
        assert bad.status_code == 422
        future = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
        assert (await http.get("/agent/analytics", params={"since": future}, headers=seeded.headers)).status_code == 422
        too_long = (datetime.now(timezone.utc) - timedelta(days=400)).isoformat()
        assert (await http.get("/agent/analytics", params={"since": too_long, "bucket": "hour"}, headers=seeded.headers)).status_code == 422


async def test_auth_required(seeded) -> None:
    async with httpx.AsyncClient(base_url=seeded.base_url) as http:
        assert (await http.get("/agent/analytics")).status_code == 401
        assert (await http.get("/agent/analytics", headers={"Authorization": "Bearer nonsense"})).status_code == 401
        shopper = issue_shopper_token("store-secret", "ann_lee_1111")
        assert (await http.get("/agent/analytics", headers={"Authorization": f"Bearer {shopper}"})).status_code == 401
        schema = (await http.get("/openapi.json")).json()
        assert "AnalyticsResponse" in schema["components"]["schemas"]
        assert "/agent/analytics" in schema["paths"]
