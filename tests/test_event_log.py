"""The event log's group commit (`bot.events.EventLog`): appends that meet in one transaction
are numbered in order, and a refused one fails alone (SQLite and PostgreSQL)."""
from __future__ import annotations

import asyncio

import pytest

from bot import events, handoff_store
from bot.db import Database
from bot.events import DuplicateMessage, EventLog, NewEvent, NotBotsTurn
from bot.handoff import Action
from bot.sessions import UnknownSession, create_session, load_session, save_session


def _said(text: str, message_id: str | None = None) -> NewEvent:
    return NewEvent({"type": "user_uttered", "text": text, "message_id": message_id, "payload": None}, message_id)


def _bot(text: str) -> NewEvent:
    return NewEvent({"type": "bot_uttered", "turn_id": "t", "text": text, "cards": [], "quick_replies": []})


async def _appends_at_once(log: EventLog, calls: list[dict]) -> list[object]:
    """Start every append before any runs (so they share one batch); their results or errors."""
    tasks = [asyncio.ensure_future(log.append(**call)) for call in calls]
    return [r.frames if isinstance(r, events.Appended) else r for r in await asyncio.gather(*tasks, return_exceptions=True)]


async def test_one_batch_numbers_in_order_and_refuses_each_bad_append_alone(database_url: str) -> None:
    db = Database(database_url)
    try:
        a = (await create_session(db)).session_id
        b = (await create_session(db)).session_id
        taken = (await create_session(db)).session_id
        await handoff_store.apply(db, taken, Action.request, reason="test", summary="")
        await handoff_store.apply(db, taken, Action.takeover, agent="ana")
        log = EventLog(db)
        first = await log.append(a, [_said("first", "m1")])
        assert first.owner == "bot" and [f["seq"] for f in first.frames] == [1]
        assert (await log.append(taken, [_said("to the agent", "m4")])).owner == "human"

        results = await _appends_at_once(log, [
            {"session_id": a, "events": [_said("again", "m1")]},                       # stored before
            {"session_id": a, "events": [_said("second", "m2")], "reserve": 3},
            {"session_id": b, "events": [_said("hello", "m9")]},
            {"session_id": b, "events": [_said("hello twice", "m9")]},                 # same batch
            {"session_id": "no-such-session", "events": [_said("x")]},
            {"session_id": taken, "events": [_bot("the bot talks")], "require_bot": True},
            {"session_id": taken, "events": [_said("shopper to agent", "m5")], "require_bot": False},
            {"session_id": a, "events": [_bot("answer")], "state": {"conversation_id": a, "user_id": "u1", "messages": []}},
        ])
        assert isinstance(results[0], DuplicateMessage)
        assert [f["seq"] for f in results[1]] == [2]
        assert [f["seq"] for f in results[2]] == [1]
        assert isinstance(results[3], DuplicateMessage)
        assert isinstance(results[4], UnknownSession)
        assert isinstance(results[5], NotBotsTurn)
        assert [f["text"] for f in results[6]] == ["shopper to agent"]
        assert [f["seq"] for f in results[7]] == [6]  # after the 3 numbers kept back for transients

        stored_a = await events.after(db, a, 0)
        assert [(e["seq"], e["text"]) for e in stored_a] == [(1, "first"), (2, "second"), (6, "answer")]
        assert [e["text"] for e in await events.after(db, b, 0)] == ["hello"]
        assert [e["text"] for e in await events.after(db, taken, 0)] == ["to the agent", "shopper to agent"]
        # Alone in their batches (the usual case below full load) the same refusals hold.
        with pytest.raises(DuplicateMessage):
            await log.append(a, [_said("once more", "m2")])
        with pytest.raises(UnknownSession):
            await log.append("no-such-session", [_said("x")])
        with pytest.raises(NotBotsTurn):
            await log.append(taken, [_bot("the bot again")], require_bot=True)
        assert [f["seq"] for f in (await log.append(a, [_said("third", "m3")])).frames] == [7]
        record = await load_session(db, a)
        assert record.last_seq == 7
        assert record.state.user_id == "u1"
    finally:
        await db.dispose()


async def test_many_concurrent_appends_to_one_session_get_distinct_numbers(database_url: str) -> None:
    db = Database(database_url)
    try:
        sid = (await create_session(db)).session_id
        log = EventLog(db)
        results = await _appends_at_once(log, [{"session_id": sid, "events": [_said(f"m{i}", f"id{i}")]} for i in range(50)])
        seqs = [frames[0]["seq"] for frames in results]  # type: ignore[index]
        assert seqs == list(range(1, 51))
        assert [e["seq"] for e in await events.after(db, sid, 0)] == seqs
    finally:
        await db.dispose()


async def test_a_batch_larger_than_the_limit_is_split(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "BATCH_MAX", 4)
    db = Database(database_url)
    try:
        sids = [(await create_session(db)).session_id for _ in range(10)]
        results = await _appends_at_once(EventLog(db), [{"session_id": s, "events": [_said("hi", "x")]} for s in sids])
        assert all(frames[0]["seq"] == 1 for frames in results)  # type: ignore[index]
    finally:
        await db.dispose()


async def test_session_rows_are_created_and_saved_in_one_statement_each(database_url: str) -> None:
    """create_session / save_session (one Core statement each in the writer's transaction): the
    row round-trips, last_seq only moves up, and an unknown id is refused, on both databases."""
    db = Database(database_url)
    try:
        created = await create_session(db, user_id=None, client_ip="127.0.0.1")
        sid = created.session_id
        loaded = await load_session(db, sid)
        assert (loaded.last_seq, loaded.conversation_state, loaded.state.conversation_id) == (0, "bot", sid)

        state = loaded.state
        state.user_id = "u7"
        state.messages.append({"role": "user", "content": "caf\u00e9 \u2615, 2 \u00d7 $9.50"})
        await save_session(db, sid, state=state, min_last_seq=12, conversation_state="handoff_requested")
        await save_session(db, sid, min_last_seq=5)  # lower: last_seq stays
        again = await load_session(db, sid)
        assert again.last_seq == 12 and again.conversation_state == "handoff_requested"
        assert again.state.user_id == "u7" and again.state.messages[-1]["content"] == "caf\u00e9 \u2615, 2 \u00d7 $9.50"
        frames = (await EventLog(db).append(sid, [_said("after the save")])).frames
        assert [f["seq"] for f in frames] == [13]

        with pytest.raises(UnknownSession):
            await save_session(db, "no-such-session", min_last_seq=3)
    finally:
        await db.dispose()
