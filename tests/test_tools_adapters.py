"""The tools through LangChain (real StructuredTool objects) and the Rasa action server (real HTTP)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.store_helpers import make_store_db
from tests.test_tools_store import tiny_store
from tools.base import ToolContext
from tools.registry import default_tools


async def test_langchain_tools(tmp_path: Path) -> None:
    from langchain_core.utils.function_calling import convert_to_openai_tool

    from tools.adapters.langchain import to_langchain_tools

    db = await make_store_db(tmp_path / "s.db", tiny_store())
    try:
        ours = default_tools()
        ctx = ToolContext(db)
        lc = {t.name: t for t in to_langchain_tools(ours, ctx)}
        assert set(lc) == set(ours)
        for name, tool in ours.items():
            converted = convert_to_openai_tool(lc[name])["function"]
            assert converted["name"] == name
            assert set(converted["parameters"]["properties"]) == set(tool.schema()["function"]["parameters"]["properties"])
            assert sorted(converted["parameters"].get("required", [])) == sorted(tool.schema()["function"]["parameters"]["required"])
        assert await lc["find_user_id_by_email"].ainvoke({"email": "ann.lee@example.com"}) == "ann_lee_1111"
        assert ctx.user_id == "ann_lee_1111"
        order = json.loads(await lc["get_order_details"].ainvoke({"order_id": "#W1000001"}))
        assert order["status"] == "pending"
        assert (await lc["cancel_pending_order"].ainvoke({"order_id": "#W1000001", "reason": "no longer needed"})).startswith(
            "Error: cancel_pending_order changes"
        )
    finally:
        await db.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _payload(action: str, slots: dict, sender: str = "shopper-1") -> dict:
    """A request as Rasa's server sends it to the action server's /webhook."""
    return {
        "next_action": action,
        "sender_id": sender,
        "version": "3.10.0",
        "domain": {"version": "3.1", "slots": {name: {"type": "any", "mappings": []} for name in slots}, "actions": [action]},
        "tracker": {
            "sender_id": sender,
            "slots": slots,
            "latest_message": {"text": "hi", "intent": {"name": "inform", "confidence": 1.0}, "entities": []},
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


@pytest.fixture
def action_server(tmp_path: Path):
    import asyncio

    home = tmp_path / "home"
    home.mkdir()
    asyncio.run(_prepare(home))
    port = _free_port()
    env = {**os.environ, "SHOPBOT_HOME": str(home), "SHOPBOT_DATABASE_URL": f"sqlite+aiosqlite:///{home / 'shopbot.db'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "tools.adapters.rasa_actions", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise RuntimeError("the Rasa action server did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _prepare(home: Path) -> None:
    db = await make_store_db(home / "shopbot.db", tiny_store())
    await db.dispose()


def test_rasa_action_server(action_server: str) -> None:
    actions = {a["name"] for a in httpx.get(f"{action_server}/actions").json()}
    assert set(default_tools()) <= actions

    found = httpx.post(f"{action_server}/webhook", json=_payload("find_user_id_by_email", {"email": "ann.lee@example.com"})).json()
    assert found["responses"][0]["custom"] == {"tool": "find_user_id_by_email", "ok": True, "result": "ann_lee_1111"}
    slot_events = {e["name"]: e["value"] for e in found["events"] if e["event"] == "slot"}
    assert slot_events["shopbot_user_id"] == "ann_lee_1111"

    # Without the user slot, account tools refuse; with it, they answer.
    refused = httpx.post(f"{action_server}/webhook", json=_payload("get_order_details", {"order_id": "#W1000001"})).json()
    assert refused["responses"][0]["custom"]["ok"] is False
    details = httpx.post(
        f"{action_server}/webhook", json=_payload("get_order_details", {"order_id": "#W1000001", "shopbot_user_id": "ann_lee_1111"})
    ).json()
    assert json.loads(details["responses"][0]["custom"]["result"])["order_id"] == "#W1000001"

    # A consequential action runs only when the assistant's flow confirmed it.
    slots = {"order_id": "#W1000001", "reason": "no longer needed", "shopbot_user_id": "ann_lee_1111"}
    unconfirmed = httpx.post(f"{action_server}/webhook", json=_payload("cancel_pending_order", slots)).json()
    assert unconfirmed["responses"][0]["custom"]["ok"] is False
    confirmed = httpx.post(f"{action_server}/webhook", json=_payload("cancel_pending_order", {**slots, "shopbot_confirmed": True})).json()
    message = confirmed["responses"][0]["custom"]
    assert message["ok"] is True and json.loads(message["result"])["status"] == "cancelled"
    assert {"event": "slot", "name": "shopbot_confirmed", "value": None} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in confirmed["events"]
    ]
    # Foreign orders are refused whatever the slots say.
    foreign = httpx.post(
        f"{action_server}/webhook", json=_payload("get_order_details", {"order_id": "#W2000001", "shopbot_user_id": "ann_lee_1111"})
    ).json()
    assert foreign["responses"][0]["custom"]["result"] == "Error: the order does not belong to the authenticated user"
