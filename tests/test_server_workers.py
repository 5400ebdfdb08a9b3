"""`shopbot serve --workers 2`: each worker listens on its own SO_REUSEPORT socket, so the kernel
spreads connections over both; a worker that dies is replaced; SIGTERM stops them all."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets

from benchmarks.load import ESTABLISHED, server_pids, socket_owners
from bot.settings import Settings
from tests.services import free_port, wait_healthy


def _wait_for_workers(port: int, log: Path, count: int, gone: int | None = None, timeout: float = 120.0) -> set[int]:
    """The `count` listening worker pids once /healthz answers (and `gone` is no longer one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = server_pids(port)
        if len(pids) == count and gone not in pids:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    return pids
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    raise AssertionError(f"{count} workers did not come up on {port}: {server_pids(port)}; the server's log ends:\n{tail}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_two_workers_share_connections_and_a_dead_worker_is_replaced(shopbot_home: Settings, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port), "--workers", "2"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "SHOPBOT_ALLOWED_ORIGINS": "*"},
        )
    try:
        wait_healthy(port, proc, log.read_text)
        workers = _wait_for_workers(port, log, 2)
        assert proc.pid not in workers  # the supervisor never accepts connections itself
        sockets = [await websockets.connect(f"ws://127.0.0.1:{port}/ws") for _ in range(40)]
        try:
            for ws in sockets:
                await ws.send('{"type": "session_request", "session_id": null, "last_seq": null, "token": null}')
                assert '"session_confirm"' in await ws.recv()
            owners = {pid: socket_owners(port, ESTABLISHED).get(pid, 0) for pid in workers}
            assert sum(owners.values()) == 40 and min(owners.values()) > 0, owners
        finally:
            for ws in sockets:
                await ws.close()

        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        replaced = _wait_for_workers(port, log, 2, gone=victim)
        assert victim not in replaced and len(replaced & workers) == 1
        assert "starting another" in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    assert not server_pids(port)
