"""Every documented error code, limits, origins and shopper tokens, over a real socket."""
from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
import websockets

from bot.auth import InvalidToken, issue_shopper_token, verify_shopper_token
from bot.protocol import ERRORS
from bot.shopper_socket import ChatLimits
from policies.moderation_api import AllowAll, ModerationResult
from server import create_app
from tests.scripted_engine import ScriptedEngine
from tests.test_protocol_ws import Client, idle

SECRET = "test-secret-not-for-production"
GENEROUS = dict(ip_rate=1000, ip_burst=1000, connect_rate=1000, connect_burst=1000)
covered: set[str] = set()


def make(shopbot_home, running_server, **limits):
    values = {**GENEROUS, "token_secret": SECRET, **limits}
    return running_server(lambda: create_app(shopbot_home, engine=ScriptedEngine(), moderator=AllowAll(), limits=ChatLimits(**values)))


async def expect_error(client: Client, code: str, *, closed: bool = False) -> dict:
    frame = await client.recv()
    assert frame["type"] == "error" and frame["code"] == code, frame
    assert frame["message"] == ERRORS[code][0] and isinstance(frame["seq"], int)
    covered.add(code)
    if closed:
        with pytest.raises(websockets.ConnectionClosed):
            await client.recv(timeout=5)
    return frame


async def test_recoverable_errors_keep_the_socket_open(shopbot_home, running_server) -> None:
    server = make(shopbot_home, running_server, max_frame_bytes=2048)
    client = await Client.connect(server.ws_url)
    await client.send({"type": "user_uttered", "text": "hi"})
    await expect_error(client, "session_required")
    await client.send("{not json")
    await expect_error(client, "malformed_json")
    await client.send(b"\x00\x01binary")
    await expect_error(client, "binary_not_supported")
    await client.send({"type": "teleport"})
    await expect_error(client, "unknown_type")
    await client.send({"type": "user_uttered"})  # missing text
    await expect_error(client, "invalid_frame")
    await client.send("[1, 2]")
    await expect_error(client, "invalid_frame")
    await client.send({"type": "session_request", "session_id": "no-such-session"})
    await expect_error(client, "unknown_session")
    await client.send({"type": "user_uttered", "text": "x" * 5000})
    await expect_error(client, "frame_too_large")
    await client.start()
    await client.send({"type": "session_request", "session_id": None})
    await expect_error(client, "session_already_started")
    frames = await client.turn("still here?", "ok1")  # the socket still works
    assert frames[-2]["text"] == "You said: still here?"
    await client.close()


async def test_errors_never_echo_internals(shopbot_home, running_server, caplog) -> None:
    server = make(shopbot_home, running_server)
    client = await Client.connect(server.ws_url)
    await client.start()
    with caplog.at_level(logging.ERROR):
        frames = await client.turn("crash now", "c1")
    error = next(f for f in frames if f["type"] == "error")
    assert error["code"] == "internal_error" and "passwd" not in json.dumps(frames)
    covered.add("internal_error")
    assert any("scripted failure" in (r.exc_text or "") or r.exc_info for r in caplog.records)
    frames = await client.turn("and now?", "c2")  # the session goes on
    assert frames[-2]["type"] == "bot_uttered"
    await client.close()


async def test_engine_not_ready_is_engine_unavailable(shopbot_home, running_server) -> None:
    from bot.engine import NotReadyEngine

    server = running_server(lambda: create_app(shopbot_home, engine=NotReadyEngine("no model: run shopbot train"), moderator=AllowAll()))
    client = await Client.connect(server.ws_url)
    await client.start()
    frames = await client.turn("hello", "e1")
    error = next(f for f in frames if f["type"] == "error")
    assert error["code"] == "engine_unavailable" and "train" not in error["message"]
    covered.add("engine_unavailable")
    await client.close()


