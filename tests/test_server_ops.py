"""Operations endpoints and logs: /readyz, JSON log lines with the conversation id and no text."""
from __future__ import annotations

import json
import logging

import httpx

from bot.logs import JsonFormatter, conversation_id
from policies.moderation_api import AllowAll
from server import create_app
from tests.scripted_engine import ScriptedEngine
from tests.test_protocol_ws import Client


async def test_readyz_and_metrics_after_a_turn(shopbot_home, running_server) -> None:
    server = running_server(lambda: create_app(shopbot_home, engine=ScriptedEngine(), moderator=AllowAll()))
    client = await Client.connect(server.ws_url)
    await client.start()
    await client.turn("any lamp?", "m1")
    await client.close()
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready", "problems": []}
        metrics = (await http.get("/metrics")).text
    assert 'shopbot_turns_total{outcome="answered"} 1.0' in metrics
    assert "shopbot_time_to_first_token_seconds_bucket" in metrics
    assert 'shopbot_tool_calls_total{outcome="ok",tool="search_products"} 1.0' in metrics


def test_json_log_lines_carry_the_conversation_id() -> None:
    record = logging.LogRecord("bot.pipeline", logging.INFO, __file__, 1, "turn failed in session %s", ("abc",), None)
    token = conversation_id.set("abc")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        conversation_id.reset(token)
    assert line["conversation_id"] == "abc" and line["level"] == "info" and line["message"] == "turn failed in session abc"
