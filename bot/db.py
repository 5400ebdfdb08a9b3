"""Database access: one async engine per process, SQLite (WAL) by default, PostgreSQL by URL.

Writes that must not race (an order cancelled twice at once) run in `Database.write()`: on SQLite
that transaction starts with `BEGIN IMMEDIATE`, so writers are serialised by the database itself;
on PostgreSQL callers lock the rows they change with `SELECT ... FOR UPDATE`. Every store row that
changes also carries a version number checked on update, so a lost update is impossible on both.
"""
from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Executable, Row, create_engine, event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from bot import jsontext

_WRITE_OPTION = "shopbot_write"
T = TypeVar("T")


class Base(DeclarativeBase):
    """Declarative base shared by every table of shopbot."""


def _configure_sqlite(engine: AsyncEngine | Engine, *, always_immediate: bool = False) -> None:
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        immediate = always_immediate or conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class SqliteWriteLock:
    """One writer at a time on a SQLite file, across threads and processes, handed over at once.

    SQLite serialises writers itself, but a writer that finds the file locked polls for it with
    sleeps of up to 100 ms (its busy handler), so a process writing back to back keeps the lock
    and starves the others: two workers were measured taking turns at being idle for seconds.
    Here a writer waits in the kernel on a `flock` of `<database>-lock` and is woken the moment
    the holder lets go; a thread lock does the same within the process (one process's threads
    share the flock)."""

    def __init__(self, path: Path, timeout_s: float = 30.0) -> None:
        self.path = path
        self.timeout_s = timeout_s  # as SQLite's busy timeout: a write never waits forever here
        self._threads = threading.Lock()
        self._fd: int | None = None

    def acquire(self) -> None:
        if not self._threads.acquire(timeout=self.timeout_s):
            # A write started inside another one on this process, or one that never ended.
            raise TimeoutError(f"no write lock on {self.path} after {self.timeout_s:g} s")
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def release(self) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()

    def close(self) -> None:
        if self._fd is not None and self._threads.acquire(blocking=False):
            os.close(self._fd)
            self._fd = None
            self._threads.release()


class Database:
    """Owns the engine; hands out read sessions and serialised write sessions.

    On a SQLite file every write transaction of every shopbot process holds `SqliteWriteLock`
    (so a write must not start another one inside itself), and `run_write` runs its transactions
    in one writer thread per process."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # JSON columns (events, conversation state) through bot.jsontext: on SQLite the event log
        # serialises them inside the write lock, so the faster the better.
        kwargs: dict[str, object] = {"echo": echo, "json_serializer": jsontext.dumps, "json_deserializer": jsontext.loads}
        if self.is_sqlite:
            path = url.split(":///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        # A SQLite file: the write lock, and run_write's synchronous engine and writer thread
        # (neither connects nor starts a thread before the first write).
        self._write_lock: SqliteWriteLock | None = None
        self._sync_engine: Engine | None = None
        self._writer: ThreadPoolExecutor | None = None
        if self.is_sqlite:
            _configure_sqlite(self.engine)
            if path and path != ":memory:":
                self._write_lock = SqliteWriteLock(Path(path + "-lock"))
                self._sync_engine = create_engine(
                    make_url(url).set(drivername="sqlite"), connect_args={"timeout": 30, "check_same_thread": False},
                    pool_size=1, max_overflow=0, echo=echo, json_serializer=jsontext.dumps, json_deserializer=jsontext.loads,
                )
                _configure_sqlite(self._sync_engine, always_immediate=True)
                self._writer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; anything it writes is rolled back."""
        async with self.engine.connect() as conn:
            async with AsyncSession(bind=conn, expire_on_commit=False) as session:
                try:
                    yield session
                finally:
                    await session.rollback()

    async def first(self, statement: Executable, params: dict[str, Any]) -> Row[Any] | None:
        """The first row of a read-only Core statement, on a plain connection: no ORM session to
        open and roll back (the reads made every turn are hot paths)."""
        async with self.engine.connect() as conn:
            return (await conn.execute(statement, params)).first()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on any error."""
        if self._write_lock is not None:
            await self._acquire_write_lock()
        try:
            async with self.engine.connect() as conn:
                if self.is_sqlite:
                    await conn.execution_options(**{_WRITE_OPTION: True})
                async with AsyncSession(bind=conn, expire_on_commit=False) as session:
                    try:
                        yield session
                        await session.commit()
                    except BaseException:
                        await session.rollback()
                        raise
        finally:
            if self._write_lock is not None:
                self._write_lock.release()

    async def _acquire_write_lock(self) -> None:
        """Wait for the write lock in the writer thread (the event loop must not block)."""
        lock = self._write_lock
        assert lock is not None
        waiting = asyncio.get_running_loop().run_in_executor(self._writer, lock.acquire)
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:  # the lock is taken for a caller that is gone: let it go
            waiting.add_done_callback(lambda f: None if f.cancelled() or f.exception() else lock.release())
            raise

    async def run_write(self, work: Callable[[Connection], T]) -> T:
        """`work(connection)` in one write transaction: committed when it returns, rolled back
        when it raises. `work` runs plain (synchronous) SQLAlchemy Core on the connection.

        On a SQLite file all of it runs in this database's writer thread on a synchronous
        connection: one hand-off between threads for the whole transaction instead of one per
        statement, and SQLite's write lock, which every process shares, is held only while the SQL
        runs, not while this process's event loop gets round to the next statement. Elsewhere
        (PostgreSQL) it runs on the async connection (SQLAlchemy's `run_sync`)."""
        if self._writer is not None:
            return await asyncio.get_running_loop().run_in_executor(self._writer, self._write_now, work)
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                await conn.execution_options(**{_WRITE_OPTION: True})
            async with conn.begin():
                return await conn.run_sync(work)

    def _write_now(self, work: Callable[[Connection], T]) -> T:
        assert self._sync_engine is not None and self._write_lock is not None
        self._write_lock.acquire()
        try:
            with self._sync_engine.begin() as conn:  # BEGIN IMMEDIATE (the "begin" event above)
                return work(conn)
        finally:
            self._write_lock.release()

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._writer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._writer.shutdown)  # queued writes finish first
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        if self._write_lock is not None:
            self._write_lock.close()
