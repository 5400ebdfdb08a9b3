"""The event log: every stored server event of a session, numbered by `seq`, in the database.

Sequence numbers are per session and strictly increasing. The session row keeps `last_seq`, the
highest number handed out so far; appends run in one write transaction that reads the row
(`FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), so two writers (two worker processes,
an agent and the bot) never hand out the same number. Transient frames (status, bot_delta) take
numbers from the same counter in memory (`floor_seq`) and are not stored: the write that stores a
shopper's message moves `last_seq` past the numbers its turn's transients will take (`reserve`,
so another process's event is numbered after them), and the write that ends a turn moves it past
the ones they took, so a number a client has seen is never reused.

A shopper message's `message_id` is unique per session (a database constraint), which is what
makes resending idempotent even across reconnects and processes.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

from sqlalchemy import JSON, Connection, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, bindparam, insert, select, update
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


def is_storage_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached or cannot work right now (down,
    restarting, connection lost, locked, disk full), as opposed to a bug. Connection failures
    reach us both wrapped by SQLAlchemy and raw from the driver (asyncpg raises OSError on connect)."""
    from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

    if isinstance(exc, (OperationalError, InterfaceError, DisconnectionError, OSError, TimeoutError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    try:
        import asyncpg
    except ImportError:  # SQLite-only install
        return False
    return isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError, asyncpg.InterfaceError))


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _Append:
    session_id: str
    events: list[NewEvent]
    floor_seq: int = 0
    state: dict[str, Any] | None = None
    conversation_state: str | None = None
    reserve: int = 0
    require_bot: bool = False
    done: "asyncio.Future[Appended] | None" = None


# The statements of an append batch, built once (building them cost as much CPU as running them).
_INSERT_EVENTS = insert(EventRow)
_OWNERS = (  # each conversation's owner, rows locked (one statement for the batch)
    select(OwnershipRow.conversation_id, OwnershipRow.mode)
    .where(OwnershipRow.conversation_id.in_(bindparam("sessions", expanding=True)))
    .order_by(OwnershipRow.conversation_id).with_for_update()
)
_LAST_SEQS = (
    select(ConversationRow.session_id, ConversationRow.last_seq)
    .where(ConversationRow.session_id.in_(bindparam("sessions", expanding=True)))
    .order_by(ConversationRow.session_id).with_for_update()
)
# The same for a batch of one session (the usual case below full load): an IN list costs more
# CPU to expand than the statement takes to run.
_OWNER_OF_ONE = select(OwnershipRow.conversation_id, OwnershipRow.mode).where(OwnershipRow.conversation_id == bindparam("session")).with_for_update()
_LAST_SEQ_OF_ONE = select(ConversationRow.session_id, ConversationRow.last_seq).where(ConversationRow.session_id == bindparam("session")).with_for_update()
_STORED_MESSAGE_IDS = select(EventRow.session_id, EventRow.message_id).where(
    EventRow.message_id.in_(bindparam("message_ids", expanding=True)), EventRow.session_id.in_(bindparam("sessions", expanding=True))
)
_UPDATES: dict[tuple[str, ...], Any] = {}  # the columns an append changes -> its UPDATE
BATCH_MAX = 500  # appends in one transaction at most (each adds a few bound parameters to its SELECTs)


def _update_conversation(columns: tuple[str, ...]) -> Any:
    """UPDATE conversations SET <columns> WHERE session_id = :for_session, one per column set."""
    statement = _UPDATES.get(columns)
    if statement is None:
        table = ConversationRow.__table__
        values = {name: bindparam(f"new_{name}", type_=table.c[name].type) for name in columns}
        statement = update(ConversationRow).where(ConversationRow.session_id == bindparam("for_session")).values(values)
        _UPDATES[columns] = statement
    return statement


class Appended(NamedTuple):
    """What an append stored (its frames, with their `seq`) and who owned the conversation when
    it did: "bot", "handoff_requested", "human" or "resolved", read in the same transaction."""

    frames: list[dict[str, Any]]
    owner: str


_Outcome = tuple[_Append, "Appended | None", "BaseException | None"]


