"""Turn latency through the real server: time to first token and full-turn latency, p50/p95/p99.

Starts the app under uvicorn on 127.0.0.1 in a server process of its own, then
for each concurrency level opens N WebSocket sessions that each send `--turns` messages one
after another. TTFT = shopper message sent -> first bot_delta received; turn = message sent ->
bot_uttered received. Clients and server share the machine, as they do in these numbers.

    python benchmarks/turns.py --engine scripted                 # the server pipeline alone
    python benchmarks/turns.py --engine default --home ~/.shopbot  # the trained engine (shopbot train)
    python benchmarks/turns.py ... --write-docs                  # update "## Turns" in docs/performance.md
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402

from bot.settings import Settings  # noqa: E402

DOC = ROOT / "docs" / "performance.md"
QUESTIONS = ["hi there", "do you have a desk lamp?", "what about something for hiking?", "which t-shirts do you sell?", "thanks!"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def one_session(url: str, n: int, turns: int, ttft: list[float], full: list[float], think: float = 0.0) -> None:
    rng = random.Random(n)
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "session_request", "session_id": None}))
        json.loads(await ws.recv())
        if think:
            await asyncio.sleep(rng.uniform(0, think))  # shoppers do not all start in the same millisecond
        for k in range(turns):
            if think and k:
                await asyncio.sleep(rng.uniform(0.5, 1.5) * think)  # reading the reply, typing the next message
            sent = time.perf_counter()
            await ws.send(json.dumps({"type": "user_uttered", "text": QUESTIONS[(n + k) % len(QUESTIONS)], "message_id": f"b{n}-{k}"}))
            first = None
            handoffs: list[int] = []
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if frame["type"] == "bot_delta" and first is None:
                    first = time.perf_counter() - sent
                if frame["type"] == "bot_uttered":
                    full.append(time.perf_counter() - sent)
                    ttft.append(first if first is not None else full[-1])
                if frame["type"] == "handoff":
                    handoffs.append(1)
                if frame["type"] == "error":
                    raise RuntimeError(f"server error frame: {frame}")
                if frame["type"] == "status" and frame["state"] == "idle":
                    break
            if handoffs:
                return  # a person takes over: the bot stays quiet, this session is done


async def level(url: str, sessions: int, turns: int, think: float = 0.0, server_pid: int | None = None) -> dict[str, Any]:
    from benchmarks.load import cpu_seconds

    ttft: list[float] = []
    full: list[float] = []
    cpu_before = cpu_seconds({server_pid}) if server_pid else 0.0
    started = time.perf_counter()
    await asyncio.gather(*(one_session(url, n, turns, ttft, full, think) for n in range(sessions)))
    wall = time.perf_counter() - started
    cpu = cpu_seconds({server_pid}) - cpu_before if server_pid else float("nan")
    ms = lambda v: round(v * 1000, 1)  # noqa: E731
    return {
        "sessions": sessions, "think_s": think, "turns": len(full), "turns_per_s": round(len(full) / wall, 1),
        "ttft_p50": ms(percentile(ttft, 50)), "ttft_p95": ms(percentile(ttft, 95)), "ttft_p99": ms(percentile(ttft, 99)),
        "turn_p50": ms(percentile(full, 50)), "turn_p95": ms(percentile(full, 95)), "turn_p99": ms(percentile(full, 99)),
        "server_cpu_ms_per_turn": round(1000 * cpu / max(1, len(full)), 1),
    }


def build_engine(kind: str) -> Any:
    if kind == "scripted":
        sys.path.insert(0, str(ROOT))
        from tests.scripted_engine import ScriptedEngine

        return ScriptedEngine(delay=0.0, words_per_chunk=3)
    return None  # the server loads the default engine from SHOPBOT_HOME


def build_moderator(kind: str, settings: Settings) -> Any:
    if kind == "off":
        from policies.moderation_api import AllowAll

        return AllowAll()
    if kind == "rules":
        from policies.moderation import ShopModerator

        return ShopModerator(None)
    return None  # the server's default: load_moderator(settings)


def write_docs(rows: list[dict[str, Any]], args: argparse.Namespace, engine_name: str, moderation: str) -> None:
    """Replace this run's table (one per --engine/--moderation pair) inside "## Turns"."""
    key = f"<!-- turns:{args.engine}:{args.moderation}:think{args.think:g} -->"
    lines = [
        key,
        f"### Engine: {engine_name}; moderation: {moderation}; "
        + (f"think time {args.think:g} s (0.5-1.5x) between messages" if args.think else "closed loop (no think time)"),
        "",
        f"`python benchmarks/turns.py --engine {args.engine} --moderation {args.moderation} --turns {args.turns} --think {args.think:g}"
        + (" --home HOME` (a home prepared by `shopbot up`: demo store, index, trained engine and moderation)" if args.engine == "default" else "`")
        + f" on {platform.machine()} Linux, {os.cpu_count()} CPU cores, no GPU, {time.strftime('%Y-%m-%d')}.",
        "",
        "| sessions | turns | turns/s | TTFT p50 | TTFT p95 | TTFT p99 | turn p50 | turn p95 | turn p99 | server CPU per turn |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['sessions']} | {r['turns']} | {r['turns_per_s']} | {r['ttft_p50']} ms | {r['ttft_p95']} ms | {r['ttft_p99']} ms "
            f"| {r['turn_p50']} ms | {r['turn_p95']} ms | {r['turn_p99']} ms | {r['server_cpu_ms_per_turn']} ms |"
        )
    if args.note:
        lines += ["", args.note]
    lines += ["<!-- /turns -->", ""]
    block = "\n".join(lines)
    intro = (
        "## Turns\n\n"
        "Time to first token (TTFT: shopper message sent -> first `bot_delta` received) and full-turn latency\n"
        "(-> `bot_uttered`) through the real server over WebSockets: `benchmarks/turns.py` starts the server\n"
        "in its own process (one uvicorn worker, SQLite event log in WAL mode) and runs N concurrent sessions,\n"
        "each sending 5 messages one after another. Clients and server share the 2-core machine.\n\n"
    )
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n"
    start = text.find("## Turns")
    if start == -1:
        text = text.rstrip() + "\n\n" + intro
        start = text.find("## Turns")
    end = text.find("\n## ", start + 1)
    section = text[start : end + 1 if end != -1 else len(text)]
    if key in section:
        a = section.index(key)
        b = section.index("<!-- /turns -->", a) + len("<!-- /turns -->\n")
        section = section[:a] + block + "\n" + section[b:].lstrip("\n")
    else:
        section = section.rstrip() + "\n\n" + block
    text = text[:start] + section.rstrip() + "\n" + ("\n" + text[end + 1 :] if end != -1 else "")
    DOC.write_text(text, encoding="utf-8")


