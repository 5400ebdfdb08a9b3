"""The event log: every stored server event of a session, numbered by `seq`, in the database.

Sequence numbers are per session and strictly increasing. The session row keeps `last_seq`, the
highest number handed out so far; appends run in one write transaction that reads the row
(`FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), so two writers (two worker processes,
an agent and the bot) never hand out the same number. Transient frames (status, bot_delta) take
numbers from the same counter in memory (`floor_seq`) and are not stored; the write that ends a
turn moves `last_seq` past them, so a number a client has seen is never reused.

A shopper message's `message_id` is unique per session (a database constraint), which is what
makes resending idempotent even across reconnects and processes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, Database
from bot.handoff_store import OwnershipRow
from bot.sessions import ConversationRow, UnknownSession


class EventRow(Base):
    __tablename__ = "conversation_events"
    __table_args__ = (
        UniqueConstraint("session_id", "seq", name="uq_conversation_events_seq"),
        UniqueConstraint("session_id", "message_id", name="uq_conversation_events_message_id"),
        Index("ix_conversation_events_session_seq", "session_id", "seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(64), ForeignKey("conversations.session_id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class NewEvent:
    """An event to store: its frame (with `type`, without `seq`) and the shopper's message id."""

    frame: dict[str, Any]
    message_id: str | None = None


class DuplicateMessage(Exception):
    """The shopper's message_id is already in the log: the resend is ignored."""


class NotBotsTurn(Exception):
    """A bot event was to be stored, but a human owns the conversation now: it is dropped."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def append(
    db: Database,
    session_id: str,
    events: list[NewEvent],
    *,
    floor_seq: int = 0,
    state: dict[str, Any] | None = None,
    conversation_state: str | None = None,
    reserve: int = 0,
    require_bot: bool = False,
) -> list[dict[str, Any]]:
    """Store `events` with the next sequence numbers; return them as frames (with `seq`).

    With `require_bot`, the conversation's ownership is checked in the same transaction (the row
    is locked, as a takeover locks it): if a human owns it, nothing is stored and NotBotsTurn is
    raised. This is what makes "no bot message after a takeover is acknowledged" hold across
    processes: the takeover and the bot's reply cannot both commit in the wrong order.

    In the same transaction: the ConversationState JSON (`state`), the handoff mode
    (`conversation_state`), and `reserve` numbers after the last event kept back for transient
    frames that follow. Raises DuplicateMessage when an event's message_id is already stored.
    """
    try:
        async with db.write() as session:
            if require_bot:
                owner = await session.get(OwnershipRow, session_id, with_for_update=True)
                if owner is not None and owner.mode == "human":
                    raise NotBotsTurn(session_id)
            row = await session.get(ConversationRow, session_id, with_for_update=True)
            if row is None:
                raise UnknownSession(session_id)
            seq = max(row.last_seq, floor_seq)
            frames: list[dict[str, Any]] = []
            now = _now()
            for event in events:
                seq += 1
                data = dict(event.frame)
                data.pop("seq", None)
                session.add(
                    EventRow(session_id=session_id, seq=seq, type=data["type"], data=data, message_id=event.message_id, created_at=now)
                )
                frames.append({**data, "seq": seq})
            row.last_seq = seq + reserve
            row.updated_at = now
            if state is not None:
                row.state = state
                row.user_id = state.get("user_id")
            if conversation_state is not None:
                row.conversation_state = conversation_state
            await session.flush()
    except IntegrityError:
        raise DuplicateMessage(session_id) from None
    return frames


async def after(db: Database, session_id: str, after_seq: int, limit: int = 1000) -> list[dict[str, Any]]:
    """Stored events with seq > after_seq, oldest first."""
    stmt = (
        select(EventRow.data, EventRow.seq)
        .where(EventRow.session_id == session_id, EventRow.seq > after_seq)
        .order_by(EventRow.seq)
        .limit(limit)
    )
    async with db.read() as session:
        return [{**data, "seq": seq} for data, seq in (await session.execute(stmt)).all()]


async def has_message(db: Database, session_id: str, message_id: str) -> bool:
    stmt = select(EventRow.id).where(EventRow.session_id == session_id, EventRow.message_id == message_id)
    async with db.read() as session:
        return (await session.execute(stmt)).first() is not None
