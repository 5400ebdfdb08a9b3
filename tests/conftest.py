"""Shared fixtures: a temporary SHOPBOT_HOME with a migrated database, and a running server.

`running_server` starts the real app under uvicorn on 127.0.0.1 and a free port, in a thread with
its own event loop, so tests talk to it over real sockets exactly as a browser or integrator would.
"""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings
from tests.databases import database_url, migrated_template, new_database  # noqa: F401 (fixtures)


@pytest.fixture()
def shopbot_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_database: Callable[..., str]) -> Settings:
    """Settings for a fresh SHOPBOT_HOME under tmp_path whose database is already migrated
    (a SQLite file in the home, or a PostgreSQL database with SHOPBOT_TEST_DATABASE=postgres)."""
    home = tmp_path / "home"
    home.mkdir()
    url = new_database(home / "shopbot.db")
    monkeypatch.setenv("SHOPBOT_HOME", str(home))
    monkeypatch.setenv("SHOPBOT_DATABASE_URL", url)
    return Settings.from_env(home=home, database_url=url, data_dir=None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    """A uvicorn server in a thread. `restart()` stops it and starts a new app on the same port."""

    make_app: Callable[[], Any]
    port: int
    server: Any = None
    thread: threading.Thread | None = None
    apps: list[Any] = field(default_factory=list)
    server_loop: Any = None  # the server's event loop (for run_coroutine_threadsafe in tests)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def app(self) -> Any:
        return self.apps[-1]

    def start(self) -> None:
        import uvicorn

        app = self.make_app()
        self.apps.append(app)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", ws_max_size=1024 * 1024, lifespan="on")
        self.server = uvicorn.Server(config)
        server = self.server

        def serve() -> None:
            import asyncio

            loop = asyncio.new_event_loop()
            self.server_loop = loop
            try:
                loop.run_until_complete(server.serve())
            finally:
                loop.close()

        self.thread = threading.Thread(target=serve, name=f"uvicorn-{self.port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start (see the log above)")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=30)
            self.server = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture()
def running_server() -> Iterator[Callable[..., RunningServer]]:
    """`running_server(make_app)` -> a started RunningServer; stopped after the test."""
    started: list[RunningServer] = []

    def start(make_app: Callable[[], Any]) -> RunningServer:
        handle = RunningServer(make_app, free_port())
        handle.start()
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()


@pytest.fixture(scope="session")
def trained_engine_home(tmp_path_factory, migrated_template) -> Settings:
    """A SHOPBOT_HOME with a small default engine trained on the demo store (no public data):
    `shopbot train --quick` with a short fine-tune of the real base model (about six minutes on 2
    cores). Shared by the slow end-to-end tests."""
    import argparse
    import shutil

    from bot.commands import train

    home = tmp_path_factory.mktemp("trained")
    shutil.copy(migrated_template, home / "shopbot.db")
    settings = Settings.from_env(home=home, database_url=f"sqlite+aiosqlite:///{home / 'shopbot.db'}", data_dir=None)
    parser = argparse.ArgumentParser()
    train.add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", "--quick", "--tokens", "80000"])
    assert args.func(args, settings) == 0
    return settings

