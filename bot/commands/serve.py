"""`shopbot serve`: run the HTTP/WebSocket server (server.py) under uvicorn."""
from __future__ import annotations

import argparse
import logging
import socket
from typing import Any

from bot.settings import Settings

log = logging.getLogger(__name__)
WS_MAX_BYTES = 1024 * 1024  # larger frames are cut off by uvicorn; up to this size the app answers frame_too_large


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="run the chat server (WebSocket /ws, storefront at /)")
    serve.add_argument("--host", default=None, help="address to listen on (default SHOPBOT_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default SHOPBOT_PORT or 8000)")
    serve.add_argument("--workers", type=int, default=1, help="server processes (more than one: set SHOPBOT_REDIS_URL)")
    serve.set_defaults(func=run_serve)


MALLOC_ARENAS = 2


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> None:
    """Fewer glibc malloc arenas: the server's threads (model inference, SQLite) otherwise each get
    their own heap, which holds on to freed memory. Measured: about 60 MB less resident memory with
    5,000 open sockets, at no measurable cost in turn latency. Worker processes inherit the
    environment variable; this process gets mallopt (glibc only; elsewhere nothing changes)."""
    import ctypes
    import os

    os.environ.setdefault("MALLOC_ARENA_MAX", str(arenas))
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_arena_max = -8  # from glibc's malloc.h
    libc.mallopt(m_arena_max, int(os.environ["MALLOC_ARENA_MAX"]))


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    limit_malloc_arenas()
    if args.workers > 1 and not settings.redis_url:
        log.warning("%d workers without SHOPBOT_REDIS_URL: a shopper and an agent on different workers "
                    "see each other's messages only on reconnect", args.workers)
    host, port = args.host or settings.host, args.port or settings.port
    if args.workers > 1 and hasattr(socket, "SO_REUSEPORT"):
        return serve_workers(args.workers, host, port)
    uvicorn.run("server:app", factory=True, host=host, port=port, workers=args.workers, **UVICORN_OPTIONS)
    return 0


UVICORN_OPTIONS: dict[str, Any] = {
    "ws_max_size": WS_MAX_BYTES,
    # Frames are small JSON (a few words per bot_delta): compressing them costs CPU per frame and
    # a zlib context per socket (tens of KB each, for thousands of idle sockets), and saves little.
    "ws_per_message_deflate": False,
    "proxy_headers": True,
    "log_level": "info",
}


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) with SO_REUSEPORT, not yet listening."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def serve_workers(count: int, host: str, port: int) -> int:
    """`count` worker processes, each listening on its own SO_REUSEPORT socket on the same port.

    The kernel spreads new connections evenly over the listening sockets. With one shared socket
    (uvicorn's `workers=`), whichever process wakes first accepts a whole burst of connections, and
    WebSockets stay where they were accepted: measured with 500 shoppers arriving at once, one
    worker used 125% of a core and the other 20%. A worker that dies after it started serving is
    replaced (one that dies before stops them all: it would fail again); SIGINT/SIGTERM
    stop them all (each finishes its open turns, as uvicorn does on SIGTERM)."""
    import multiprocessing
    import signal
    import time

    reserved = reuseport_socket(host, port)  # fails now if the port is taken; never listens itself
    port = reserved.getsockname()[1]
    context = multiprocessing.get_context("spawn")

    def start() -> tuple[Any, Any]:
        ready = context.Event()
        process = context.Process(target=_worker, args=(host, port, ready), name="shopbot-worker")
        process.start()
        return process, ready

    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    workers, ready = map(list, zip(*(start() for _ in range(count))))
    log.info("serving http://%s:%d with %d workers (one SO_REUSEPORT socket each)", host, port, count)
    code = 0
    while not stopping:
        for n, worker in enumerate(workers):
            if worker.is_alive():
                continue
            if not ready[n].is_set():  # it never served: starting again would fail the same way
                log.error("worker %s exited before it was serving (code %s): stopping", worker.pid, worker.exitcode)
                stopping, code = True, 1
                break
            log.warning("worker %s exited (code %s): starting another", worker.pid, worker.exitcode)
            workers[n], ready[n] = start()
        time.sleep(0.2)
    for worker in workers:
        if worker.is_alive():
            worker.terminate()
    for worker in workers:
        worker.join(timeout=30)
        if worker.is_alive():
            worker.kill()
    reserved.close()
    return code


def _worker(host: str, port: int, ready: Any) -> None:
    """One worker process: its own listening socket, the app, uvicorn's event loop. `ready` is set
    once the app has started and the socket accepts connections."""
    import threading
    import time

    import uvicorn

    sock = reuseport_socket(host, port)
    config = uvicorn.Config("server:app", factory=True, host=host, port=port, **UVICORN_OPTIONS)
    server = uvicorn.Server(config)

    def report_ready() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            ready.set()

    threading.Thread(target=report_ready, name="shopbot-ready", daemon=True).start()
    server.run(sockets=[sock])
