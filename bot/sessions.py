"""Shopper sessions: the durable row per conversation, and the live view of it in this process.

A session is a conversation: its id is the ConversationState's `conversation_id`, the id agents
see. The row stores the engine's ConversationState (JSON), the handoff mode
(`conversation_state`: bot | handoff_requested | human | resolved) and `last_seq`. `LiveSession`
is what this process holds while a session has a socket or a turn in flight: the seq counter, the
queue of messages waiting for their turn, and the sockets to fan frames out to.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, case, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, Database
from bot.turns import ConversationState

log = logging.getLogger(__name__)

CONVERSATION_STATES = ("bot", "handoff_requested", "human", "resolved")


class ConversationRow(Base):
    __tablename__ = "conversations"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    conversation_state: Mapped[str] = mapped_column(String(32), default="bot", index=True)
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    client_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The shopper's language (ConversationState.language), a column of its own for the agents'
    # queue and analytics; written with the state.
    language: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    state: Mapped[dict[str, Any]] = mapped_column(JSON)


_INSERT_CONVERSATION = insert(ConversationRow.__table__)


class UnknownSession(LookupError):
    """No session with this id."""


def new_session_id() -> str:
    return secrets.token_urlsafe(16)  # 128 random bits: knowing the id is what resumes it


@dataclass
class SessionRecord:
    session_id: str
    last_seq: int
    conversation_state: str
    state: ConversationState


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def create_session(db: Database, *, user_id: str | None = None, client_ip: str | None = None) -> SessionRecord:
    session_id = new_session_id()
    state = ConversationState(conversation_id=session_id, user_id=user_id)
    now = _now()
    row = {
        "session_id": session_id, "created_at": now, "updated_at": now, "last_seq": 0, "conversation_state": "bot",
        "user_id": user_id, "client_ip": client_ip, "language": state.language, "state": state.to_dict(),
    }
    # One Core statement in the writer's transaction (Database.run_write): on SQLite an ORM write
    # session held the file's write lock, which every worker shares, while this process's event
    # loop got round to each of its steps (19 ms a session under load, half the lock's time).
    await db.run_write(lambda conn: conn.execute(_INSERT_CONVERSATION, row))
    return SessionRecord(session_id, 0, "bot", state)


async def load_session(db: Database, session_id: str) -> SessionRecord:
    async with db.read() as session:
        row = await session.get(ConversationRow, session_id)
        if row is None:
            raise UnknownSession(session_id)
        return SessionRecord(row.session_id, row.last_seq, row.conversation_state, ConversationState.from_dict(row.state))


async def save_session(
    db: Database, session_id: str, *, state: ConversationState | None = None, min_last_seq: int | None = None,
    conversation_state: str | None = None,
) -> None:
    """Write the state, move last_seq up to at least `min_last_seq`, set the handoff mode: one
    UPDATE (atomic on its own) in the writer's transaction."""
    table = ConversationRow.__table__
    values: dict[str, Any] = {"updated_at": _now()}
    if state is not None:
        values["state"] = state.to_dict()
        values["user_id"] = state.user_id
        values["language"] = state.language
    if min_last_seq is not None:
        values["last_seq"] = case((table.c.last_seq < min_last_seq, min_last_seq), else_=table.c.last_seq)
    if conversation_state is not None:
        values["conversation_state"] = conversation_state
    statement = update(table).where(table.c.session_id == session_id).values(**values)
    if (await db.run_write(lambda conn: conn.execute(statement).rowcount)) != 1:
        raise UnknownSession(session_id)


async def languages_of(db: Database, session_ids: list[str]) -> dict[str, str]:
    """The shopper's language of each of these conversations (those that exist)."""
    if not session_ids:
        return {}
    statement = select(ConversationRow.session_id, ConversationRow.language).where(ConversationRow.session_id.in_(session_ids))
    async with db.read() as session:
        return {sid: language for sid, language in (await session.execute(statement)).all()}


