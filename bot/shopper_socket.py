"""The shopper WebSocket (`/ws`): limits, the session handshake, replay, and the frame loop.

Every frame this connection sends goes through one outbox queue and one sender task, so frames
leave in exactly the order they were produced. Protocol errors become an `error` frame here and
nowhere else (`protocol.error_frame`: a code and a generic message); details go to the log.
"""
from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.websockets import WebSocket, WebSocketDisconnect

from bot import events, jsontext
from bot.auth import InvalidToken, verify_shopper_token
from bot.pipeline import TurnPipeline
from bot.protocol import ERRORS, ProtocolError, SessionConfirm, SessionRequest, UserUttered, error_frame, parse_client_frame
from bot.ratelimit import RateLimiter
from bot.sessions import LiveSession, Outbox, SessionHub, UnknownSession, save_session

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatLimits:
    """Limits of the shopper socket. `from_env` reads SHOPBOT_* variables (docs/protocol.md)."""

    max_frame_bytes: int = 16 * 1024
    idle_timeout_s: float = 600.0
    session_rate: float = 1.0  # shopper messages per second per session, sustained ...
    session_burst: int = 10  # ... with bursts up to this many
    ip_rate: float = 5.0  # shopper messages per second per client address
    ip_burst: int = 60
    connect_rate: float = 2.0  # new connections per second per client address
    connect_burst: int = 120
    allowed_origins: tuple[str, ...] = ()  # empty: same host only (and clients sending no Origin); "*": any
    token_secret: str | None = None
    require_token: bool = False

    @classmethod
    def from_env(cls, **overrides: Any) -> "ChatLimits":
        env = os.environ
        values: dict[str, Any] = {}
        numbers = {
            "max_frame_bytes": ("SHOPBOT_MAX_FRAME_BYTES", int), "idle_timeout_s": ("SHOPBOT_IDLE_TIMEOUT_S", float),
            "session_rate": ("SHOPBOT_SESSION_RATE", float), "session_burst": ("SHOPBOT_SESSION_BURST", int),
            "ip_rate": ("SHOPBOT_IP_RATE", float), "ip_burst": ("SHOPBOT_IP_BURST", int),
            "connect_rate": ("SHOPBOT_CONNECT_RATE", float), "connect_burst": ("SHOPBOT_CONNECT_BURST", int),
        }
        for name, (var, kind) in numbers.items():
            if env.get(var):
                values[name] = kind(env[var])
        if env.get("SHOPBOT_ALLOWED_ORIGINS"):
            values["allowed_origins"] = tuple(o.strip().rstrip("/") for o in env["SHOPBOT_ALLOWED_ORIGINS"].split(",") if o.strip())
        values["token_secret"] = env.get("SHOPBOT_SHOPPER_TOKEN_SECRET") or None
        values["require_token"] = env.get("SHOPBOT_REQUIRE_SHOPPER_TOKEN", "") in ("1", "true", "yes")
        values.update(overrides)
        return cls(**values)

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        if "*" in self.allowed_origins:
            return True
        if origin is None:  # not a browser (an integrator's backend): origins do not apply
            return True
        origin = origin.rstrip("/")
        if origin in self.allowed_origins:
            return True
        return bool(host) and urlsplit(origin).netloc == host


@dataclass
class ChatContext:
    """What every shopper connection shares (one per app)."""

    hub: SessionHub
    pipeline: TurnPipeline
    limits: ChatLimits
    metrics: Any = None
    session_limiter: RateLimiter = field(init=False)
    ip_limiter: RateLimiter = field(init=False)
    connect_limiter: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.session_limiter = RateLimiter(self.limits.session_rate, self.limits.session_burst)
        self.ip_limiter = RateLimiter(self.limits.ip_rate, self.limits.ip_burst)
        self.connect_limiter = RateLimiter(self.limits.connect_rate, self.limits.connect_burst)


class _Close:
    def __init__(self, code: int) -> None:
        self.code = code


def client_address(ws: WebSocket) -> str:
    return ws.client.host if ws.client else "unknown"


