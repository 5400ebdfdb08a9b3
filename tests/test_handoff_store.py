"""The durable handoff state: atomic transitions, races between agents, the queue, notes."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.db import Database
from bot.handoff import Action, HandoffError, Mode
from bot.handoff_store import add_note, apply, get_ownership, list_conversations, list_notes
from bot.migrate import upgrade_async
from tests.store_helpers import fresh_postgres_database, postgres_url  # noqa: F401 (fixture)


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"
    else:
        url = await fresh_postgres_database(request.getfixturevalue("postgres_url"))
    await upgrade_async(url)
    database = Database(url)
    yield database
    await database.dispose()


async def test_unknown_conversation_belongs_to_the_bot(db: Database) -> None:
    assert (await get_ownership(db, "c-new")).mode is Mode.bot


async def test_queue_cycle_and_notes(db: Database) -> None:
    await apply(db, "c1", Action.request, reason="shopper asked for a person", summary="wants to talk about a refund")
    await apply(db, "c2", Action.request, reason="moderation: harassment")
    queue = await list_conversations(db, mode=Mode.handoff_requested)
    assert [e.conversation_id for e in queue] == ["c1", "c2"]  # longest waiting first
    assert queue[0].ownership.summary == "wants to talk about a refund" and queue[0].waiting_s() >= 0
    taken = await apply(db, "c1", Action.takeover, agent="Alex")
    assert taken.mode is Mode.human and taken.agent == "Alex"
    assert [e.conversation_id for e in await list_conversations(db, agent="Alex")] == ["c1"]
    with pytest.raises(HandoffError) as err:
        await apply(db, "c1", Action.release, agent="Sam")
    assert err.value.code == "not_owner"
    await add_note(db, "c1", "Alex", "offered a courtesy gift card")
    assert [n["text"] for n in await list_notes(db, "c1")] == ["offered a courtesy gift card"]
    resolved = await apply(db, "c1", Action.resolve, agent="Alex")
    assert resolved.mode is Mode.resolved
    with pytest.raises(HandoffError) as err:
        await apply(db, "c1", Action.takeover, agent="Sam")
    assert err.value.code == "resolved"


async def test_two_agents_race_for_one_conversation(db: Database) -> None:
    await apply(db, "c1", Action.request, reason="frustrated shopper")
    results = await asyncio.gather(
        *(apply(db, "c1", Action.takeover, agent=name) for name in ("Alex", "Sam", "Kim")), return_exceptions=True
    )
    winners = [r for r in results if not isinstance(r, Exception)]
    losers = [r for r in results if isinstance(r, HandoffError)]
    assert len(winners) == 1 and len(losers) == 2
    assert all(e.code == "already_taken" for e in losers)
    assert (await get_ownership(db, "c1")).agent == winners[0].agent


async def test_concurrent_first_requests_create_one_row(db: Database) -> None:
    results = await asyncio.gather(*(apply(db, "c9", Action.request, reason=f"r{i}") for i in range(3)), return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, HandoffError) for r in results if isinstance(r, Exception))
