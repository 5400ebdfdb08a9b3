"""SQLite write transactions: one writer at a time per file (`bot.db.SqliteWriteLock`), never a hang."""
from __future__ import annotations

import asyncio
import multiprocessing
import time
from pathlib import Path

import pytest

from bot.db import Database, SqliteWriteLock
from tests.databases import backend


def _hold(path: str, seconds: float, held: "multiprocessing.synchronize.Event") -> None:
    lock = SqliteWriteLock(Path(path))
    lock.acquire()
    held.set()
    time.sleep(seconds)
    lock.release()


def test_the_lock_excludes_other_processes_and_hands_over_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shopbot.db-lock"
    held = multiprocessing.get_context("spawn").Event()
    other = multiprocessing.get_context("spawn").Process(target=_hold, args=(str(path), 0.5, held))
    other.start()
    try:
        assert held.wait(30)
        lock = SqliteWriteLock(path)
        started = time.monotonic()
        lock.acquire()  # waits for the other process, and no longer than it holds the lock
        waited = time.monotonic() - started
        lock.release()
        lock.close()
        assert 0.2 < waited < 5
    finally:
        other.join(30)


async def test_a_write_inside_a_write_fails_instead_of_hanging(tmp_path: Path) -> None:
    if backend() != "sqlite":
        pytest.skip("the write lock is SQLite's")
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'shopbot.db'}")
    assert db._write_lock is not None
    db._write_lock.timeout_s = 0.3
    try:
        async with db.write():
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(db.run_write(lambda conn: None), 10)
        assert await db.run_write(lambda conn: 42) == 42  # the lock was let go
    finally:
        await db.dispose()
