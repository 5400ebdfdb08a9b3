"""The dialogue engine's turn loop: decide the next step, run tools, stream the reply.

`load_engine(settings, db)` builds the engine the server uses. `SHOPBOT_ENGINE` chooses who
decides: `default` (the cascade of the fast model and the fine-tuned language model, trained by
`shopbot train` into `$SHOPBOT_HOME/models/`), `hf:/path` (a Hugging Face causal LM with a
tool-calling chat template) or `openai:http://host/v1` (an OpenAI-compatible server). Every step
goes through the policy rules (policies/rules.py) and `Tool.validate`; every reply is rendered
from tool results (bot/replies.py) or written by the model under constraints, and passes the
grounding check (bot/grounding.py) before it streams.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.conversation import SAY, Command, ConversationView
from bot.db import Database
from bot import engine_replies as R
from bot.grounding import StreamGuard, ungrounded
from bot.replies import Reply, render
from bot.settings import Settings
from bot.turns import ConversationState, DeltaEvent, HandoffEvent, ReplyEvent, StatusEvent, ToolResultEvent, TurnEvent
from tools.base import InvalidArguments, ToolContext, confirmation_key

log = logging.getLogger(__name__)
MAX_STEPS = 8  # tool calls per shopper message before the engine must reply
MAX_FAILURES = 3  # consecutive turns not understood before a human takes over


class EngineNotReady(RuntimeError):
    """No trained model: run `shopbot train`."""


def chunks(text: str, words: int = 3) -> list[str]:
    """Split a template reply into small pieces that re-join to exactly the text."""
    parts = text.split(" ")
    out = []
    for n in range(0, len(parts), words):
        piece = " ".join(parts[n : n + words])
        out.append(piece if n + words >= len(parts) else piece + " ")
    return out


@dataclass
class ShopEngine:
    """The Engine the server drives (see bot/turns.py for the event order)."""

    db: Database
    decider: Any  # policies.decide.Decider (or anything with decide/fast/affirmed)
    services: dict[str, Any] = field(default_factory=dict)
    policy_text: str = ""

    def __post_init__(self) -> None:
        from tools.search_policy import POLICY_PATH

        if not self.policy_text and POLICY_PATH.is_file():
            self.policy_text = POLICY_PATH.read_text(encoding="utf-8")

    @property
    def tools(self) -> dict[str, Any]:
        return self.decider.tools

    async def run_turn(self, state: ConversationState, text: str, payload: str | None = None) -> AsyncIterator[TurnEvent]:
        yield StatusEvent("thinking")
        said = (payload or text or "").strip()
        state.messages.append({"role": "user", "content": said})
        if state.pending_action is not None:
            self._take_yes(state)
        handoff: HandoffEvent | None = None
        streamed: asyncio.Queue[str | None] | None = None
        reply_command = Command("reply", "answer")
        for _step in range(MAX_STEPS):
            decision, streamed = await self._decide(state)
            command = decision.command
            if command.verb != "call":
                reply_command = command
                break
            tool = self.tools[command.name]
            yield StatusEvent("tool", tool=tool.name, label=tool.label or None)
            ctx = ToolContext(
                self.db, state.conversation_id, state.user_id, set(state.confirmations), self.services,
                language=state.language if state.language_decided else None,
            )
            if tool.consequential and state.pending_action is None:
                # An imported-style listing (the agent's own words): the rules saw it and the
                # shopper's yes right after it, so that yes confirms exactly this call.
                try:
                    ctx.confirm(tool.name, tool.validate(command.arguments))
                except InvalidArguments:
                    pass
            result = await tool.invoke(ctx, command.arguments)
            yield ToolResultEvent(tool.name, result.ok)
            state.user_id = ctx.user_id
            state.confirmations = sorted(ctx.confirmations)
            if tool.consequential:
                state.pending_action = None
            call_id = f"call_{len(state.messages)}"
            state.messages.append(
                {"role": "assistant", "content": None, "tool_calls": [{"id": call_id, "type": "function", "function": {"name": tool.name, "arguments": json.dumps(command.arguments)}}]}
            )
            state.messages.append({"role": "tool", "tool_call_id": call_id, "name": tool.name, "content": result.text})
            if tool.name == "transfer_to_human_agents" and result.ok:
                handoff = HandoffEvent(reason="transfer", summary=str(command.arguments.get("summary", "")))
        view = ConversationView.parse(state.messages)
        if reply_command.name == SAY and streamed is not None:
            async for event in self._stream_model_words(state, reply_command, streamed):
                yield event
            text_out = state.messages[-1]["content"]
            reply = Reply(text_out)
            yield ReplyEvent(text_out, [], [])
        else:
            lang = state.language
            reply = render(view, reply_command, self.policy_text, lang)
            text_out = reply.text
            if ungrounded(text_out, state.messages, [self.policy_text]):
                log.warning("reply refused by the grounding check: %s", ungrounded(text_out, state.messages, [self.policy_text]))
                reply = Reply(R.safe_reply(lang=lang), understood=False)
                text_out = reply.text
            state.failures = 0 if reply.understood else state.failures + 1
            if state.failures >= MAX_FAILURES and handoff is None:
                reply = Reply(R.not_understood_handoff(lang=state.language))
                text_out = reply.text
                handoff = HandoffEvent(reason="not_understood", summary="The assistant could not understand the shopper's requests.")
            state.pending_action = reply.pending_action if reply.pending_action is not None else None
            for piece in chunks(text_out):
                yield DeltaEvent(piece)
                await asyncio.sleep(0)
            act = {"verb": reply_command.verb, "name": reply_command.name, "arguments": reply_command.arguments}
            state.messages.append({"role": "assistant", "content": text_out, "act": act})
            yield ReplyEvent(text_out, reply.cards, reply.quick_replies)
        if handoff is not None:
            yield handoff
        yield StatusEvent("idle")

    def _take_yes(self, state: ConversationState) -> None:
        """The shopper answered a listing: a yes confirms exactly the listed call, anything else
        drops it."""
        pending = state.pending_action
        assert pending is not None
        if self.decider.affirmed(ConversationView.parse(state.messages)):
            tool = self.tools.get(pending["name"])
            try:
                if tool is not None:  # the key Tool.invoke will look for: validated arguments
                    state.confirmations.append(confirmation_key(pending["name"], tool.validate(pending["arguments"])))
                    return
            except InvalidArguments:
                pass
        state.pending_action = None

    async def _decide(self, state: ConversationState) -> tuple[Any, asyncio.Queue[str | None] | None]:
        """The next step. The fast model's part runs here once the encoder passes for texts not
        yet seen have run in a thread (native code); the language model runs in a thread. A reply
        in the model's own words streams from that thread through the queue returned."""
        decider = self.decider
        view = ConversationView.parse(state.messages)
        texts = decider.uncached_texts(view) if hasattr(decider, "uncached_texts") else []
        if texts:
            await asyncio.to_thread(decider.encode, texts)
        fast = decider.fast(state.messages, state.pending_action, view) if hasattr(decider, "fast") else None
        if fast is not None:
            return fast, None
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        guard = StreamGuard(state.messages, [self.policy_text])

        def on_token(piece: str) -> bool:
            if not guard.check(piece):  # a number, id or claim the conversation does not hold
                return False  # the model stops: what streamed so far is the reply
            loop.call_soon_threadsafe(queue.put_nowait, piece)
            return True

        decision = await asyncio.to_thread(decider.decide, list(state.messages), state.pending_action, state.conversation_id, on_token)
        queue.put_nowait(None)
        return decision, queue

    async def _stream_model_words(self, state: ConversationState, command: Command, queue: asyncio.Queue[str | None]) -> AsyncIterator[TurnEvent]:
        """The model's own words, as it wrote them: generated under the grounding guard (no
        number, id or unsupported claim reaches the shopper). A backend that returned its text
        whole (no token stream) is checked the same way, word by word, and sent in pieces."""
        pieces: list[str] = []
        while True:
            piece = await queue.get()
            if piece is None:
                break
            pieces.append(piece)
            yield DeltaEvent(piece)
        if not pieces and command.text:
            guard = StreamGuard(state.messages, [self.policy_text])
            for word in chunks(command.text, 1):
                if not guard.check(word):
                    break
                pieces.append(word)
                yield DeltaEvent(word)
        text = "".join(pieces).strip()
        if not text:
            text = R.safe_reply(lang=state.language)
            yield DeltaEvent(text)
        state.failures = 0
        state.messages.append({"role": "assistant", "content": text, "act": {"verb": "reply", "name": SAY, "arguments": {}}})


