"""Fault: PostgreSQL goes away for a few seconds while a shopper is talking.

Turns fail with the documented `storage_unavailable` error (then `status idle`; the socket stays
usable), nothing is half-written, `/readyz` says not ready during the outage and ready after, and
once the database is back, resending the same message_id answers each turn exactly once and a
reconnect replays the history with no gap and no duplicate. The server runs on a PostgreSQL
cluster of this test's own (stopped with a fast shutdown, as `pg_ctl stop -m fast` does), on both
passes of ./test.sh.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from bot.protocol import ERRORS
from bot.settings import Settings
from bot.shopper_socket import ChatLimits
from policies.moderation_api import AllowAll
from server import create_app
from tests.scripted_engine import ScriptedEngine
from tests.services import _postgres_bin, _wait_port, free_port
from tests.test_protocol_ws import Client, idle


@dataclass
class RestartablePostgres:
    """A throwaway PostgreSQL cluster on a fixed loopback port that can be stopped and started."""

    bindir: str
    base: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="shopbot-pg-outage-"))
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def as_user(self) -> list[str]:
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # postgres refuses root

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/shopbot"

    def init(self) -> None:
        os.chmod(self.base, 0o777)
        subprocess.run([*self.as_user, f"{self.bindir}/initdb", "-D", f"{self.base}/data", "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True, timeout=120)
        self.start()
        deadline = time.monotonic() + 30
        while subprocess.run([*self.as_user, f"{self.bindir}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "shopbot"],
                             capture_output=True, timeout=60).returncode != 0:
            assert time.monotonic() < deadline, "createdb kept failing"
            time.sleep(0.2)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*self.as_user, f"{self.bindir}/postgres", "-D", f"{self.base}/data", "-p", str(self.port), "-k", self.base,
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port)

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster): sessions are cut, open transactions roll back."""
        if self.proc is not None:
            # To the postmaster itself (its pid file): runuser, when in between, does not pass SIGINT on.
            with open(f"{self.base}/data/postmaster.pid") as pid_file:
                os.kill(int(pid_file.readline()), signal.SIGINT)
            self.proc.wait(timeout=30)
            self.proc = None

    def remove(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture()
def postgres() -> Iterator[RestartablePostgres]:
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (scripts/system-deps.sh installs Debian's postgresql)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL")
    server = RestartablePostgres(bindir)
    try:
        server.init()
        yield server
    finally:
        server.remove()


async def _ready(base: str) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        response = await http.get("/readyz")
        return response.status_code, response.json()


async def _until_ready(base: str, status: int, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        code, body = await _ready(base)
        if code == status:
            return body
        assert time.monotonic() < deadline, f"/readyz stayed {code} {body}, expected {status}"
        await asyncio.sleep(0.1)


async def _failed_turn(client: Client) -> list[dict[str, Any]]:
    """Frames until the turn's `status idle`; the turn must fail with storage_unavailable."""
    frames = await client.until(idle, timeout=15)  # a hanging socket fails here
    errors = [f for f in frames if f["type"] == "error"]
    assert [e["code"] for e in errors] == ["storage_unavailable"], frames
    assert errors[0]["message"] == ERRORS["storage_unavailable"][0]
    assert not [f for f in frames if f["type"] == "bot_uttered"]
    return frames


async def test_database_outage_fails_turns_cleanly_and_resends_answer_once(tmp_path, postgres: RestartablePostgres, running_server) -> None:
    home = tmp_path / "home"
    home.mkdir()
    settings = Settings.from_env(home=home, database_url=postgres.url, data_dir=None)
    limits = ChatLimits(ip_rate=1000, ip_burst=1000, connect_rate=1000, connect_burst=1000, session_rate=1000, session_burst=1000)
    # 0.02 s per word: a long message streams for seconds, time to stop the database mid-answer.
    server = running_server(lambda: create_app(settings, engine=ScriptedEngine(delay=0.02), moderator=AllowAll(), limits=limits))
    assert (await _ready(server.base_url))[0] == 200

    shopper = await Client.connect(server.ws_url)
    session_id = (await shopper.start())["session_id"]
    await shopper.turn("hello", "m1")

    # 1. The database stops in the middle of an answer: the shopper's message was stored, the
    #    reply cannot be. The turn fails with the documented error, and no reply is stored.
    long_text = "tell me " + " ".join(f"w{i}" for i in range(150))
    await shopper.send({"type": "user_uttered", "text": long_text, "message_id": "m2"})
    await shopper.until(lambda f: f["type"] == "bot_delta")
    postgres.stop()  # ~0.05 s; the answer streams for ~3 s more
    await _failed_turn(shopper)
    body = await _until_ready(server.base_url, 503)
    assert body == {"status": "not ready", "problems": ["database"]}

    # 2. A message sent while the database is down: the same clear error, promptly, nothing kept.
    await shopper.send({"type": "user_uttered", "text": "are you there?", "message_id": "m3"})
    await _failed_turn(shopper)
    # A new shopper cannot start a session now: told so, and the socket is not closed on it.
    newcomer = await Client.connect(server.ws_url)
    await newcomer.send({"type": "session_request", "session_id": None})
    refused = await newcomer.recv(timeout=15)
    assert refused["type"] == "error" and refused["code"] == "storage_unavailable"
    await newcomer.send({"type": "user_uttered", "text": "still here", "message_id": "x"})
    assert (await newcomer.recv(timeout=15))["code"] == "session_required"  # the socket still answers
    await newcomer.close()

    # 3. The database is back: ready again; each resend is answered exactly once.
    postgres.start()
    assert await _until_ready(server.base_url, 200) == {"status": "ready", "problems": []}
    frames = await shopper.turn(long_text, "m2")
    assert [f["text"] for f in frames if f["type"] == "bot_uttered"] == [f"You said: {long_text}"]
    frames = await shopper.turn("are you there?", "m3")
    assert [f["text"] for f in frames if f["type"] == "bot_uttered"] == ["You said: are you there?"]
    # Resending answered messages changes nothing; the next new message is answered as usual.
    await shopper.send({"type": "user_uttered", "text": long_text, "message_id": "m2"})
    await shopper.send({"type": "user_uttered", "text": "are you there?", "message_id": "m3"})
    frames = await shopper.turn("thanks", "m4")
    assert [(f["type"], f.get("text")) for f in frames if f["type"] in ("user_uttered", "bot_uttered")] == [
        ("user_uttered", "thanks"), ("bot_uttered", "You said: thanks")
    ]

    # 4. Nothing half-written: the events table holds each turn once, every reply after its own
    #    message, and nothing from the outage beyond the message that was stored before it.
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        stored = (await http.get(f"/api/sessions/{session_id}/events", params={"after_seq": 0})).json()["events"]
    assert [(e["type"], e["text"]) for e in stored] == [
        ("user_uttered", "hello"), ("bot_uttered", "You said: hello"),
        ("user_uttered", long_text), ("bot_uttered", f"You said: {long_text}"),
        ("user_uttered", "are you there?"), ("bot_uttered", "You said: are you there?"),
        ("user_uttered", "thanks"), ("bot_uttered", "You said: thanks"),
    ]
    assert [e.get("message_id") for e in stored if e["type"] == "user_uttered"] == ["m1", "m2", "m3", "m4"]
    # The engine's memory holds each exchange once (the failed attempt left no trace in the state).
    live = server.app.state.chat.hub.sessions[session_id]  # held: the shopper's socket is open
    assert [m["content"] for m in live.state.messages if m["role"] == "user"] == ["hello", long_text, "are you there?", "thanks"]

    # 5. The wire never went back or repeated a number, and a reconnect replays the stored history
    #    exactly: every event once, in order.
    wire = [f["seq"] for f in shopper.frames if f["type"] != "session_confirm"]
    assert wire == sorted(wire) and len(wire) == len(set(wire))
    await shopper.close()
    again = await Client.connect(server.ws_url)
    confirm = await again.start(session_id=session_id, last_seq=0)
    replay = [await again.recv() for _ in stored]
    assert replay == stored and confirm["head"] >= stored[-1]["seq"]
    frames = await again.turn("one more", "m5")
    assert [f["text"] for f in frames if f["type"] == "bot_uttered"] == ["You said: one more"]
    assert min(f["seq"] for f in frames) > max(wire)
    await again.close()
