"""The dialogue engine: decide the next step, enforce the policy, run tools, stream the reply.

`load_engine(settings, db)` builds the engine the server uses. The policy deciding each step is
chosen by `SHOPBOT_ENGINE`: `default` (the trained MiniLM router in `$SHOPBOT_HOME/models/engine`),
`hf:/path/to/checkpoint` (a local Hugging Face causal LM with a tool-calling chat template) or
`openai:http://host/v1` (an OpenAI-compatible server; model name from `SHOPBOT_ENGINE_MODEL`).
Whatever the policy proposes goes through `policies.rules` and `Tool.validate`; every reply
passes the grounding check (bot/grounding.py) before it streams.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bot.db import Database
from bot.engine_args import NO, YES, ConversationView, fill_arguments
from bot.engine_compose import YES_NO, Reply, compose
from bot.grounding import SAFE_REPLY, ungrounded
from bot.settings import Settings
from bot.turns import ConversationState, DeltaEvent, HandoffEvent, ReplyEvent, StatusEvent, ToolResultEvent, TurnEvent
from policies import rules
from policies.router import CONSEQUENTIAL, RESPOND
from tools.base import InvalidArguments, Tool, ToolContext, confirmation_key

log = logging.getLogger(__name__)
MAX_STEPS = 8  # tool calls per shopper message before the engine must reply
MAX_FAILURES = 3  # consecutive turns not understood before a human takes over


class EngineNotReady(RuntimeError):
    """No trained model: run `shopbot train`."""


@dataclass
class Decision:
    action: str  # a tool name or "respond"
    arguments: dict[str, Any] | None = None
    note: str = ""  # why a proposal was overridden, for logs and tests
    text: str | None = None  # a model-written reply (LLM backends), checked before use


class StepProposer(Protocol):
    """Anything that ranks next steps for a conversation (the router, an LLM backend)."""

    def propose(self, view: ConversationView, tools: dict[str, Tool]) -> list[Decision]:
        ...


class RouterProposer:
    # `propose` is plain Python and numpy on cached sentence vectors once `encode` has run: cheap
    # enough for the event loop (see ShopEngine._decide).
    runs_on_loop = True

    def __init__(self, router: Any) -> None:
        self.router = router

    def uncached_texts(self, view: ConversationView) -> list[str]:
        return self.router.uncached_texts(view)

    def encode(self, texts: list[str]) -> None:
        self.router.encoder.encode(texts)

    def warm(self, reply_text: str) -> None:
        from policies.router import agent_text

        self.router.encoder.encode([agent_text(reply_text)])  # usually cached: moderation read the reply

    def propose(self, view: ConversationView, tools: dict[str, Tool]) -> list[Decision]:
        prediction = self.router.predict_view(view)
        return [Decision(action) for action, p in prediction.ranked if p > 0.01 or action == RESPOND]


class DecisionPolicy:
    """Proposals -> the first allowed step with valid arguments (or a reply)."""

    def __init__(self, proposer: Any, tools: dict[str, Tool] | None = None) -> None:
        if not hasattr(proposer, "propose"):
            proposer = RouterProposer(proposer)
        self.proposer = proposer
        if tools is None:
            from tools.registry import default_tools

            tools = default_tools()
        self.tools = tools

    def warm(self, reply_text: str) -> None:
        """Pre-compute what the proposer needs about the agent's last words (the default model
        embeds them); a no-op for proposers without a cache."""
        warm = getattr(self.proposer, "warm", None)
        if warm is not None:
            warm(reply_text)

    @property
    def runs_on_loop(self) -> bool:
        """True when `decide` is plain Python once `encode(uncached_texts(...))` has run (the
        router); False for proposers that generate text or call a server (LLM backends, and any
        proposer that does not say): those run in a worker thread."""
        return bool(getattr(self.proposer, "runs_on_loop", False))

    def uncached_texts(self, view: ConversationView) -> list[str]:
        """The texts `decide` would still have to run through the encoder."""
        return self.proposer.uncached_texts(view)

    def encode(self, texts: list[str]) -> None:
        """The encoder passes for `texts` (native code that releases the interpreter lock)."""
        self.proposer.encode(texts)

    def decide(self, messages: list[dict[str, Any]], pending: dict[str, Any] | None = None, view: ConversationView | None = None) -> Decision:
        """`view`: `messages` already parsed, if the caller has it."""
        view = view or ConversationView.parse(messages)
        if rules.wants_human(view) and "transfer_to_human_agents" in self.tools:
            return Decision("transfer_to_human_agents", fill_arguments("transfer_to_human_agents", view), "shopper asked for a person")
        choice = rules.order_choice(view)
        if choice is not None and "get_order_details" in self.tools:
            order_id, is_open = choice
            if not is_open:
                return Decision("get_order_details", {"order_id": order_id}, "the shopper said which order by its place or contents")
            return Decision(RESPOND, note=f"the shopper picked order {order_id}")
        for proposal in self.proposer.propose(view, self.tools)[:4]:
            if proposal.action == RESPOND:
                return proposal
            tool = self.tools.get(proposal.action)
            if tool is None:
                continue  # a tool this store does not have
            args = proposal.arguments
            if proposal.action in CONSEQUENTIAL and pending is not None and pending.get("name") == proposal.action:
                args = pending.get("arguments")  # exactly what the shopper said yes to
            if args is None:
                args = fill_arguments(proposal.action, view)
            verdict = rules.check(proposal.action, args, view, pending)
            if not verdict.allowed:
                log.info("refused %s: %s", proposal.action, verdict.reason)
                continue
            if args is None:
                return Decision(RESPOND, note=f"missing arguments for {proposal.action}")
            try:
                tool.validate(args)  # the call goes out as written; Tool.invoke fills defaults
            except InvalidArguments as exc:
                return Decision(RESPOND, note=str(exc))
            return Decision(proposal.action, args)
        return Decision(RESPOND, note="no allowed proposal")


def chunks(text: str, words: int = 3) -> list[str]:
    """Split a reply into small pieces that re-join to exactly the text."""
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
    policy: DecisionPolicy
    services: dict[str, Any] = field(default_factory=dict)
    policy_text: str = ""
    composer: Callable[[ConversationView, str], Reply] = compose  # writes the reply text
    _background: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        from tools.search_policy import POLICY_PATH

        if not self.policy_text and POLICY_PATH.is_file():
            self.policy_text = POLICY_PATH.read_text(encoding="utf-8")

    async def run_turn(self, state: ConversationState, text: str, payload: str | None = None) -> AsyncIterator[TurnEvent]:
        yield StatusEvent("thinking")
        said = (payload or text or "").strip()
        state.messages.append({"role": "user", "content": said})
        if state.pending_action is not None:
            if YES.search(said) and not NO.search(said):
                pending = state.pending_action
                tool = self.policy.tools.get(pending["name"])
                try:
                    if tool is not None:  # the key Tool.invoke will look for: validated arguments
                        state.confirmations.append(confirmation_key(pending["name"], tool.validate(pending["arguments"])))
                except InvalidArguments:
                    state.pending_action = None
            else:
                state.pending_action = None
        handoff: HandoffEvent | None = None
        model_text: str | None = None
        for _step in range(MAX_STEPS):
            decision = await self._decide(state)
            if decision.action == RESPOND:
                model_text = decision.text  # an LLM backend's own words, still grounding-checked below
                break
            tool = self.policy.tools[decision.action]
            yield StatusEvent("tool", tool=tool.name, label=tool.label or None)
            ctx = ToolContext(self.db, state.conversation_id, state.user_id, set(state.confirmations), self.services)
            if tool.consequential and state.pending_action is None:
                # A backend that writes its own listing: the rules above saw the listing and the
                # shopper's yes right after it, so that yes confirms exactly this call.
                ctx.confirm(tool.name, tool.validate(decision.arguments))
            result = await tool.invoke(ctx, decision.arguments)
            yield ToolResultEvent(tool.name, result.ok)
            state.user_id = ctx.user_id
            state.confirmations = sorted(ctx.confirmations)
            if tool.consequential:
                state.pending_action = None
            call_id = f"call_{len(state.messages)}"
            state.messages.append(
                {"role": "assistant", "content": None, "tool_calls": [{"id": call_id, "type": "function", "function": {"name": tool.name, "arguments": json.dumps(decision.arguments)}}]}
            )
            state.messages.append({"role": "tool", "tool_call_id": call_id, "name": tool.name, "content": result.text})
            if tool.name == "transfer_to_human_agents" and result.ok:
                handoff = HandoffEvent(reason="transfer", summary=str(decision.arguments.get("summary", "")))
                break
        if model_text:
            reply = Reply(model_text, quick_replies=YES_NO if model_text.rstrip().endswith("?") and "yes" in model_text.lower() else [])
        else:
            reply = self.composer(ConversationView.parse(state.messages), self.policy_text)
        state.failures = 0 if reply.understood else state.failures + 1
        if state.failures >= MAX_FAILURES and handoff is None:
            reply = Reply("I'm not getting this right, so I'm passing you to a human colleague.")
            handoff = HandoffEvent(reason="not_understood", summary="The assistant could not understand the shopper's requests.")
        text_out = reply.text
        if ungrounded(text_out, state.messages, [self.policy_text]):
            log.warning("reply refused by the grounding check: %s", ungrounded(text_out, state.messages, [self.policy_text]))
            reply = Reply(SAFE_REPLY)
            text_out = SAFE_REPLY
        if reply.pending_action is not None:
            state.pending_action = reply.pending_action
        for piece in chunks(text_out):
            yield DeltaEvent(piece)
            await asyncio.sleep(0)
        state.messages.append({"role": "assistant", "content": text_out})
        yield ReplyEvent(text_out, reply.cards, reply.quick_replies)
        if handoff is not None:
            yield handoff
        yield StatusEvent("idle")
        # Encode our own reply in the background, while the shopper reads it: the next decision
        # then only has to encode the shopper's new message. Not awaited: the turn (storing the
        # reply, `bot_uttered`) does not wait for it.
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self.policy.warm, text_out))
        self._background.add(task)
        task.add_done_callback(self._warmed)

    async def _decide(self, state: ConversationState) -> Decision:
        """The next step. Only native model work goes to a worker thread: a Python thread holds the
        interpreter lock while it runs, so handing the router's Python work to one frees nothing
        for the event loop; it only adds a queue (every session's decision waits behind the
        others' in the pool) and lock hand-offs. So the encoder passes for texts not yet seen run
        in a thread, and the rest of the decision (dialogue-state features, the head, the rules)
        runs here. LLM backends run whole in a thread."""
        policy = self.policy
        if not policy.runs_on_loop:
            return await asyncio.to_thread(policy.decide, state.messages, state.pending_action)
        view = ConversationView.parse(state.messages)
        texts = policy.uncached_texts(view)
        if texts:
            await asyncio.to_thread(policy.encode, texts)
        return policy.decide(state.messages, state.pending_action, view)

    def _warmed(self, task: "asyncio.Task[None]") -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("encoding the reply for the next turn failed: %s", task.exception())


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


def load_policy(settings: Settings, tools: dict[str, Tool] | None = None) -> DecisionPolicy:
    """The decision policy chosen by SHOPBOT_ENGINE. Raises EngineNotReady when it cannot load."""
    spec, model = engine_setting(settings)
    if spec.startswith("hf:"):
        from policies.llm_backends import HFProposer

        return DecisionPolicy(HFProposer(Path(spec[3:])), tools)
    if spec.startswith("openai:"):
        from policies.llm_backends import OpenAIProposer

        return DecisionPolicy(OpenAIProposer(spec[len("openai:") :], model or "default"), tools)
    if spec != "default":
        raise EngineNotReady(f"unknown SHOPBOT_ENGINE {spec!r}: use default, hf:/path or openai:http://host/v1")
    from policies.router import Router, StaleModel

    directory = settings.models_dir / "engine"
    try:
        router = Router.load(directory)
    except FileNotFoundError:
        raise EngineNotReady(f"no trained engine model in {directory}; run `shopbot train` first") from None
    except StaleModel as exc:
        raise EngineNotReady(f"{exc}; run `shopbot train` to rebuild it") from None
    return DecisionPolicy(router, tools)


def load_engine(settings: Settings, db: Database, services: dict[str, Any] | None = None) -> Any:
    """The engine for the server: a ShopEngine, or a NotReadyEngine explaining what to run.

    `services` are handed to the tools (e.g. `"catalog"`, the loaded product search).
    """
    from tools.registry import default_tools
    from tools.search_policy import POLICY_PATH, PolicyIndex

    try:
        policy = load_policy(settings, default_tools())
    except EngineNotReady as exc:
        log.error("%s", exc)
        return NotReadyEngine(str(exc))
    services = dict(services or {})
    policy_text = ""
    if POLICY_PATH.is_file():
        policy_text = POLICY_PATH.read_text(encoding="utf-8")
        services["policy"] = PolicyIndex.from_file(POLICY_PATH)
    return ShopEngine(db, policy, services, policy_text)
