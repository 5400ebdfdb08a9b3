"""Load test: many shopper sockets against a running shopbot server on loopback.

Phase 1 (idle): open `--idle` sockets that only start a session, hold them `--hold` seconds,
read the server's memory (all its processes). Phase 2 (active): `--sessions` sessions each run
`--turns` scripted turns drawn from three scripts: product search, order look-up after
authentication by email, and a return with the confirmation step. Every received frame is kept;
afterwards each session's stored history (REST) is compared with what the socket delivered:
a stored event never received is lost, a seq received twice is duplicated.

Bounded in count and time, loopback only. Start the server first, e.g.

    SHOPBOT_HOME=~/.shopbot .venv/bin/shopbot serve --port 8000 --workers 2
    python benchmarks/load.py --url http://127.0.0.1:8000 --idle 1000 --sessions 100 --turns 3
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import websockets


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def server_pids(port: int) -> set[int]:
    """The processes listening on `port` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].split(":")[1], 16) == port:
                inodes.add(parts[9])
    pids: set[int] = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}").removeprefix("socket:[").rstrip("]") in inodes:
                    pids.add(int(pid))
                    break
        except OSError:
            continue
    return pids


def server_rss_mb(port: int) -> float:
    """Resident memory of every process listening on `port`."""
    total = 0
    for pid in server_pids(port):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def demo_customers(home: Path, n: int) -> list[tuple[str, str | None]]:
    """(email, a delivered order id or None) of demo customers, read from the store database."""
    with sqlite3.connect(home / "shopbot.db") as db:
        rows = db.execute(
            "select u.email, (select o.order_id from store_orders o where o.user_id = u.user_id and o.status = 'delivered' limit 1)"
            " from store_users u order by u.user_id limit ?",
            (n,),
        ).fetchall()
    return [(email, order) for email, order in rows]


def script(kind: str, customer: tuple[str, str | None]) -> list[str]:
    email, order = customer
    if kind == "search" or order is None:
        return ["do you have a waterproof bluetooth speaker under $100?", "what about a yoga mat?", "thanks"]
    if kind == "lookup":
        return [f"hi, my email is {email}", f"what's the status of order {order}?", "thanks"]
    return [f"my email is {email}", f"I want to return everything in order {order} to the original payment method", "yes"]


class Session:
    def __init__(self, url: str) -> None:
        self.url = url
        self.session_id = ""
        self.seqs: list[int] = []
        self.ttft: list[float] = []
        self.turn: list[float] = []
        self.errors = 0

    async def run(self, texts: list[str], timeout: float) -> None:
        async with websockets.connect(self.url, max_size=None, open_timeout=60) as ws:
            await ws.send(json.dumps({"type": "session_request", "session_id": None, "last_seq": None, "token": None}))
            self.session_id = json.loads(await asyncio.wait_for(ws.recv(), timeout))["session_id"]
            for k, text in enumerate(texts):
                sent, first = time.perf_counter(), None
                await ws.send(json.dumps({"type": "user_uttered", "text": text, "message_id": f"l{k}", "payload": None}))
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
                    self.seqs.append(frame["seq"])
                    if frame["type"] == "bot_delta" and first is None:
                        first = time.perf_counter() - sent
                    elif frame["type"] == "error":
                        self.errors += 1
                    if frame["type"] == "status" and frame.get("state") == "idle":
                        break
                    if frame["type"] == "handoff" and frame.get("state") != "bot":
                        break  # with a human now: the bot will not answer (the turn ends here)
                self.turn.append(time.perf_counter() - sent)
                self.ttft.append(first if first is not None else self.turn[-1])


async def idle_phase(url: str, port: int, count: int, hold: float) -> dict[str, Any]:
    sockets = []
    started = time.perf_counter()
    failures = 0
    for start in range(0, count, 200):
        batch = await asyncio.gather(*(websockets.connect(url, open_timeout=60) for _ in range(min(200, count - start))), return_exceptions=True)
        for ws in batch:
            if isinstance(ws, BaseException):
                failures += 1
                continue
            await ws.send(json.dumps({"type": "session_request", "session_id": None, "last_seq": None, "token": None}))
            sockets.append(ws)
    await asyncio.gather(*(ws.recv() for ws in sockets), return_exceptions=True)
    await asyncio.sleep(hold)
    memory = server_rss_mb(port)
    alive = sum(1 for ws in sockets if ws.state.name == "OPEN")
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {"idle_requested": count, "idle_open_after_hold": alive, "idle_failed": failures, "server_rss_mb": round(memory, 1), "open_s": round(time.perf_counter() - started, 1)}


async def active_phase(base: str, home: Path, sessions: int, turns: int, timeout: float) -> dict[str, Any]:
    customers = demo_customers(home, sessions)
    rng = random.Random(7)
    plans = [script(rng.choice(["search", "lookup", "return"]), customers[n % len(customers)])[:turns] for n in range(sessions)]
    ws_url = base.replace("http", "ws") + "/ws"
    runners = [Session(ws_url) for _ in range(sessions)]
    started = time.perf_counter()
    results = await asyncio.gather(*(r.run(p, timeout) for r, p in zip(runners, plans)), return_exceptions=True)
    elapsed = time.perf_counter() - started
    failed = [r for r in results if isinstance(r, BaseException)]
    lost = duplicated = 0
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for runner in runners:
            if not runner.session_id:
                continue
            stored = (await http.get(f"/api/sessions/{runner.session_id}/events", params={"after_seq": 0, "limit": 1000})).json()["events"]
            received = runner.seqs
            duplicated += len(received) - len(set(received))
            lost += len({e["seq"] for e in stored} - set(received))
    ttft = [x for r in runners for x in r.ttft]
    full = [x for r in runners for x in r.turn]
    return {
        "sessions": sessions, "turns_done": len(full), "sessions_failed": len(failed), "error_frames": sum(r.errors for r in runners),
        "throughput_turns_s": round(len(full) / elapsed, 1), "ttft_ms_p50": round(1000 * percentile(ttft, 50), 1),
        "ttft_ms_p95": round(1000 * percentile(ttft, 95), 1), "turn_ms_p50": round(1000 * percentile(full, 50), 1),
        "turn_ms_p95": round(1000 * percentile(full, 95), 1), "turn_ms_p99": round(1000 * percentile(full, 99), 1),
        "lost_events": lost, "duplicated_events": duplicated, "elapsed_s": round(elapsed, 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("SHOPBOT_HOME", ".shopbot")), help="the server's SHOPBOT_HOME (demo customers)")
    parser.add_argument("--idle", type=int, default=500)
    parser.add_argument("--hold", type=float, default=5.0)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    if not args.url.startswith(("http://127.", "http://localhost")):
        parser.error("load tests run against loopback only")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.idle + 1000)), hard))
    port = int(args.url.rsplit(":", 1)[1].split("/")[0])
    report: dict[str, Any] = {}
    if args.idle:
        report["idle"] = await idle_phase(args.url.replace("http", "ws") + "/ws", port, args.idle, args.hold)
    if args.sessions:
        report["active"] = await active_phase(args.url, args.home, args.sessions, args.turns, args.timeout)
    report["server_rss_mb_after"] = round(server_rss_mb(port), 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
