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


LISTEN, ESTABLISHED = "0A", "01"  # TCP states in /proc/net/tcp


def socket_owners(port: int, state: str = LISTEN) -> dict[int, int]:
    """pid -> how many of its sockets on local `port` are in `state` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] == state and int(parts[1].split(":")[1], 16) == port:
                inodes.add(parts[9])
    owners: dict[int, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            held = sum(os.readlink(f"/proc/{pid}/fd/{fd}").removeprefix("socket:[").rstrip("]") in inodes for fd in os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
        if held:
            owners[int(pid)] = held
    return owners


def server_pids(port: int) -> set[int]:
    """The processes listening on `port` (Linux /proc)."""
    return set(socket_owners(port, LISTEN))


def cpu_seconds(pids: set[int]) -> float:
    """User + system CPU seconds the processes `pids` have used so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


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


SEARCH_TEMPLATES = (
    "do you have a {name}?", "I'm looking for a {name} under ${price}", "show me {name} options",
    "any {name} in stock?", "what {category} do you sell?", "something for {category} under ${price}",
)


def search_queries(home: Path, count: int, seed: int) -> list[str]:
    """Varied shopper search messages built from the store's own catalog (names, categories, prices),
    so runs do not ask one query over and over (a query-vector cache would make that unrealistically cheap)."""
    with sqlite3.connect(home / "shopbot.db") as db:
        rows = db.execute(
            "select p.name, p.category, max(v.price) from store_products p join store_variants v on v.product_id = p.product_id"
            " where p.source = 'demo' group by p.product_id"
        ).fetchall()
    rng = random.Random(seed)
    queries = []
    for _ in range(count):
        name, category, price = rng.choice(rows)
        leaf = (category or name).split(">")[-1].strip().lower()
        template = rng.choice(SEARCH_TEMPLATES)
        queries.append(template.format(name=name.lower(), category=leaf, price=int(price * rng.uniform(0.8, 1.5)) + 1))
    return queries


def script(kind: str, customer: tuple[str, str | None], searches: list[str]) -> list[str]:
    email, order = customer
    if kind == "search" or order is None:
        return [*searches, "thanks"]
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

    async def run(self, texts: list[str], timeout: float, start_after: float, think: float, rng: random.Random) -> None:
        await asyncio.sleep(start_after)
        async with websockets.connect(self.url, max_size=None, open_timeout=60) as ws:
            await ws.send(json.dumps({"type": "session_request", "session_id": None, "last_seq": None, "token": None}))
            self.session_id = json.loads(await asyncio.wait_for(ws.recv(), timeout))["session_id"]
            for k, text in enumerate(texts):
                if think and k:
                    await asyncio.sleep(rng.uniform(0.5, 1.5) * think)  # the shopper reads and types
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
                if frame["type"] == "handoff":
                    return


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


def plans_for(home: Path, sessions: int, turns: int, mix: str, seed: int) -> list[list[str]]:
    """Each session's messages: the `mixed` workload (search, order look-up, return) or `search` only."""
    customers = demo_customers(home, sessions)
    rng = random.Random(seed)
    queries = search_queries(home, sessions * max(1, turns), seed=seed + 1)
    plans = []
    for n in range(sessions):
        kind = "search" if mix == "search" else rng.choice(["search", "lookup", "return"])
        searches = queries[n * turns : (n + 1) * turns] if mix == "search" else queries[n * 2 : n * 2 + 2]
        plans.append(script(kind, customers[n % len(customers)], searches)[:turns])
    return plans


async def active_part(base: str, plans: list[list[str]], timeout: float, ramp: float, think: float, seed: int) -> dict[str, Any]:
    """Run the sessions of `plans`; return raw measurements (merged across client processes by `active_phase`)."""
    ws_url = base.replace("http", "ws") + "/ws"
    runners = [Session(ws_url) for _ in plans]
    rng = random.Random(seed)
    started, cpu_started = time.perf_counter(), time.process_time()
    results = await asyncio.gather(
        *(r.run(p, timeout, ramp * i / max(1, len(plans)), think, random.Random(rng.random())) for i, (r, p) in enumerate(zip(runners, plans))),
        return_exceptions=True,
    )
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    failures = [repr(r)[:200] for r in results if isinstance(r, BaseException)]
    lost = duplicated = 0
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for runner in runners:
            if not runner.session_id:
                continue
            stored = (await http.get(f"/api/sessions/{runner.session_id}/events", params={"after_seq": 0, "limit": 1000})).json()["events"]
            received = runner.seqs
            duplicated += len(received) - len(set(received))
            lost += len({e["seq"] for e in stored} - set(received))
    return {
        "ttft": [x for r in runners for x in r.ttft], "turn": [x for r in runners for x in r.turn],
        "failures": failures, "errors": sum(r.errors for r in runners), "lost": lost, "duplicated": duplicated,
        "started": started, "elapsed": elapsed, "cpu": cpu,
    }