async def test_rate_limits_per_session(shopbot_home, running_server) -> None:
    server = make(shopbot_home, running_server, session_rate=0.01, session_burst=3)
    client = await Client.connect(server.ws_url)
    await client.start()
    for i in range(4):
        await client.send({"type": "user_uttered", "text": f"m{i}", "message_id": f"r{i}"})
    frames = await client.until(lambda f: f["type"] == "error")
    assert frames[-1]["code"] == "rate_limited"
    covered.add("rate_limited")
    await client.close()


async def test_rate_limit_per_address_and_connections(shopbot_home, running_server) -> None:
    server = make(shopbot_home, running_server, ip_rate=0.01, ip_burst=2, connect_rate=0.01, connect_burst=2)
    a = await Client.connect(server.ws_url)
    await a.start()
    b = await Client.connect(server.ws_url)
    await b.start()
    await a.send({"type": "user_uttered", "text": "one"})
    await b.send({"type": "user_uttered", "text": "two"})
    await b.until(idle)
    await a.send({"type": "user_uttered", "text": "three"})  # third message from this address
    frames = await a.until(lambda f: f["type"] == "error")
    assert frames[-1]["code"] == "rate_limited"
    c = await Client.connect(server.ws_url)  # third connection from this address
    await expect_error(c, "too_many_connections", closed=True)
    for client in (a, b):
        await client.close()


async def test_idle_timeout_closes(shopbot_home, running_server) -> None:
    server = make(shopbot_home, running_server, idle_timeout_s=0.5)
    client = await Client.connect(server.ws_url)
    await client.start()
    await expect_error(client, "idle_timeout", closed=True)


async def test_origin_allowlist(shopbot_home, running_server) -> None:
    server = make(shopbot_home, running_server, allowed_origins=("https://shop.example",))
    bad = await Client.connect(server.ws_url, origin="https://evil.example")
    await expect_error(bad, "origin_not_allowed", closed=True)
    good = await Client.connect(server.ws_url, origin="https://shop.example")
    await good.start()
    same = await Client.connect(server.ws_url, origin=f"http://127.0.0.1:{server.port}")  # same host
    await same.start()
    no_origin = await Client.connect(server.ws_url)  # an integrator's backend sends none
    await no_origin.start()
    for client in (good, same, no_origin):
        await client.close()


async def test_signed_shopper_token_pre_authenticates(shopbot_home, running_server) -> None:
    server = make(shopbot_home, running_server)
    client = await Client.connect(server.ws_url)
    session_id = (await client.start(token=issue_shopper_token(SECRET, "sara_doe_1")))["session_id"]
    frames = await client.turn("who am i", "t1")
    assert frames[-2]["text"].endswith("[user sara_doe_1]")
    await client.close()
    # the same user may resume; another user's token may not
    again = await Client.connect(server.ws_url)
    await again.start(session_id, None, issue_shopper_token(SECRET, "sara_doe_1"))
    await again.close()
    other = await Client.connect(server.ws_url)
    await other.send({"type": "session_request", "session_id": session_id, "token": issue_shopper_token(SECRET, "someone_else")})
    await expect_error(other, "invalid_token", closed=True)
    forged = await Client.connect(server.ws_url)
    await forged.send({"type": "session_request", "session_id": None, "token": issue_shopper_token("wrong", "sara_doe_1")})
    await expect_error(forged, "invalid_token", closed=True)


async def test_token_required_when_configured(shopbot_home, running_server) -> None:
    server = make(shopbot_home, running_server, require_token=True)
    client = await Client.connect(server.ws_url)
    await client.send({"type": "session_request", "session_id": None})
    await expect_error(client, "token_required", closed=True)


# Codes whose test needs a real fault (a database stopped mid-turn) live in their own module.
COVERED_ELSEWHERE = {"storage_unavailable": "tests/test_faults_database_outage.py"}


def test_every_error_code_is_tested() -> None:
    # Runs last in this module (pytest keeps file order).
    assert covered | set(COVERED_ELSEWHERE) == set(ERRORS), f"error codes without a test: {set(ERRORS) - covered - set(COVERED_ELSEWHERE)}"