class ShopperConnection:
    def __init__(self, ws: WebSocket, ctx: ChatContext) -> None:
        self.ws = ws
        self.ctx = ctx
        self.ip = client_address(ws)
        self.outbox = Outbox()
        self.live: LiveSession | None = None

    # ------------------------------------------------------------------ sending
    def error(self, code: str) -> None:
        if self.ctx.metrics is not None:
            self.ctx.metrics.errors.labels(code).inc()
        closing = _Close(1008 if code != "idle_timeout" else 1000) if ERRORS[code][1] else None

        def send(frame: dict[str, Any]) -> None:
            self.outbox.put_nowait(frame)
            if closing is not None:
                self.outbox.put_nowait(closing)  # after the error frame, even when it waited

        if self.live is None:
            send({**error_frame(code), "seq": 0})
        else:
            self.live.send_transient(error_frame(code), send)  # this socket only

    async def _sender(self) -> None:
        while True:
            item = await self.outbox.get()
            if isinstance(item, _Close):
                await self.ws.close(item.code)
                return
            await self.ws.send_text(jsontext.dumps(item))

    # ------------------------------------------------------------------ the connection
    async def run(self) -> None:
        limits = self.ctx.limits
        await self.ws.accept()
        sender = asyncio.create_task(self._sender())
        if self.ctx.metrics is not None:
            self.ctx.metrics.open_sockets.labels("shopper").inc()
        try:
            if not limits.origin_allowed(self.ws.headers.get("origin"), self.ws.headers.get("host")):
                log.info("origin %r refused", self.ws.headers.get("origin"))
                self.error("origin_not_allowed")
            elif not self.ctx.connect_limiter.allow(self.ip):
                self.error("too_many_connections")
            else:
                await self._loop()
            await asyncio.wait_for(asyncio.shield(sender), timeout=5)  # flush what is queued (errors)
        except (WebSocketDisconnect, asyncio.TimeoutError, RuntimeError):
            pass
        finally:
            sender.cancel()
            if self.live is not None:
                self.live.subscribers.discard(self.outbox)
                self.ctx.hub.release_if_idle(self.live)
            if self.ctx.metrics is not None:
                self.ctx.metrics.open_sockets.labels("shopper").dec()

    async def _loop(self) -> None:
        limits = self.ctx.limits
        while True:
            try:
                async with asyncio.timeout(limits.idle_timeout_s):  # no extra task per receive
                    message = await self.ws.receive()
            except TimeoutError:
                self.error("idle_timeout")
                return
            if message["type"] == "websocket.disconnect":
                self.outbox.put_nowait(_Close(1000))
                return
            try:
                if message.get("text") is None:
                    raise ProtocolError("binary_not_supported")
                await self._handle(parse_client_frame(message["text"], limits.max_frame_bytes))
            except ProtocolError as exc:
                log.info("protocol error from %s: %s", self.ip, exc)
                self.error(exc.code)
                if exc.fatal:
                    return
            except Exception as exc:
                if events.is_storage_unavailable(exc):  # starting or replaying a session needs the database
                    log.warning("shopper socket: database unavailable (%s)", type(exc).__name__)
                    self.error("storage_unavailable")
                else:
                    log.exception("unexpected error on a shopper socket")
                    self.error("internal_error")

    async def _handle(self, frame: SessionRequest | UserUttered) -> None:
        if isinstance(frame, SessionRequest):
            if self.live is not None:
                raise ProtocolError("session_already_started")
            await self._start(frame)
            return
        if self.live is None:
            raise ProtocolError("session_required")
        if not self.ctx.session_limiter.allow(self.live.session_id) or not self.ctx.ip_limiter.allow(self.ip):
            raise ProtocolError("rate_limited", f"session {self.live.session_id}")
        await self.ctx.pipeline.submit(self.live, frame.text, frame.message_id, frame.payload)

    async def _start(self, request: SessionRequest) -> None:
        limits = self.ctx.limits
        user_id: str | None = None
        if request.token:
            try:
                user_id = verify_shopper_token(limits.token_secret or "", request.token)
            except InvalidToken as exc:
                raise ProtocolError("invalid_token", str(exc)) from None
        elif limits.require_token:
            raise ProtocolError("token_required")
        hub = self.ctx.hub
        if request.session_id is None:
            live = await hub.create(user_id=user_id, client_ip=self.ip)
        else:
            try:
                live = await hub.get(request.session_id)
            except UnknownSession:
                raise ProtocolError("unknown_session", request.session_id) from None
            if user_id is not None and live.state.user_id not in (None, user_id):
                raise ProtocolError("invalid_token", "token for another user than the session's")
            if user_id is not None and live.state.user_id is None and not live.busy:
                live.state.user_id = user_id
                await save_session(hub.db, live.session_id, state=live.state)
        last_seq = request.last_seq or 0
        async with live.lock:  # no stored event can be appended between the replay and subscribing
            if last_seq > live.seq:
                # The client saw numbers this store never kept (a crash mid-turn): never reuse them.
                live.seq = last_seq
                await save_session(hub.db, live.session_id, min_last_seq=last_seq)
            replay: list[dict[str, Any]] = []
            cursor = last_seq
            while True:
                page = await events.after(hub.db, live.session_id, cursor)
                replay.extend(page)
                if len(page) < 1000:
                    break
                cursor = page[-1]["seq"]
            seq = max([live.seq] + [item["seq"] for item in replay])
            live.seq = seq
            # seq of the confirm = where the replay starts after, so seq never goes back on the wire.
            self.outbox.put_nowait(SessionConfirm(session_id=live.session_id, seq=last_seq, head=seq).model_dump())
            for item in replay:
                self.outbox.put_nowait(item)
            live.subscribers.add(self.outbox)
            self.live = live
