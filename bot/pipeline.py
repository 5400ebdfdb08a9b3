"""The turn pipeline: shopper text -> moderation -> engine (-> tools) -> streamed, moderated reply.

One turn at a time per session: `submit` puts a message on the session's queue and one worker
task per session answers them in order, so replies never interleave. The worker belongs to the
session, not to a socket: a dropped connection does not stop the answer, which is stored and
replayed when the shopper comes back.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from bot import events, handoff_store
from bot.db import Database
from bot.i18n import text as catalog_text
from bot.language import decide as decide_language
from bot.logs import conversation_id as log_context
from bot.events import DuplicateMessage, NewEvent, NotBotsTurn
from bot.handoff import Action, HandoffError, Mode, Ownership
from bot.protocol import AgentUttered, BotDelta, BotUttered, Card, Handoff, Moderation, QuickReply, Status, UserEcho, error_frame
from bot.sessions import LiveSession, SessionHub, save_session
from bot.turns import ConversationState, DeltaEvent, Engine, HandoffEvent, ReplyEvent, StatusEvent, ToolResultEvent

from policies.frustration import update as frustration_update
from policies.moderation_api import AllowAll, ModerationResult, Moderator, Source

log = logging.getLogger(__name__)

CONTINUE_WITH_BOT = "/continue_with_bot"  # quick-reply payload: stop waiting for an agent
# Recent texts the moderator allowed unchanged ("thanks", "yes", the bot's stock phrases) are not
# scored again. Only "allow" results are kept: a text that was redacted (personal data), blocked
# or flagged is never held in memory past its turn.
DELTA_COALESCE_S = 0.005  # bot_delta pieces produced within this window share one frame
ALLOWED_CACHE_SIZE = 4096
ALLOWED_CACHE_MAX_CHARS = 2000  # 4,096 entries of at most this: a few MB
FAILED_TURNS_KEPT = 10_000
# Numbers the database keeps back, when a shopper's message is stored, for the transient frames of
# its turn (status, bot_delta): another process storing an event meanwhile (an agent's takeover)
# numbers it after them. A turn sends a few dozen; one that sends more than this reuses the
# counter as before, where only a concurrent writer on another process could collide.
TURN_RESERVE = 256


@dataclass(frozen=True)
class Incoming:
    text: str
    message_id: str | None
    payload: str | None
    received: float  # perf_counter when it arrived (latency metrics)


class TurnPipeline:
    def __init__(self, db: Database, engine: Engine, moderator: Moderator, hub: SessionHub, metrics: Any = None) -> None:
        self.db = db
        self.engine = engine
        self.moderator = moderator
        self.hub = hub
        self.metrics = metrics
        self.log = events.EventLog(db)  # group commit: concurrent sessions share write transactions
        self._allowed: OrderedDict[tuple[str, str], ModerationResult] = OrderedDict()
        # (session, message_id) of turns that failed because the database went away; a resend of
        # one whose message was already stored finishes the turn instead of being ignored.
        self._failed_turns: OrderedDict[tuple[str, str], None] = OrderedDict()

    # ------------------------------------------------------------------ public surface
    async def submit(self, live: LiveSession, text: str, message_id: str | None, payload: str | None) -> bool:
        """Queue a shopper message. False when `message_id` was seen before (the resend is ignored)."""
        if message_id is not None:
            # Queued twice: dropped here. Already stored: the unique (session, message_id) constraint
            # refuses it when its turn comes (DuplicateMessage), so no read is needed on this path.
            if message_id in live.pending_ids:
                return False
            live.pending_ids.add(message_id)
        live.queue.append(Incoming(text, message_id, payload, time.perf_counter()))
        if not live.busy:
            live.worker = asyncio.create_task(self._work(live), name=f"turns-{live.session_id}")
        return True

    async def agent_say(self, session_id: str, agent: str, text: str) -> dict[str, Any] | None:
        """A human agent's message into the conversation (moderated like every other message)."""
        live = await self.hub.get(session_id)
        result = await self.moderate(text, "agent")
        if result.action == "block":
            return None
        # The engine reads the whole conversation when the bot takes over again: the agent's words
        # (a listing they wrote is confirmed by the shopper's yes, policies/rules.py).
        live.state.messages.append({"role": "assistant", "content": result.text, "agent": agent})
        live.state.pending_action = None
        stored = await self._store(live, [AgentUttered(text=result.text, agent=agent).model_dump()], state=live.state.to_dict())
        self.hub.release_if_idle(live)
        return stored.frames[0]

    async def change_ownership(self, session_id: str, action: Action, *, agent: str | None = None) -> Ownership:
        """An agent's takeover / release / resolve (or the shopper's continue_with_bot), announced
        to the shopper as a `handoff` event. A takeover silences a bot turn in flight at once."""
        live = await self.hub.get(session_id)
        live.ownership_changes += 1
        silenced_before = live.bot_silenced
        if action is Action.takeover:
            live.bot_silenced = True  # before the takeover commits: nothing of the bot after the ack
        live.ownership_in_flight += 1
        try:
            ownership = await handoff_store.apply(self.db, session_id, action, agent=agent)
        except BaseException:
            live.bot_silenced = silenced_before
            raise
        finally:
            live.ownership_in_flight -= 1
            # Once more after the commit: an owner read whose query ran before it, but whose
            # answer comes after, must not undo the change (`_mode` compares this counter).
            live.ownership_changes += 1
        live.bot_silenced = ownership.mode is not Mode.bot
        live.conversation_state = ownership.mode.value
        await self._store(
            live, [Handoff(state=ownership.mode.value, agent=ownership.agent).model_dump()], conversation_state=ownership.mode.value
        )
        if self.metrics is not None:
            self.metrics.handoffs.labels(action.value).inc()
        self.hub.release_if_idle(live)
        return ownership

    async def moderate(self, text: str, source: Source) -> ModerationResult:
        key = (source, text)
        result = self._allowed.get(key)
        if result is not None:
            self._allowed.move_to_end(key)
        elif isinstance(self.moderator, AllowAll):
            result = self.moderator.check(text, source)
        else:  # a classifier may run a model: keep the event loop free
            result = await asyncio.to_thread(self.moderator.check, text, source)
            if result.action == "allow" and result.text == text and len(text) <= ALLOWED_CACHE_MAX_CHARS:
                self._allowed[key] = result
                if len(self._allowed) > ALLOWED_CACHE_SIZE:
                    self._allowed.popitem(last=False)
        if self.metrics is not None:
            self.metrics.moderation_actions.labels(source, result.action).inc()
        return result

    # ------------------------------------------------------------------ the worker
    async def _work(self, live: LiveSession) -> None:
        log_context.set(live.session_id)  # every log line of this task carries the conversation id
        try:
            while live.queue:
                incoming: Incoming = live.queue.popleft()
                before = ConversationState.from_dict(live.state.to_dict())  # lists copied: the engine appends
                try:
                    await self._turn(live, incoming)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # one bad turn must not kill the session's queue
                    code = "internal_error"
                    if events.is_storage_unavailable(exc):
                        # Each write is one transaction: what failed stored nothing. The failed turn
                        # leaves no trace in the state either, and resending its message_id retries it.
                        code = "storage_unavailable"
                        log.warning("turn failed in session %s: database unavailable (%s)", live.session_id, type(exc).__name__)
                        live.state = before
                        if incoming.message_id is not None:
                            self._failed_turns[(live.session_id, incoming.message_id)] = None
                            if len(self._failed_turns) > FAILED_TURNS_KEPT:
                                self._failed_turns.popitem(last=False)
                    else:
                        log.exception("turn failed in session %s", live.session_id)
                    self._transient(live, error_frame(code))
                    self._transient(live, Status(state="idle").model_dump())
                finally:
                    if incoming.message_id is not None:
                        live.pending_ids.discard(incoming.message_id)
        finally:
            live.worker = None
            self.hub.release_if_idle(live)

    async def _turn(self, live: LiveSession, incoming: Incoming) -> None:
        checked = await self.moderate(incoming.text, "shopper")
        # The shopper's language, before anything answers: from the text as moderation passes it
        # on (personal data masked), what the shopper typed rather than a quick reply's payload.
        state = live.state
        state.language, state.language_decided = decide_language(state.language, state.language_decided, checked.text)
        if self.metrics is not None:
            self.metrics.shopper_messages.labels(state.language).inc()
        shopper_text = checked.text if checked.action != "block" else ""
        records = [UserEcho(text=shopper_text, message_id=incoming.message_id, payload=incoming.payload).model_dump()]
        if checked.action != "allow":
            reason = checked.reply if checked.action == "block" else None  # a supportive reply goes out as bot_uttered
            records.append(Moderation(action=checked.action, reason=reason or ", ".join(checked.reasons) or checked.action).model_dump())
        changes = live.ownership_changes
        try:  # the store also reads who owns the conversation, in the same transaction
            owner = (await self._store(live, records, message_id=incoming.message_id, reserve=TURN_RESERVE)).owner
        except DuplicateMessage:
            if not await self._resumes_failed_turn(live, incoming):
                log.info("duplicate message %s in session %s ignored", incoming.message_id, live.session_id)
                return
            owner = (await handoff_store.get_ownership(self.db, live.session_id)).mode.value
        mode = await self._mode(live, Mode(owner), changes)
        if checked.action == "block":
            turn_id = uuid.uuid4().hex[:12]
            await self._finish(live, [BotUttered(turn_id=turn_id, text=_reply(checked, live.state.language)).model_dump()])
            self._count("blocked")
            return
        if checked.action == "flag":
            await self._request_handoff(live, "moderation: " + ", ".join(checked.reasons), checked.text)
            mode = live.conversation_state
            if checked.reply and mode != "human":  # self-harm: a supportive reply now, and a person checks in
                await self._finish(live, [BotUttered(turn_id=uuid.uuid4().hex[:12], text=_reply(checked, live.state.language)).model_dump()])
                self._count("handoff")
                return
        frustration = frustration_update(live.state.frustration, checked.text)
        live.state.frustration = frustration.score
        if frustration.needs_human and mode == "bot":
            await self._request_handoff(live, "frustration: " + ", ".join(frustration.cues), checked.text)
            mode = live.conversation_state
        if mode == "handoff_requested" and incoming.payload == CONTINUE_WITH_BOT:
            try:  # the shopper stopped waiting for an agent
                mode = (await self.change_ownership(live.session_id, Action.continue_with_bot)).mode.value
            except HandoffError as exc:  # an agent took it meanwhile
                log.info("continue_with_bot in %s refused: %s", live.session_id, exc.message)
        if mode != "bot":  # a human owns (or is about to own) the conversation: the bot stays quiet
            live.state.messages.append({"role": "user", "content": checked.text})
            await save_session(self.db, live.session_id, state=live.state)
            self._count("handoff")
            return
        await self._run_engine(live, incoming, checked.text)

    async def _run_engine(self, live: LiveSession, incoming: Incoming, text: str) -> None:
        turn_id = uuid.uuid4().hex[:12]
        first_token: float | None = None
        handoff: HandoffEvent | None = None
        deltas: list[str] = []
        reply: ReplyEvent | None = None
        # Deltas after the first are held for up to DELTA_COALESCE_S and sent as one frame: an
        # engine that produces its text in a burst costs one frame instead of dozens, while a
        # model streaming tokens still reaches the shopper token by token (5 ms later at most).
        held: list[str] = []
        timer: asyncio.TimerHandle | None = None

        def send_held() -> None:
            nonlocal timer
            if timer is not None:
                timer.cancel()
                timer = None
            if held:
                self._transient(live, BotDelta(turn_id=turn_id, text="".join(held)).model_dump())
                held.clear()

        try:
            async for event in self.engine.run_turn(live.state, text, incoming.payload):
                if live.bot_silenced:  # a human took over mid-turn: say nothing more
                    break
                if not isinstance(event, DeltaEvent):
                    send_held()
                if isinstance(event, StatusEvent):
                    if event.state == "idle":
                        continue  # sent by _finish, after the stored reply
                    self._transient(live, Status(state=event.state, tool=event.tool, label=event.label).model_dump())
                elif isinstance(event, DeltaEvent):
                    deltas.append(event.text)
                    if first_token is None:  # the first piece goes out at once
                        first_token = time.perf_counter()
                        self._transient(live, BotDelta(turn_id=turn_id, text=event.text).model_dump())
                    else:
                        held.append(event.text)
                        if timer is None:
                            timer = asyncio.get_running_loop().call_later(DELTA_COALESCE_S, send_held)
                elif isinstance(event, ReplyEvent):
                    reply = event
                elif isinstance(event, HandoffEvent):
                    handoff = event
                elif isinstance(event, ToolResultEvent) and self.metrics is not None:
                    self.metrics.tool_calls.labels(event.tool, "ok" if event.ok else "error").inc()
        except Exception as exc:
            send_held()
            from bot.engine import EngineNotReady  # the engine module is optional at import time

            log.exception("engine failed in session %s", live.session_id)
            code = "engine_unavailable" if isinstance(exc, EngineNotReady) else "internal_error"
            self._transient(live, error_frame(code))
            await self._finish(live, [])
            self._count("error")
            return
        except BaseException:  # cancelled: nothing held may go out later
            if timer is not None:
                timer.cancel()
            raise
        send_held()  # before the reply; dropped by _transient if a human took over meanwhile
        records: list[dict[str, Any]] = []
        if reply is not None:
            bot_text = reply.text
            checked = await self.moderate(bot_text, "bot")
            if checked.action == "block":
                bot_text = _reply(checked, live.state.language)
            elif checked.action in ("redact", "flag"):
                bot_text = checked.text
            if bot_text != "".join(deltas):
                # The streamed text was changed by moderation: say so before the authoritative reply.
                records.append(Moderation(action=checked.action if checked.action != "allow" else "redact", reason="reply moderated").model_dump())  # type: ignore[arg-type]
            records.append(
                BotUttered(turn_id=turn_id, text=bot_text, cards=_cards(reply.cards), quick_replies=_quick_replies(reply.quick_replies)).model_dump()
            )
            if checked.action == "flag" and handoff is None:
                handoff = HandoffEvent(reason="moderation: " + ", ".join(checked.reasons))
        mode = None
        if handoff is not None:
            mode = await self._request_handoff(live, handoff.reason, handoff.summary, store=False)
            if mode is not None:
                records.append(Handoff(state="handoff_requested").model_dump())
        if live.bot_silenced:
            records = []  # taken over while answering: the half-finished reply is not stored
        try:
            await self._finish(live, records, conversation_state=mode, require_bot=bool(records))
        except NotBotsTurn:  # taken over (maybe on another process) before the reply was stored
            log.info("reply of session %s dropped: a human owns the conversation", live.session_id)
            await self._finish(live, [])
            self._count("interrupted")
            return
        now = time.perf_counter()
        if self.metrics is not None:
            if first_token is not None:
                self.metrics.time_to_first_token.observe(first_token - incoming.received)
            self.metrics.turn_latency.observe(now - incoming.received)
        self._count("answered" if reply is not None else "no_reply")

    async def _resumes_failed_turn(self, live: LiveSession, incoming: Incoming) -> bool:
        """A resent message that is already stored: answer it only if its turn failed here because
        the database went away after the message was stored, and nothing of the turn's end was
        stored (so it is never answered twice)."""
        key = (live.session_id, incoming.message_id or "")
        if key not in self._failed_turns:
            return False
        del self._failed_turns[key]
        if not await events.is_unanswered(self.db, live.session_id, key[1], reserved=TURN_RESERVE):
            return False
        log.info("resent message %s in session %s: finishing its failed turn", key[1], live.session_id)
        return True

    # ------------------------------------------------------------------ handoff
    async def _mode(self, live: LiveSession, mode: Mode, changes: int) -> str:
        """The conversation's owner, `mode` as stored (the agents' ownership table decides) when
        `live.ownership_changes` was `changes`."""
        if mode is Mode.resolved:  # the shopper writes again after it was closed: the bot is back
            try:
                mode = (await handoff_store.apply(self.db, live.session_id, Action.reopen)).mode
            except HandoffError as exc:
                log.warning("reopen of %s refused: %s", live.session_id, exc.message)
        if changes != live.ownership_changes or live.ownership_in_flight:
            # Changed here while we read, or a change is still committing (what we read may be
            # from before it): the local state stands, and a takeover's silence with it.
            return live.conversation_state
        live.bot_silenced = mode is not Mode.bot
        if mode.value != live.conversation_state:
            live.conversation_state = mode.value
            await save_session(self.db, live.session_id, conversation_state=mode.value)
        return mode.value

    async def _request_handoff(self, live: LiveSession, reason: str, summary: str, *, store: bool = True) -> str | None:
        """Put the conversation in the agents' queue. Returns the new mode, None if it already was."""
        if live.conversation_state == "handoff_requested":
            return None
        try:
            await handoff_store.apply(self.db, live.session_id, Action.request, reason=reason, summary=summary)
        except HandoffError as exc:  # already with a human: nothing to request
            log.info("handoff request for %s not applied: %s", live.session_id, exc.message)
            return None
        live.conversation_state = "handoff_requested"
        if self.metrics is not None:
            self.metrics.handoffs.labels("request").inc()
        if store:
            await self._store(live, [Handoff(state="handoff_requested").model_dump()], conversation_state="handoff_requested")
        return "handoff_requested"

    # ------------------------------------------------------------------ output
    def _transient(self, live: LiveSession, data: dict[str, Any]) -> None:
        if live.bot_silenced and data.get("type") == "bot_delta":
            return
        live.send_transient(data)

    async def _store(
        self, live: LiveSession, records: list[dict[str, Any]], *, message_id: str | None = None,
        conversation_state: str | None = None, state: dict[str, Any] | None = None, reserve: int = 0,
        require_bot: bool = False,
    ) -> events.Appended:
        async with live.lock:
            new = [NewEvent(r, message_id if r["type"] == "user_uttered" else None) for r in records]
            live.append_started()  # transients wait for these numbers (LiveSession.send_transient)
            try:
                stored = await self.log.append(
                    live.session_id, new, floor_seq=live.seq, state=state,
                    conversation_state=conversation_state, reserve=reserve, require_bot=require_bot,
                )
                for item in stored.frames:
                    live.publish(item)
                return stored
            finally:
                live.append_finished()

    async def _finish(
        self, live: LiveSession, records: list[dict[str, Any]], conversation_state: str | None = None, require_bot: bool = False
    ) -> None:
        """Store the turn's outcome with the engine's state, then the idle status (its seq reserved)."""
        await self._store(
            live, records, conversation_state=conversation_state, state=live.state.to_dict(), reserve=1, require_bot=require_bot
        )
        self._transient(live, Status(state="idle").model_dump())

    def _count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.turns.labels(outcome).inc()


def _reply(checked: ModerationResult, language: str) -> str:
    """What the shopper is told about a blocked (or self-harm) message, in their language."""
    if checked.reply_key is not None:
        return catalog_text(checked.reply_key, language)
    return checked.reply or catalog_text("blocked", language)


def _cards(raw: list[dict[str, Any]]) -> list[Card]:
    cards = []
    for item in raw:
        try:
            cards.append(Card.model_validate({**item, "id": str(item.get("id", item.get("product_id", "")))}))
        except ValidationError:
            log.warning("engine produced a card without id/name: dropped")
    return cards


def _quick_replies(raw: list[dict[str, str]]) -> list[QuickReply]:
    replies = []
    for item in raw:
        try:
            replies.append(QuickReply.model_validate(item))
        except ValidationError:
            log.warning("engine produced a malformed quick reply: dropped")
    return replies