class Outbox:
    """Frames waiting to go out on one socket, in order: `put_nowait` and `await get()`.

    A deque and at most one waiting reader; lighter than asyncio.Queue (four deques and an
    event), which adds up with thousands of open, idle sockets."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def empty(self) -> bool:
        return not self._items


@dataclass
class LiveSession:
    """One session as this process holds it. All frames to its sockets go through `publish`."""

    session_id: str
    seq: int  # highest seq handed out (stored or transient)
    state: ConversationState
    conversation_state: str = "bot"
    queue: deque[Any] = field(default_factory=deque)  # shopper messages waiting for their turn
    pending_ids: set[str] = field(default_factory=set)  # message ids queued, not yet stored
    subscribers: set[Any] = field(default_factory=set)  # Outbox-like: put_nowait(frame)
    worker: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # guards seq allocation and appends
    bot_silenced: bool = False  # set the moment a human takes over: the bot's turn stops streaming
    ownership_changes: int = 0  # bumped by every local ownership change (stale reads must not undo one)
    ownership_in_flight: int = 0  # local ownership changes not yet committed (a read now may be stale)

    relay: Any = None  # with several processes: sends each frame to the others (SessionHub)
    appending: int = 0  # appends of this session in flight here: the numbers they get are not known yet
    deferred: list[tuple[Callable[[dict[str, Any]], None], dict[str, Any]]] = field(default_factory=list)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def send_transient(self, data: dict[str, Any], deliver: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Number a frame that is not stored (status, bot_delta, error) and hand it to `deliver`
        (default: `publish`). While an append is in flight the frame waits for it and is numbered
        after the stored events: a transient never shares a seq with a stored event (a client that
        skips numbers it has seen, as the widget does, would otherwise skip a stored one)."""
        deliver = deliver or self.publish
        if self.appending:
            self.deferred.append((deliver, data))
        else:
            deliver({**data, "seq": self.next_seq()})

    def append_started(self) -> None:
        self.appending += 1

    def append_finished(self) -> None:
        """After an append (stored or failed) has published its events: send what waited."""
        self.appending -= 1
        if not self.appending:
            waiting, self.deferred = self.deferred, []
            for deliver, data in waiting:
                deliver({**data, "seq": self.next_seq()})

    def publish(self, frame: dict[str, Any]) -> None:
        self.deliver(frame)
        if self.relay is not None:
            self.relay(self.session_id, frame)

    def deliver(self, frame: dict[str, Any]) -> None:
        """Fan a frame out to this process's listeners (sockets, agent watchers) only."""
        self.seq = max(self.seq, int(frame["seq"]))
        for queue in self.subscribers:
            queue.put_nowait(frame)

    @property
    def busy(self) -> bool:
        return self.worker is not None and not self.worker.done()


class SessionHub:
    """The live sessions of this process, loaded from the database on first use.

    With a shared bus (Redis, several worker processes) every frame a live session publishes here
    is relayed on `conversation:<id>`, and frames other processes relay for the sessions held here
    are delivered to this process's listeners: a shopper on one worker and an agent on another see
    each other's messages at once. The event log in the database stays the record.
    """

    def __init__(self, db: Database, bus: Any = None) -> None:
        self.db = db
        self.sessions: dict[str, LiveSession] = {}
        self._loading = asyncio.Lock()
        self.bus = bus
        self._listeners: dict[str, asyncio.Task[None]] = {}

    async def get(self, session_id: str) -> LiveSession:
        live = self.sessions.get(session_id)
        if live is not None:
            return live
        async with self._loading:
            live = self.sessions.get(session_id)
            if live is None:
                record = await load_session(self.db, session_id)
                live = LiveSession(record.session_id, record.last_seq, record.state, record.conversation_state)
                await self._attach(live)
            return live

    async def create(self, *, user_id: str | None, client_ip: str | None) -> LiveSession:
        record = await create_session(self.db, user_id=user_id, client_ip=client_ip)
        live = LiveSession(record.session_id, record.last_seq, record.state, record.conversation_state)
        await self._attach(live)
        return live

    async def _attach(self, live: LiveSession) -> None:
        self.sessions[live.session_id] = live
        if self.bus is None:
            return
        channel = f"conversation:{live.session_id}"
        subscription = await self.bus.subscribe(channel)
        live.relay = self._relay
        self._listeners[live.session_id] = asyncio.create_task(self._listen(live, subscription))

    def _relay(self, session_id: str, frame: dict[str, Any]) -> None:
        # To the other processes only: this one has delivered the frame to its listeners already.
        self.bus.post(f"conversation:{session_id}", {"frame": frame}, echo=False)

    async def _listen(self, live: LiveSession, subscription: Any) -> None:
        try:
            async for message in subscription:
                if not isinstance(message.get("frame"), dict):
                    continue
                frame = message["frame"]
                if frame.get("type") == "handoff":  # another process changed who owns the conversation
                    live.conversation_state = str(frame.get("state", live.conversation_state))
                    live.bot_silenced = live.conversation_state != "bot"
                    live.ownership_changes += 1
                live.deliver(frame)
        finally:
            await subscription.close()

    def release_if_idle(self, live: LiveSession) -> None:
        """Forget a session nobody listens to and nothing runs for (its row holds everything)."""
        if not live.subscribers and not live.busy and not live.queue and self.sessions.get(live.session_id) is live:
            del self.sessions[live.session_id]
            listener = self._listeners.pop(live.session_id, None)
            if listener is not None:
                listener.cancel()

    async def close(self) -> None:
        workers = [live.worker for live in self.sessions.values() if live.busy]
        for worker in workers:
            worker.cancel()  # type: ignore[union-attr]
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)  # type: ignore[arg-type]
        self.sessions.clear()
        for listener in self._listeners.values():
            listener.cancel()
        self._listeners.clear()
