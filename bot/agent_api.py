"""The support agents' side of the server: login, the queue, takeover / hand back / resolve,
internal notes (REST, behind agent bearer tokens) and the live agent socket at `/agent/ws`.

Frames on `/agent/ws` (JSON text):
    client -> {"type": "agent_hello", "token": str}      must come first
    server -> {"type": "agent_ready", "agent": str, "role": str}
    client -> {"type": "watch", "conversation_id": str}   live events of that conversation
    client -> {"type": "agent_uttered", "conversation_id": str, "text": str}   only while you own it
    server -> {"type": "event", "conversation_id": str, "event": {...}}        a watched conversation's event
    server -> {"type": "queue_changed"}                   something in the queue changed: reload it
    server -> {"type": "error", "code": str, "message": str}
"""
from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timezone
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from bot import analytics, events, handoff_store
from bot.agents import Agent, AgentError, authenticate_agent, issue_agent_token, verify_agent_token, TOKEN_TTL_S
from bot.handoff import Action, HandoffError, Mode
from bot.sessions import UnknownSession, languages_of, load_session

log = logging.getLogger(__name__)

QUEUE_CHANNEL = "agents:queue"
MAX_AGENT_TEXT = 4000


class LoginRequest(BaseModel):
    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class LoginResponse(BaseModel):
    token: str
    agent: str
    role: str
    expires_in: int


class ConversationSummary(BaseModel):
    conversation_id: str
    state: str
    language: str = Field("en", description="the shopper's language (bot/language.py), e.g. en, zh-CN, es")
    agent: str | None = None
    reason: str | None = None
    summary: str | None = None
    waiting_s: float | None = None
    updated_at: str
    last_message: str | None = None


class ConversationDetail(BaseModel):
    conversation_id: str
    state: str
    language: str = Field("en", description="the shopper's language (bot/language.py)")
    agent: str | None = None
    reason: str | None = None
    summary: str | None = None
    events: list[dict[str, Any]]
    notes: list[dict[str, str]]


class OwnershipResponse(BaseModel):
    conversation_id: str
    state: str
    agent: str | None = None


