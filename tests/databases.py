"""The database the tests run against: SQLite files by default, PostgreSQL on request.

    SHOPBOT_TEST_DATABASE=postgres ./test.sh ...

runs every test that takes its database from `new_database` (through the `shopbot_home` or
`database_url` fixtures) on a throwaway PostgreSQL server started for the test session
(`tests.services.postgres_server`): each test gets its own database, copied from one migrated
template, just as each SQLite test gets its own copy of one migrated file. `./test.sh` runs the
suite on both.
"""
from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

BACKENDS = ("sqlite", "postgres")
TEMPLATE = "shopbot_template"


def backend() -> str:
    """The database the suite runs on (SHOPBOT_TEST_DATABASE: sqlite, the default, or postgres)."""
    name = os.environ.get("SHOPBOT_TEST_DATABASE", "sqlite").strip().lower() or "sqlite"
    if name not in BACKENDS:
        raise pytest.UsageError(f"SHOPBOT_TEST_DATABASE={name!r}: expected one of {', '.join(BACKENDS)}")
    return name


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


class PostgresDatabases:
    """Fresh databases on one PostgreSQL server, each a copy of a migrated template (fast)."""

    def __init__(self, server_url: str) -> None:
        from bot.migrate import upgrade
        from tests.services import _postgres_bin

        self.server_url = server_url
        self.bindir = _postgres_bin()
        self.counter = itertools.count()
        host_port = server_url.split("@", 1)[1].split("/", 1)[0]
        self.host, self.port = host_port.split(":")
        self._createdb(TEMPLATE, template=None)
        upgrade(self.url(TEMPLATE))  # upgrade() disposes its engine: the template has no connections left

    def url(self, name: str) -> str:
        return self.server_url.rsplit("/", 1)[0] + "/" + name

    def _createdb(self, name: str, template: str | None) -> None:
        cmd = [f"{self.bindir}/createdb", "-h", self.host, "-p", self.port, "-U", "postgres"]
        if template:
            cmd += ["-T", template]
        subprocess.run([*cmd, name], check=True, capture_output=True, timeout=60)

    def new(self, migrated: bool = True) -> str:
        name = f"t{os.getpid()}_{next(self.counter)}"
        self._createdb(name, TEMPLATE if migrated else None)
        return self.url(name)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated, empty SQLite database per test run; tests get copies of it."""
    from bot.migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "shopbot.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def new_database(migrated_template: Path) -> Iterator[Callable[..., str]]:
    """`new_database(sqlite_path, migrated=True)` -> the URL of a database of this test's own.

    On SQLite it is the file `sqlite_path` (a copy of the migrated template, or absent when not
    `migrated`); on PostgreSQL a new database on the session's server, and `sqlite_path` is unused.
    """
    if backend() == "postgres":
        from tests.services import postgres_server

        with postgres_server() as server_url:
            databases = PostgresDatabases(server_url)
            yield lambda sqlite_path, migrated=True: databases.new(migrated)
        return

    def sqlite(sqlite_path: Path, migrated: bool = True) -> str:
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        if migrated:
            shutil.copy(migrated_template, sqlite_path)
        return f"sqlite+aiosqlite:///{sqlite_path}"

    yield sqlite


@pytest.fixture()
def database_url(tmp_path: Path, new_database: Callable[..., str]) -> str:
    """A migrated, empty database of this test's own (SQLite file or PostgreSQL database)."""
    return new_database(tmp_path / "db" / "shopbot.db")


def raw_contents(url: str) -> bytes:
    """Everything the database holds, as bytes: the SQLite file and its WAL, or a pg_dump."""
    if is_postgres(url):
        from tests.services import _postgres_bin

        address, name = url.split("@", 1)[1].rsplit("/", 1)
        host, port = address.split(":")
        cmd = [f"{_postgres_bin()}/pg_dump", "-h", host, "-p", port, "-U", "postgres", "--data-only", name]
        return subprocess.run(cmd, check=True, capture_output=True, timeout=60).stdout
    path = Path(url.split(":///", 1)[1])
    return b"".join(p.read_bytes() for p in [path, *sorted(path.parent.glob(path.name + "-*"))] if p.is_file())


def home_with_agent(tmp_path: Path, new_database: Callable[..., str], name: str = "Alex", password: str = "alex-password") -> tuple[Path, str]:
    """A SHOPBOT_HOME under tmp_path whose migrated database (URL returned) has one support agent."""
    import asyncio

    from bot.agents import add_agent
    from bot.db import Database
    from bot.migrate import upgrade_async

    home = tmp_path / "home"
    home.mkdir()
    url = new_database(home / "shopbot.db")

    async def prepare() -> None:
        await upgrade_async(url)
        db = Database(url)
        await add_agent(db, name, password)
        await db.dispose()

    asyncio.run(prepare())
    return home, url
