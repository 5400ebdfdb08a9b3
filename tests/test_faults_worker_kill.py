"""Fault: a worker is killed (SIGKILL) in the middle of a streamed answer. The shopper reconnects
to the other worker and resumes from its last seq: every stored event arrives once, in order, and
the conversation goes on there."""
from __future__ import annotations

import asyncio
import os
import signal

import httpx

from tests.test_agents_multiprocess import two_workers  # noqa: F401 (fixture)
from tests.test_protocol_ws import Client


async def test_kill_worker_mid_stream_and_resume_on_the_other(two_workers: tuple[str, str]) -> None:  # noqa: F811
    first, second = two_workers
    shopper = await Client.connect(first.replace("http", "ws") + "/ws")
    session_id = (await shopper.start())["session_id"]
    await shopper.turn("hello there", "k1")
    long_text = " ".join(f"word{i}" for i in range(200))  # about 2 s of deltas from the scripted engine
    await shopper.send({"type": "user_uttered", "text": long_text, "message_id": "k2"})
    await shopper.until(lambda f: f["type"] == "bot_delta")
    pid = _pid_listening(first)
    os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(0.5)
    seen = max(f["seq"] for f in shopper.frames)

    again = await Client.connect(second.replace("http", "ws") + "/ws")
    confirm = await again.start(session_id=session_id, last_seq=seen)
    assert confirm["session_id"] == session_id
    # Nothing stored after what the shopper saw is missing, nothing is sent twice.
    async with httpx.AsyncClient(base_url=second) as http:
        stored = (await http.get(f"/api/sessions/{session_id}/events", params={"after_seq": 0})).json()["events"]
    received = {f["seq"] for f in shopper.frames}
    frames = await again.turn("are you still there?", "k3")
    replayed = [f for f in again.frames if f["type"] not in ("session_confirm",) and f["seq"] <= max(e["seq"] for e in stored)]
    assert {e["seq"] for e in stored} <= received | {f["seq"] for f in replayed}
    all_seqs = [f["seq"] for f in again.frames if "seq" in f and f["type"] != "session_confirm"]
    assert len(all_seqs) == len(set(all_seqs)) and all_seqs == sorted(all_seqs)
    assert all(s > seen for s in all_seqs)  # numbers never go back after the crash
    assert [e["text"] for e in stored if e["type"] == "user_uttered"] == ["hello there", long_text]
    assert any(f["type"] == "bot_uttered" and f["text"] == "You said: are you still there?" for f in frames)
    await again.close()


def _pid_listening(base: str) -> int:
    """The pid of the server process listening on base's port (Linux /proc)."""
    from benchmarks.load import server_pids

    pids = server_pids(int(base.rsplit(":", 1)[1]))
    assert len(pids) == 1, pids
    return pids.pop()
