"""Ownership of conversations in the database: the handoff state machine made durable.

`apply` reads the row, computes `handoff.transition`, and writes it back only if nobody changed
the row in between (a version check in the UPDATE), so two agents racing to take over one
conversation, or an agent and the bot across processes, cannot both win.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, Database
from bot.handoff import Action, HandoffError, Mode, Ownership, transition


class OwnershipRow(Base):
    __tablename__ = "conversation_ownership"

    conversation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mode: Mapped[str] = mapped_column(String(32), default=Mode.bot.value, index=True)
    agent: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)


class NoteRow(Base):
    __tablename__ = "agent_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(64), index=True)
    agent: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class QueueEntry:
    conversation_id: str
    ownership: Ownership
    requested_at: datetime | None
    updated_at: datetime

    def waiting_s(self, now: datetime | None = None) -> float | None:
        if self.requested_at is None or self.ownership.mode is not Mode.handoff_requested:
            return None
        return ((now or _now()) - _aware(self.requested_at)).total_seconds()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _ownership(row: Any) -> Ownership:
    """An OwnershipRow, or a result row with its mode, agent, reason and summary columns."""
    if row is None:
        return Ownership()
    return Ownership(Mode(row.mode), row.agent, row.reason, row.summary)


_OWNERSHIP = select(OwnershipRow.mode, OwnershipRow.agent, OwnershipRow.reason, OwnershipRow.summary).where(
    OwnershipRow.conversation_id == bindparam("conversation_id")
)


async def get_ownership(db: Database, conversation_id: str) -> Ownership:
    """Who owns the conversation now (read once a turn: one prepared SELECT, no ORM session)."""
    return _ownership(await db.first(_OWNERSHIP, {"conversation_id": conversation_id}))


async def apply(
    db: Database,
    conversation_id: str,
    action: Action,
    *,
    agent: str | None = None,
    reason: str | None = None,
    summary: str | None = None,
) -> Ownership:
    """Perform one transition atomically; raises `HandoffError` when it is not allowed now."""
    for _attempt in range(5):
        async with db.write() as session:
            row = await session.get(OwnershipRow, conversation_id, with_for_update=True)
            current = _ownership(row)
            new = transition(current, action, agent=agent, reason=reason, summary=summary)
            now = _now()
            requested_at = now if new.mode is Mode.handoff_requested else (row.requested_at if row else None)
            values = {
                "mode": new.mode.value,
                "agent": new.agent,
                "reason": new.reason,
                "summary": new.summary,
                "requested_at": requested_at,
                "updated_at": now,
            }
            if row is None:
                try:
                    await session.execute(insert(OwnershipRow).values(conversation_id=conversation_id, version=1, **values))
                except IntegrityError:
                    await session.rollback()
                    continue  # created by someone else meanwhile: read it again
            else:
                done = await session.execute(
                    update(OwnershipRow)
                    .where(OwnershipRow.conversation_id == conversation_id, OwnershipRow.version == row.version)
                    .values(version=row.version + 1, **values)
                )
                if done.rowcount != 1:
                    await session.rollback()
                    continue
            return new
    raise HandoffError("busy", "the conversation is being changed by someone else; try again")


async def list_conversations(
    db: Database, *, mode: Mode | None = None, agent: str | None = None, flagged: bool | None = None, limit: int = 200
) -> list[QueueEntry]:
    """Conversations with an ownership record, the longest-waiting first."""
    stmt = select(OwnershipRow)
    if mode is not None:
        stmt = stmt.where(OwnershipRow.mode == mode.value)
    if agent is not None:
        stmt = stmt.where(OwnershipRow.agent == agent)
    if flagged is True:
        stmt = stmt.where(OwnershipRow.reason.is_not(None))
    elif flagged is False:
        stmt = stmt.where(OwnershipRow.reason.is_(None))
    stmt = stmt.order_by(OwnershipRow.requested_at.is_(None), OwnershipRow.requested_at, OwnershipRow.updated_at.desc()).limit(limit)
    async with db.read() as session:
        rows = (await session.execute(stmt)).scalars().all()
        return [QueueEntry(r.conversation_id, _ownership(r), r.requested_at, r.updated_at) for r in rows]


async def add_note(db: Database, conversation_id: str, agent: str, text: str) -> None:
    async with db.write() as session:
        session.add(NoteRow(conversation_id=conversation_id, agent=agent, text=text, created_at=_now()))


async def list_notes(db: Database, conversation_id: str) -> list[dict[str, str]]:
    async with db.read() as session:
        rows = (await session.execute(select(NoteRow).where(NoteRow.conversation_id == conversation_id).order_by(NoteRow.id))).scalars().all()
        return [{"agent": r.agent, "text": r.text, "created_at": _aware(r.created_at).isoformat()} for r in rows]