def serve(args: argparse.Namespace) -> int:
    """The server process: the app with the chosen engine and moderator, limits lifted."""
    import uvicorn

    from bot.commands.serve import UVICORN_OPTIONS
    from bot.shopper_socket import ChatLimits
    from server import create_app

    home = args.home.expanduser().resolve()
    settings = Settings.from_env(home=home, database_url=os.environ.get("SHOPBOT_DATABASE_URL") or f"sqlite+aiosqlite:///{home / 'shopbot.db'}")
    limits = ChatLimits(session_rate=1000, session_burst=1000, ip_rate=1e5, ip_burst=100000, connect_rate=1e5, connect_burst=100000)
    # own_process: the worker set-up `shopbot serve` gets (its garbage collector tuned, server.app)
    app = create_app(settings, engine=build_engine(args.engine), moderator=build_moderator(args.moderation, settings), limits=limits, own_process=True)
    uvicorn.run(app, host="127.0.0.1", port=args.serve_port, **{**UVICORN_OPTIONS, "log_level": "warning"})
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=["scripted", "default"], default="scripted")
    parser.add_argument("--moderation", choices=["default", "rules", "off"], default="rules")
    parser.add_argument("--home", type=Path, default=None, help="SHOPBOT_HOME to use (default: a fresh temporary one)")
    parser.add_argument("--sessions", default="1,10,100")
    parser.add_argument("--turns", type=int, default=5, help="messages per session")
    parser.add_argument("--think", type=float, default=0.0, help="mean seconds between a session's messages (0: closed loop, the next message the moment the reply ends)")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--note", default="")
    parser.add_argument("--serve-port", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve_port:
        return serve(args)
    import subprocess

    from tests.conftest import free_port

    temp = None
    if args.home is None:
        temp = Path(tempfile.mkdtemp(prefix="shopbot-bench-"))
        args.home = temp
    port = free_port()
    # The server runs in its own process, as in production; the clients run here.
    cmd = [sys.executable, __file__, "--serve-port", str(port), "--engine", args.engine, "--moderation", args.moderation, "--home", str(args.home)]
    proc = subprocess.Popen(cmd)

    async def run() -> list[dict[str, Any]]:
        import httpx

        async with httpx.AsyncClient() as http:
            for _ in range(1200):
                if proc.poll() is not None:
                    raise RuntimeError("the server exited")
                try:
                    health = (await http.get(f"http://127.0.0.1:{port}/healthz")).json()
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the server did not start")
        url = f"ws://127.0.0.1:{port}/ws"
        await level(url, 1, 2)  # warm-up
        rows = []
        for n in [int(x) for x in args.sessions.split(",")]:
            row = await level(url, n, args.turns, args.think, proc.pid)
            print(json.dumps(row), flush=True)
            rows.append(row)
        return rows + [{"engine": health["engine"], "moderation": health["moderation"]}]

    try:
        rows = asyncio.run(run())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    meta = rows.pop()
    if args.engine == "scripted":
        meta["engine"] = "scripted test engine (tests/scripted_engine.py, no sleeps): the server pipeline alone"
    if args.write_docs:
        write_docs(rows, args, meta["engine"], meta["moderation"])
    if temp is not None:
        shutil.rmtree(temp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