def _client_process(args: tuple[str, list[list[str]], float, float, float, int]) -> dict[str, Any]:
    base, plans, timeout, ramp, think, seed = args
    return asyncio.run(active_part(base, plans, timeout, ramp, think, seed))


async def active_phase(
    base: str, home: Path, sessions: int, turns: int, timeout: float, *, mix: str = "mixed", think: float = 0.0,
    ramp: float = 0.0, processes: int = 1, seed: int = 7,
) -> dict[str, Any]:
    plans = plans_for(home, sessions, turns, mix, seed)
    if processes <= 1:
        parts = [await active_part(base, plans, timeout, ramp, think, 1)]
    else:  # several client processes, so the load generator is not the bottleneck
        import concurrent.futures
        import multiprocessing

        shares = [plans[i::processes] for i in range(processes)]
        with concurrent.futures.ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [asyncio.wrap_future(pool.submit(_client_process, (base, share, timeout, ramp, think, i + 1))) for i, share in enumerate(shares)]
            parts = await asyncio.gather(*futures)
    ttft = [x for p in parts for x in p["ttft"]]
    full = [x for p in parts for x in p["turn"]]
    elapsed = max(p["elapsed"] for p in parts)
    failures = [f for p in parts for f in p["failures"]]
    return {
        "sessions": sessions, "mix": mix, "think_s": think, "ramp_s": ramp, "client_processes": processes, "seed": seed,
        "turns_done": len(full), "sessions_failed": len(failures), "failure_examples": failures[:3],
        "error_frames": sum(p["errors"] for p in parts),
        "throughput_turns_s": round(len(full) / elapsed, 1), "ttft_ms_p50": round(1000 * percentile(ttft, 50), 1),
        "ttft_ms_p95": round(1000 * percentile(ttft, 95), 1), "ttft_ms_p99": round(1000 * percentile(ttft, 99), 1),
        "turn_ms_p50": round(1000 * percentile(full, 50), 1), "turn_ms_p95": round(1000 * percentile(full, 95), 1),
        "turn_ms_p99": round(1000 * percentile(full, 99), 1),
        "lost_events": sum(p["lost"] for p in parts), "duplicated_events": sum(p["duplicated"] for p in parts),
        "elapsed_s": round(elapsed, 1),
        # The load generator's own CPU (it shares the machine with the server): what is left for the server.
        "client_cpu_ms_per_turn": round(1000 * sum(p["cpu"] for p in parts) / max(1, len(full)), 1),
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
    parser.add_argument("--mix", choices=["mixed", "search"], default="mixed", help="mixed: search, order look-up, return; search: product searches only")
    parser.add_argument("--think", type=float, default=0.0, help="mean seconds a shopper waits between turns (0: closed loop)")
    parser.add_argument("--ramp", type=float, default=0.0, help="seconds over which the active sessions start")
    parser.add_argument("--processes", type=int, default=1, help="client processes sharing the active sessions")
    parser.add_argument("--seed", type=int, default=None, help="message seed (default: new each run, so server caches start cold for varied texts)")
    args = parser.parse_args()
    if not args.url.startswith(("http://127.", "http://localhost")):
        parser.error("load tests run against loopback only")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.idle + 1000)), hard))
    port = int(args.url.rsplit(":", 1)[1].split("/")[0])
    report: dict[str, Any] = {}
    if args.idle:
        # Memory is read from a server that has answered turns (its models loaded, caches and
        # thread pools warm), as it is in service: a few sessions first.
        await active_phase(args.url, args.home, 20, 3, args.timeout, mix="mixed", seed=1)
        baseline = server_rss_mb(port)
        report["idle"] = await idle_phase(args.url.replace("http", "ws") + "/ws", port, args.idle, args.hold)
        report["idle"]["server_rss_mb_before"] = round(baseline, 1)
        report["idle"]["kb_per_socket"] = round((report["idle"]["server_rss_mb"] - baseline) * 1024 / max(1, args.idle), 1)
    if args.sessions:
        # Server CPU per turn: less sensitive than turns/s to what else the machine is doing.
        pids = server_pids(port)
        cpu_before = cpu_seconds(pids)
        report["active"] = await active_phase(
            args.url, args.home, args.sessions, args.turns, args.timeout, mix=args.mix, think=args.think, ramp=args.ramp,
            processes=args.processes, seed=args.seed if args.seed is not None else random.randrange(1 << 30),
        )
        turns_done = max(1, report["active"]["turns_done"])
        report["active"]["server_cpu_ms_per_turn"] = round(1000 * (cpu_seconds(pids) - cpu_before) / turns_done, 1)
    report["server_rss_mb_after"] = round(server_rss_mb(port), 1)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