def test_tokens_unit() -> None:
    token = issue_shopper_token(SECRET, "u1", ttl_s=60, now=1000)
    assert verify_shopper_token(SECRET, token, now=1000) == "u1"
    with pytest.raises(InvalidToken):
        verify_shopper_token(SECRET, token, now=2000)  # expired
    with pytest.raises(InvalidToken):
        verify_shopper_token(SECRET, token[:-2] + "xx", now=1000)
    with pytest.raises(InvalidToken):
        verify_shopper_token("", token)


class WordModerator:
    """Blocks 'forbidden', masks digits runs, flags 'angry' (a real Moderator, rules only)."""

    mode = "test-rules"

    def check(self, text: str, source: str = "shopper") -> ModerationResult:
        if "forbidden" in text:
            return ModerationResult("block", text, ["test/forbidden"], reply="Let's keep it friendly.")
        if "4111" in text:
            return ModerationResult("redact", text.replace("4111 1111 1111 1111", "[card]"), ["pii/card_number"])
        if "angry" in text:
            return ModerationResult("flag", text, ["test/angry"])
        return ModerationResult("allow", text)


async def test_moderation_block_redact_flag(shopbot_home, running_server) -> None:
    engine = ScriptedEngine()
    server = running_server(lambda: create_app(shopbot_home, engine=engine, moderator=WordModerator(), limits=ChatLimits(**GENEROUS)))
    client = await Client.connect(server.ws_url)
    session_id = (await client.start())["session_id"]
    frames = await client.turn("this is forbidden", "b1")
    assert [f["type"] for f in frames] == ["user_uttered", "moderation", "bot_uttered", "status"]
    assert frames[0]["text"] == "" and frames[1]["action"] == "block" and frames[2]["text"] == "Let's keep it friendly."
    assert engine.turns == 0
    frames = await client.turn("my card is 4111 1111 1111 1111", "r1")
    assert frames[0]["text"] == "my card is [card]" and frames[1]["action"] == "redact"
    assert "4111" not in json.dumps(frames)
    await client.send({"type": "user_uttered", "text": "I am angry", "message_id": "f1"})
    frames = await client.until(lambda f: f["type"] == "handoff")
    assert [f["type"] for f in frames] == ["user_uttered", "moderation", "handoff"]
    assert frames[1]["action"] == "flag" and frames[2]["state"] == "handoff_requested"
    with pytest.raises(asyncio.TimeoutError):  # flagged: a person answers, not the bot
        await client.recv(timeout=0.5)
    assert engine.turns == 1
    await client.close()
    fresh = await Client.connect(server.ws_url)
    await fresh.start(session_id, 0)
    history = await fresh.until(lambda f: f["type"] == "handoff")
    assert "4111" not in json.dumps(history)  # the raw text was never stored
    await fresh.close()


async def test_error_frames_during_a_turn_never_share_a_seq(shopbot_home, running_server) -> None:
    """Bad frames sent while the shopper's message is being stored get their own numbers: a
    client that skips numbers it has seen (the widget does) must not skip the stored events."""
    server = make(shopbot_home, running_server)
    client = await Client.connect(server.ws_url)
    session_id = (await client.start())["session_id"]
    for k in range(5):
        await client.send({"type": "user_uttered", "text": f"question {k}", "message_id": f"q{k}"})
        await client.send("{not json")  # read while the message above is being appended
        await client.send({"type": "teleport"})
    await client.until(lambda f: f["type"] == "bot_uttered" and f["text"] == "You said: question 4")
    await client.until(idle)
    seqs = [f["seq"] for f in client.frames if f["type"] != "session_confirm"]
    assert len(seqs) == len(set(seqs)), sorted(s for s in seqs if seqs.count(s) > 1)
    assert seqs == sorted(seqs)  # one socket: numbers arrive in order
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        stored = (await http.get(f"/api/sessions/{session_id}/events", params={"after_seq": 0})).json()["events"]
    assert {e["seq"] for e in stored} <= set(seqs) and len(stored) == 10
    await client.close()