class NoteRequest(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class AnalyticsPoint(BaseModel):
    start: str = Field(description="the bucket's first instant (UTC, ISO 8601)")
    turns: int = Field(description="shopper messages stored in the bucket")
    replies: int = Field(description="bot replies stored in the bucket")
    latency_p50_ms: float | None = Field(None, description="median turn latency of the bucket's shopper messages")
    latency_p95_ms: float | None = Field(None, description="95th percentile (nearest rank) turn latency")
    handoff_requests: int = Field(description="handoff events to handoff_requested")
    takeovers: int = Field(description="handoff events to human (an agent took the conversation)")


class ToolCount(BaseModel):
    tool: str
    calls: int
    errors: int = Field(description="results that start with 'Error:'")


class ModerationCount(BaseModel):
    action: str
    reason: str | None = None
    count: int


class ReasonCount(BaseModel):
    reason: str
    count: int


class LanguageCount(BaseModel):
    language: str
    conversations: int


class AnalyticsResponse(BaseModel):
    """Aggregates over stored conversations; definitions in docs/agents.md ("Analytics")."""

    since: str
    until: str
    bucket: Literal["hour", "day"]
    conversations: int = Field(description="conversations with a shopper message in the window")
    contained: int = Field(description="of those, never handed to a human")
    handed_off: int = Field(description="of those, handed off to / owned by a human at some point")
    contained_rate: float | None = Field(None, description="contained / conversations (null without conversations)")
    handoff_rate: float | None = Field(None, description="handed_off / conversations")
    turns: int
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    tools: list[ToolCount]
    moderation_by_action: list[ModerationCount]
    moderation_by_reason: list[ModerationCount]
    handoffs_by_reason: list[ReasonCount]
    languages: list[LanguageCount] = Field(description="conversations in the window by the shopper's language")
    series: list[AnalyticsPoint]


def _analytics_response(report: analytics.Report) -> AnalyticsResponse:
    return AnalyticsResponse(
        since=report.since.isoformat(), until=report.until.isoformat(), bucket=report.bucket,  # type: ignore[arg-type]
        conversations=report.conversations, contained=report.contained, handed_off=report.handed_off,
        contained_rate=report.contained_rate, handoff_rate=report.handoff_rate, turns=report.turns,
        latency_p50_ms=report.latency_p50_ms, latency_p95_ms=report.latency_p95_ms,
        tools=[ToolCount(**t) for t in report.tools],
        moderation_by_action=[ModerationCount(**m) for m in report.moderation_by_action],
        moderation_by_reason=[ModerationCount(**m) for m in report.moderation_by_reason],
        handoffs_by_reason=[ReasonCount(**r) for r in report.handoffs_by_reason],
        languages=[LanguageCount(**lang) for lang in report.languages],
        series=[
            AnalyticsPoint(
                start=p.start.isoformat(), turns=p.turns, replies=p.replies, latency_p50_ms=p.latency_p50_ms,
                latency_p95_ms=p.latency_p95_ms, handoff_requests=p.handoff_requests, takeovers=p.takeovers,
            )
            for p in report.series
        ],
    )


def _error(status: int, code: str, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail={"code": code, "message": message})


def current_agent(request: Request) -> Agent:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _error(401, "auth_required", "an agent bearer token is required")
    try:
        return verify_agent_token(request.app.state.secret, token.strip())
    except AgentError as exc:
        raise _error(401, exc.code, exc.message) from None


async def _require_conversation(request: Request, conversation_id: str) -> None:
    try:
        await load_session(request.app.state.db, conversation_id)
    except UnknownSession:
        raise _error(404, "unknown_conversation", "no such conversation") from None


def _last_text(frames: list[dict[str, Any]]) -> str | None:
    for frame in reversed(frames):
        if frame.get("type") in ("user_uttered", "bot_uttered", "agent_uttered") and frame.get("text"):
            return str(frame["text"])[:160]
    return None


async def _change(request: Request, conversation_id: str, action: Action, agent: Agent) -> OwnershipResponse:
    await _require_conversation(request, conversation_id)
    try:
        ownership = await request.app.state.pipeline.change_ownership(conversation_id, action, agent=agent.name)
    except HandoffError as exc:
        status = 403 if exc.code == "not_owner" else 409
        raise _error(status, exc.code, exc.message) from None
    await request.app.state.bus.publish(QUEUE_CHANNEL, {"conversation_id": conversation_id})
    return OwnershipResponse(conversation_id=conversation_id, state=ownership.mode.value, agent=ownership.agent)


def agent_router() -> APIRouter:
    router = APIRouter()

    @router.post("/api/agent/login", response_model=LoginResponse, tags=["agents"])
    async def login(request: Request, body: LoginRequest) -> LoginResponse:
        try:
            agent = await authenticate_agent(request.app.state.db, body.name, body.password)
        except AgentError as exc:
            raise _error(401, exc.code, exc.message) from None
        token = issue_agent_token(request.app.state.secret, agent)
        return LoginResponse(token=token, agent=agent.name, role=agent.role.value, expires_in=TOKEN_TTL_S)

    @router.get("/api/conversations", response_model=list[ConversationSummary], tags=["agents"])
    async def conversations(
        request: Request,
        state: Mode | None = Query(None, description="bot, handoff_requested, human or resolved"),
        flagged: bool | None = Query(None, description="only conversations with (true) or without (false) a reason for a human"),
        agent: str | None = Query(None, max_length=64),
        _: Agent = Depends(current_agent),
    ) -> list[ConversationSummary]:
        db = request.app.state.db
        entries = await handoff_store.list_conversations(db, mode=state, agent=agent, flagged=flagged)
        languages = await languages_of(db, [entry.conversation_id for entry in entries])
        out = []
        for entry in entries:
            recent = await events.after(db, entry.conversation_id, 0, limit=1000)
            out.append(
                ConversationSummary(
                    conversation_id=entry.conversation_id,
                    state=entry.ownership.mode.value,
                    language=languages.get(entry.conversation_id, "en"),
                    agent=entry.ownership.agent,
                    reason=entry.ownership.reason,
                    summary=entry.ownership.summary,
                    waiting_s=entry.waiting_s(),
                    updated_at=entry.updated_at.replace(tzinfo=entry.updated_at.tzinfo or timezone.utc).isoformat(),
                    last_message=_last_text(recent),
                )
            )
        return out

    @router.get("/api/conversations/{conversation_id}", response_model=ConversationDetail, tags=["agents"])
    async def conversation(request: Request, conversation_id: str, _: Agent = Depends(current_agent)) -> ConversationDetail:
        await _require_conversation(request, conversation_id)
        db = request.app.state.db
        ownership = await handoff_store.get_ownership(db, conversation_id)
        frames = await events.after(db, conversation_id, 0, limit=5000)
        record = await load_session(db, conversation_id)
        tool_frames = _tool_calls(record.state.messages)
        return ConversationDetail(
            conversation_id=conversation_id,
            state=ownership.mode.value,
            language=record.state.language,
            agent=ownership.agent,
            reason=ownership.reason,
            summary=ownership.summary,
            events=frames + tool_frames,
            notes=await handoff_store.list_notes(db, conversation_id),
        )

    @router.post("/api/conversations/{conversation_id}/takeover", response_model=OwnershipResponse, tags=["agents"])
    async def takeover(request: Request, conversation_id: str, agent: Agent = Depends(current_agent)) -> OwnershipResponse:
        return await _change(request, conversation_id, Action.takeover, agent)

    @router.post("/api/conversations/{conversation_id}/release", response_model=OwnershipResponse, tags=["agents"])
    async def release(request: Request, conversation_id: str, agent: Agent = Depends(current_agent)) -> OwnershipResponse:
        return await _change(request, conversation_id, Action.release, agent)

    @router.post("/api/conversations/{conversation_id}/resolve", response_model=OwnershipResponse, tags=["agents"])
    async def resolve(request: Request, conversation_id: str, agent: Agent = Depends(current_agent)) -> OwnershipResponse:
        return await _change(request, conversation_id, Action.resolve, agent)

    @router.post("/api/conversations/{conversation_id}/notes", status_code=201, tags=["agents"])
    async def add_note(request: Request, conversation_id: str, body: NoteRequest, agent: Agent = Depends(current_agent)) -> dict[str, str]:
        await _require_conversation(request, conversation_id)
        await handoff_store.add_note(request.app.state.db, conversation_id, agent.name, body.text)
        return {"status": "added"}

    @router.get("/agent/analytics", response_model=AnalyticsResponse, tags=["agents"])
    async def analytics_report(
        request: Request,
        since: datetime | None = Query(None, description="start of the window (ISO 8601; default: 7 days ago); naive times are UTC"),
        bucket: Literal["hour", "day"] = Query("day", description="size of the time-series buckets"),
        _: Agent = Depends(current_agent),
    ) -> AnalyticsResponse:
        """Conversations contained without a human, handoff rate, top tools, moderation actions and
        turn latency over time, aggregated from the stored conversations (any agent may read it)."""
        try:
            report = await analytics.compute(request.app.state.db, since, bucket)
        except analytics.AnalyticsError as exc:
            raise _error(422, "bad_window", str(exc)) from None
        return _analytics_response(report)

    @router.get("/agent", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard(request: Request) -> HTMLResponse:
        return HTMLResponse(request.app.state.dashboard_html, headers={"Cache-Control": "no-cache"})

    @router.websocket("/agent/ws")
    async def agent_socket(ws: WebSocket) -> None:
        await AgentConnection(ws).run()

    return router


def _tool_calls(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The engine's tool calls and results, for the agent's view of the conversation."""
    results = {m.get("tool_call_id"): m.get("content") for m in messages if m.get("role") == "tool"}
    out = []
    for message in messages:
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            out.append({"type": "tool_call", "name": function.get("name"), "arguments": function.get("arguments"), "result": results.get(call.get("id"))})
    return out


class AgentConnection:
    """One agent's socket: authenticated by its first frame, then watches and replies."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.state = ws.app.state
        self.agent: Agent | None = None
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.watchers: dict[str, asyncio.Task[None]] = {}

    async def send_error(self, code: str, message: str) -> None:
        await self.outbox.put({"type": "error", "code": code, "message": message})

    async def run(self) -> None:
        await self.ws.accept()
        sender = asyncio.create_task(self._sender())
        queue_task: asyncio.Task[None] | None = None
        self.state.metrics.open_sockets.labels("agent").inc()
        try:
            try:
                hello = json.loads(await asyncio.wait_for(self.ws.receive_text(), timeout=10))
                self.agent = verify_agent_token(self.state.secret, str(hello.get("token", ""))) if hello.get("type") == "agent_hello" else None
            except (asyncio.TimeoutError, json.JSONDecodeError, AttributeError, KeyError):
                self.agent = None
            except AgentError as exc:
                await self.send_error(exc.code, exc.message)
                return
            if self.agent is None:
                await self.send_error("bad_token", "send {\"type\": \"agent_hello\", \"token\": ...} first")
                return
            await self.outbox.put({"type": "agent_ready", "agent": self.agent.name, "role": self.agent.role.value})
            queue_task = asyncio.create_task(self._forward_queue())
            while True:
                raw = await self.ws.receive_text()
                await self._handle(raw)
        except WebSocketDisconnect:
            pass
        finally:
            self.state.metrics.open_sockets.labels("agent").dec()
            for task in [*self.watchers.values(), *( [queue_task] if queue_task else [])]:
                task.cancel()
            await self.outbox.put({"type": "_close"})
            await asyncio.gather(sender, return_exceptions=True)

    async def _sender(self) -> None:
        while True:
            frame = await self.outbox.get()
            if frame.get("type") == "_close":
                try:
                    await self.ws.close()
                except RuntimeError:
                    pass  # already closed by the client
                return
            try:
                await self.ws.send_text(json.dumps(frame))
            except (RuntimeError, WebSocketDisconnect):
                return

    async def _handle(self, raw: str) -> None:
        try:
            frame = json.loads(raw)
        except json.JSONDecodeError:
            await self.send_error("malformed_json", "frames must be JSON objects")
            return
        if not isinstance(frame, dict):
            await self.send_error("malformed_json", "frames must be JSON objects")
            return
        kind = frame.get("type")
        conversation_id = frame.get("conversation_id")
        if kind not in ("watch", "agent_uttered"):
            await self.send_error("unknown_type", "unknown frame type")
            return
        if not isinstance(conversation_id, str) or not conversation_id:
            await self.send_error("missing_field", "conversation_id is required")
            return
        try:
            await load_session(self.state.db, conversation_id)
        except UnknownSession:
            await self.send_error("unknown_conversation", "no such conversation")
            return
        if kind == "watch":
            if conversation_id not in self.watchers:
                self.watchers[conversation_id] = asyncio.create_task(self._watch(conversation_id))
            return
        text = frame.get("text")
        if not isinstance(text, str) or not text.strip():
            await self.send_error("missing_field", "text is required")
            return
        if len(text) > MAX_AGENT_TEXT:
            await self.send_error("too_large", f"messages are at most {MAX_AGENT_TEXT} characters")
            return
        if self.agent is None:
            return
        ownership = await handoff_store.get_ownership(self.state.db, conversation_id)
        if ownership.mode is not Mode.human or ownership.agent != self.agent.name:
            await self.send_error("not_owner", "take the conversation over before replying")
            return
        stored = await self.state.pipeline.agent_say(conversation_id, self.agent.name, text)
        if stored is None:
            await self.send_error("blocked", "the message was blocked by moderation")

    async def _watch(self, conversation_id: str) -> None:
        """Every frame of the conversation as this process sends it to the shopper."""
        hub = self.state.chat.hub
        live = await hub.get(conversation_id)
        frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        live.subscribers.add(frames)
        try:
            while True:
                frame = await frames.get()
                await self.outbox.put({"type": "event", "conversation_id": conversation_id, "event": frame})
        finally:
            live.subscribers.discard(frames)
            hub.release_if_idle(live)

    async def _forward_queue(self) -> None:
        subscription = await self.state.bus.subscribe(QUEUE_CHANNEL)
        try:
            async for _ in subscription:
                await self.outbox.put({"type": "queue_changed"})
        finally:
            await subscription.close()

