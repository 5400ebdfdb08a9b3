"""The next step: a cascade of the fast model and the language model, under the policy rules.

1. The fast model (policies/router.py, a few milliseconds) ranks the next steps. When it is sure
   (its probability at least the threshold picked on dev data, stored in the model card) the step
   is taken: a reply act or a call whose arguments are fixed by the conversation (the one user id)
   needs nothing more; otherwise the language model writes the arguments of that step.
2. When the fast model is not sure, the language model (policies/llm/) writes the whole command.
3. The rules (policies/rules.py) check what was proposed. A refused step is excluded and the
   language model asked again (twice at most); then the engine asks the shopper to clarify.

`fast()` is the part cheap enough for the event loop (no language model); `decide()` does it all.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.conversation import ACTS, SAY, Command, ConversationView
from policies import rules
from policies.llm.grammar import Candidates, act_slots, candidates, tool_slots

log = logging.getLogger(__name__)
RETRIES = 2


@dataclass
class Decision:
    command: Command
    source: str  # "fast", "language model", "rules"
    confidence: float = 1.0
    note: str = ""  # why a proposal was refused, for logs and tests

    @property
    def action(self) -> str:
        return self.command.action

    @property
    def arguments(self) -> dict[str, Any] | None:
        return self.command.arguments if self.command.verb == "call" else None


class Decider:
    def __init__(self, tools: dict[str, Any], llm: Any = None, router: Any = None, affirmation: Any = None, threshold: float = 1.01) -> None:
        if llm is None and router is None:
            raise ValueError("the decider needs a language model or a fast model")
        self.tools = tools
        self.llm = llm
        self.router = router
        self.affirmation = affirmation
        self.threshold = threshold  # > 1: the fast model never decides alone
        self.consequential = frozenset(name for name, t in tools.items() if t.consequential)
        self.tool_slots = {name: tool_slots(t.schema()) for name, t in tools.items()}
        self.act_slots = {act: act_slots(act) for act in ACTS}

    # -- the pieces ------------------------------------------------------------------------------
    def uncached_texts(self, view: ConversationView) -> list[str]:
        """Texts the fast model and the yes check would still have to run through the encoder."""
        texts = self.router.uncached_texts(view) if self.router is not None else []
        if self.affirmation is not None and view.last_user:
            texts += self.router.encoder.uncached([view.last_user]) if self.router is not None else []
        return texts

    def encode(self, texts: list[str]) -> None:
        if self.router is not None:
            self.router.encoder.encode(texts)

    def affirmed(self, view: ConversationView) -> bool:
        last = view.messages[-1] if view.messages else {}
        if last.get("role") != "user":
            return False
        if self.affirmation is None:
            return True  # no classifier: the model's own call after a listing stands
        return self.affirmation.said_yes(str(last.get("content") or ""))

    def _complete(self, verb: str, name: str, cands: Candidates) -> Command | None:
        """The step with its arguments when the conversation fixes them (a reply act without
        arguments; a call whose only arguments are ids the conversation holds one of), else None."""
        if verb == "reply":
            return Command("reply", name) if name in self.act_slots and not self.act_slots[name] else None
        slots = self.tool_slots.get(name)
        if verb != "call" or slots is None or any(not s.required or s.kind != "id" for s in slots):
            return None
        args: dict[str, Any] = {}
        for s in slots:
            pool = cands.pool(s.values[0])
            if len(pool) != 1:
                return None
            args[s.name] = pool[0]
        return Command("call", name, args)

    def _apply_pending(self, command: Command, pending: dict[str, Any] | None) -> Command:
        if command.verb == "call" and pending is not None and pending.get("name") == command.name:
            return Command("call", command.name, dict(pending.get("arguments") or {}))  # exactly what was listed
        return command

    def _allowed(self, command: Command, view: ConversationView, pending: dict[str, Any] | None, affirmed: bool) -> rules.Verdict:
        if command.verb == "call" and command.name not in self.tools:
            return rules.Verdict(False, f"no tool {command.name} in this store")
        return rules.check(command, view, self.consequential, affirmed=affirmed, pending=pending)

    def _listing_instead(self, command: Command, messages: list[dict[str, Any]], pending: dict[str, Any] | None,
                         conversation: str | None) -> Command | None:
        """A consequential call the shopper never saw listed becomes its listing (`confirm`, the
        model writes the arguments): the policy asks for a yes to exactly what is listed. Not after
        a listing the shopper did not accept (`pending` is set then)."""
        if command.verb != "call" or command.name not in self.consequential or pending is not None or self.llm is None:
            return None
        try:
            listing = self.llm.propose(messages, conversation=conversation, force=("confirm", command.name)).command
        except ValueError:  # its ids are not in the conversation
            return None
        view = ConversationView.parse(messages)
        return listing if self._allowed(listing, view, pending, False).allowed else None

    # -- decisions -------------------------------------------------------------------------------
    def fast(self, messages: list[dict[str, Any]], pending: dict[str, Any] | None = None, view: ConversationView | None = None) -> Decision | None:
        """The fast model's step when it is sure and the step needs no language model, else None."""
        if self.router is None:
            return None
        view = view or ConversationView.parse(messages)
        prediction = self.router.predict_view(view)
        label, p = prediction.ranked[0]
        verb, _, name = label.partition(":")
        if p < self.threshold or name == SAY:  # a reply in unknown words: the model picks the act
            return None
        command = self._complete(verb, name, candidates(messages))
        if command is None:
            return None
        command = self._apply_pending(command, pending)
        if not self._allowed(command, view, pending, self.affirmed(view)).allowed:
            return None
        return Decision(command, "fast", p)

    def decide(
        self,
        messages: list[dict[str, Any]],
        pending: dict[str, Any] | None = None,
        conversation: str | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Decision:
        view = ConversationView.parse(messages)
        affirmed = self.affirmed(view)
        cands = candidates(messages)
        exclude: set[tuple[str, str]] = set()
        notes: list[str] = []
        if self.router is not None:
            prediction = self.router.predict_view(view)
            label, p = prediction.ranked[0]
            verb, _, name = label.partition(":")
            if p >= self.threshold:
                if name == SAY:  # a reply, in words the fast model cannot choose: the act is the model's
                    verb, name = "reply", "*"
                command = self._complete(verb, name, cands)
                source = "fast"
                if command is None and self.llm is not None:
                    try:
                        command = self.llm.propose(messages, conversation=conversation, force=(verb, name)).command
                        source = "fast + language model"
                    except ValueError as exc:  # the step cannot be written here (its ids are missing)
                        notes.append(str(exc))
                if command is not None:
                    command = self._apply_pending(command, pending)
                    verdict = self._allowed(command, view, pending, affirmed)
                    if verdict.allowed:
                        return Decision(command, source, p)
                    notes.append(f"refused {command.verb} {command.name}: {verdict.reason}")
                    exclude.add((command.verb, command.name))
                    listing = self._listing_instead(command, messages, pending, conversation)
                    if listing is not None:
                        return Decision(listing, "fast + language model", p, "; ".join(notes))
            if self.llm is None:
                return Decision(Command("reply", "clarify"), "rules", 0.0, "; ".join(notes) or "the fast model is not sure")
        for _attempt in range(RETRIES + 1):
            decoded = self.llm.propose(messages, exclude=exclude, conversation=conversation, on_token=on_token)
            command = self._apply_pending(decoded.command, pending)
            verdict = self._allowed(command, view, pending, affirmed)
            if verdict.allowed:
                return Decision(command, "language model", decoded.confidence, "; ".join(notes))
            log.info("refused %s %s: %s", command.verb, command.name, verdict.reason)
            notes.append(f"refused {command.verb} {command.name}: {verdict.reason}")
            exclude.add((command.verb, command.name))
            listing = self._listing_instead(command, messages, pending, conversation)
            if listing is not None:
                return Decision(listing, "language model", decoded.confidence, "; ".join(notes))
        return Decision(Command("reply", "clarify"), "rules", 0.0, "; ".join(notes))