def _append_batch(conn: Connection, batch: list[_Append], now: datetime) -> list[_Outcome]:
    """Several appends in the caller's transaction (`Database.run_write`), in a fixed number of
    statements whatever the batch size: lock and read the rows the batch needs (with each
    conversation's owner, which every append returns: the turn needs no read of its own), decide
    each append in order here, then one multi-row INSERT and one UPDATE per column set.

    In a batch of several, the checks a unique key or a savepoint would make are made on what was
    read: the conversation rows are locked (`FOR UPDATE` on PostgreSQL; on SQLite the whole write
    is exclusive) and every append locks them first, so nothing read here changes before the
    commit. A refused append (unknown session, duplicate message_id, a human owns the
    conversation) fails alone.
    (Statements per append and a savepoint each cost several times the CPU, and the writer
    thread waited for the interpreter lock between every two statements.)"""
    sessions = sorted({item.session_id for item in batch})  # one lock order for every writer
    if len(sessions) == 1:
        owners: dict[str, str] = dict(conn.execute(_OWNER_OF_ONE, {"session": sessions[0]}).all())
        last_seq: dict[str, int] = dict(conn.execute(_LAST_SEQ_OF_ONE, {"session": sessions[0]}).all())
    else:
        owners = dict(conn.execute(_OWNERS, {"sessions": sessions}).all())
        last_seq = dict(conn.execute(_LAST_SEQS, {"sessions": sessions}).all())
    stored_ids: set[tuple[str, str]] = set()
    if len(batch) > 1:  # alone in its batch, an append's duplicate is refused by the unique key (`EventLog._write`)
        message_ids = sorted({event.message_id for item in batch for event in item.events if event.message_id is not None})
        if message_ids:
            stored_ids = set(conn.execute(_STORED_MESSAGE_IDS, {"message_ids": message_ids, "sessions": sessions}).all())
    outcomes: list[_Outcome] = []
    rows: list[dict[str, Any]] = []
    changes_of: dict[str, dict[str, Any]] = {}  # session -> its row's new values (later appends win)
    for item in batch:
        sid = item.session_id
        ids = [(sid, event.message_id) for event in item.events if event.message_id is not None]
        if sid not in last_seq:
            outcomes.append((item, None, UnknownSession(sid)))
            continue
        owner = owners.get(sid, "bot")  # no ownership row yet: the bot's
        if item.require_bot and owner == "human":
            outcomes.append((item, None, NotBotsTurn(sid)))
            continue
        if any(key in stored_ids for key in ids):
            outcomes.append((item, None, DuplicateMessage(sid)))
            continue
        stored_ids.update(ids)
        seq = max(last_seq[sid], item.floor_seq)
        frames: list[dict[str, Any]] = []
        for event in item.events:
            seq += 1
            data = dict(event.frame)
            data.pop("seq", None)
            rows.append({"session_id": sid, "seq": seq, "type": data["type"], "data": data, "message_id": event.message_id, "created_at": now})
            frames.append({**data, "seq": seq})
        last_seq[sid] = seq + item.reserve
        changes = changes_of.setdefault(sid, {})
        changes.update(last_seq=last_seq[sid], updated_at=now)
        if item.state is not None:
            changes["state"] = item.state
            changes["user_id"] = item.state.get("user_id")
            changes["language"] = item.state.get("language", "en")
        if item.conversation_state is not None:
            changes["conversation_state"] = item.conversation_state
        outcomes.append((item, Appended(frames, owner), None))
    if rows:
        conn.execute(_INSERT_EVENTS, rows)
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for sid, changes in changes_of.items():
        params = {"for_session": sid, **{f"new_{name}": value for name, value in changes.items()}}
        by_columns.setdefault(tuple(sorted(changes)), []).append(params)
    for columns, params_list in by_columns.items():
        conn.execute(_update_conversation(columns), params_list)
    return outcomes


class EventLog:
    """`append` with group commit: appends that arrive while a write is in flight share the next
    transaction (`_append_batch`: a duplicate or a refused bot event fails alone). Callers get
    their frames only after the commit. Under many concurrent sessions this turns many small write
    transactions, which SQLite runs one at a time, into a few larger ones, each one hand-off to
    the database's writer thread (`Database.run_write`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: list[_Append] = []
        self._writer: asyncio.Task[None] | None = None

    async def append(
        self, session_id: str, events: list[NewEvent], *, floor_seq: int = 0, state: dict[str, Any] | None = None,
        conversation_state: str | None = None, reserve: int = 0, require_bot: bool = False,
    ) -> Appended:
        """Store `events` with the next sequence numbers; return them as frames (with `seq`), and
        the conversation's owner as the same transaction saw it.

        With `require_bot`, the conversation's ownership is checked in the same transaction (the
        row is locked, as a takeover locks it): if a human owns it, nothing is stored and
        NotBotsTurn is raised. This is what makes "no bot message after a takeover is
        acknowledged" hold across processes: the takeover and the bot's reply cannot both commit
        in the wrong order.

        In the same transaction: the ConversationState JSON (`state`), the handoff mode
        (`conversation_state`), and `reserve` numbers after the last event kept back for transient
        frames that follow. Raises DuplicateMessage when an event's message_id is already stored.
        """
        done: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self._pending.append(_Append(session_id, events, floor_seq, state, conversation_state, reserve, require_bot, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        return await done

    async def _write_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:BATCH_MAX], self._pending[BATCH_MAX:]
            await self._write(batch)

    async def _write(self, batch: list[_Append]) -> None:
        now = _now()
        outcomes: list[_Outcome]
        try:
            try:
                outcomes = await self.db.run_write(lambda conn: _append_batch(conn, batch, now))
            except IntegrityError:
                # A unique key refused the batch (an append alone in its batch is not checked
                # beforehand: its message_id was stored before). Rolled back; a batch of several
                # is written again one append per transaction, so only the one at fault fails.
                if len(batch) == 1:
                    outcomes = [(batch[0], None, DuplicateMessage(batch[0].session_id))]
                else:
                    for item in batch:
                        await self._write([item])
                    return
        except Exception as exc:  # the commit failed: nothing of this batch is stored
            for item in batch:
                if item.done is not None and not item.done.done():
                    item.done.set_exception(exc)
            return
        for item, appended, error in outcomes:
            if item.done is None or item.done.done():
                continue  # the caller went away (cancelled)
            if error is not None:
                item.done.set_exception(error)
            else:
                assert appended is not None
                item.done.set_result(appended)


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


async def is_unanswered(db: Database, session_id: str, message_id: str, reserved: int = 0) -> bool:
    """Whether the shopper's stored message `message_id` is the end of its session's log with its
    turn never finished: nothing but its own moderation note stored after it, and `last_seq` not
    moved past the `reserved` numbers its store kept back (a finished turn always takes a number
    after them)."""
    async with db.read() as session:
        seq = (
            await session.execute(select(EventRow.seq).where(EventRow.session_id == session_id, EventRow.message_id == message_id))
        ).scalar()
        if seq is None:
            return False
        later = (await session.execute(select(EventRow.type, EventRow.seq).where(EventRow.session_id == session_id, EventRow.seq > seq))).all()
        last_seq = (await session.execute(select(ConversationRow.last_seq).where(ConversationRow.session_id == session_id))).scalar()
    if any(kind != "moderation" for kind, _ in later):
        return False
    return last_seq <= max([seq, *(s for _, s in later)]) + reserved