class NotReadyEngine:
    """Stands in when no model is trained; every turn raises a clear error."""

    def __init__(self, message: str) -> None:
        self.message = message

    async def run_turn(self, state: ConversationState, text: str, payload: str | None = None) -> AsyncIterator[TurnEvent]:
        raise EngineNotReady(self.message)
        yield  # pragma: no cover  (makes this an async generator)


def engine_setting(settings: Settings) -> tuple[str, str | None]:
    spec = settings.extra.get("engine") or os.environ.get("SHOPBOT_ENGINE", "default")
    model = settings.extra.get("engine_model") or os.environ.get("SHOPBOT_ENGINE_MODEL")
    return spec, model


def load_decider(settings: Settings, tools: dict[str, Any] | None = None) -> Any:
    """The decider chosen by SHOPBOT_ENGINE. Raises EngineNotReady when it cannot load."""
    from policies.decide import Decider
    from tools.registry import default_tools

    tools = tools or default_tools()
    spec, model = engine_setting(settings)
    if spec.startswith("hf:"):
        from policies.llm_backends import hf_policy

        try:
            return Decider(tools, llm=hf_policy(Path(spec[3:]), tools))
        except (OSError, ValueError) as exc:
            raise EngineNotReady(f"cannot load the Hugging Face model {spec[3:]}: {exc}") from None
    if spec.startswith("openai:"):
        from policies.llm_backends import OpenAIProposer

        return Decider(tools, llm=OpenAIProposer(spec[len("openai:") :], model or "default", tools))
    if spec != "default":
        raise EngineNotReady(f"unknown SHOPBOT_ENGINE {spec!r}: use default, hf:/path or openai:http://host/v1")
    from training.train_engine import load_default_decider

    return load_default_decider(settings, tools)


def load_engine(settings: Settings, db: Database, services: dict[str, Any] | None = None) -> Any:
    """The engine for the server: a ShopEngine, or a NotReadyEngine explaining what to run.

    `services` are handed to the tools (e.g. `"catalog"`, the loaded product search).
    """
    from tools.registry import default_tools
    from tools.search_policy import POLICY_PATH, PolicyIndex

    try:
        decider = load_decider(settings, default_tools())
    except EngineNotReady as exc:
        log.error("%s", exc)
        return NotReadyEngine(str(exc))
    services = dict(services or {})
    policy_text = ""
    if POLICY_PATH.is_file():
        policy_text = POLICY_PATH.read_text(encoding="utf-8")
        services["policy"] = PolicyIndex.from_file(POLICY_PATH)
    return ShopEngine(db, decider, services, policy_text)
