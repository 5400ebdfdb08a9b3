"""The seam between the server's turn pipeline and the dialogue engine.

The server owns sessions, the event log and the socket; the engine owns the decision of what to
do next. Per shopper message the server calls `Engine.run_turn(state, text)` and forwards what it
yields, in order:

    StatusEvent("thinking")
    ( StatusEvent("tool", tool=..., label=...)  -- a tool runs; repeated per tool call
      [ ToolResultEvent(tool, ok) ] )*         -- it finished (counted in /metrics; optional)
    DeltaEvent(text)*          -- chunks of the reply, in order; never interleaved with a tool call
    ReplyEvent(text, cards, quick_replies)   -- the complete reply; text == "".join(deltas)
    [ HandoffEvent(reason, summary) ]        -- the conversation needs a human
    StatusEvent("idle")

`ConversationState` is everything the engine needs between turns; the server stores it as JSON
(`to_dict` / `from_dict`) so a conversation survives reconnects, restarts and moving between
worker processes.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from bot.i18n import DEFAULT_LANGUAGE, normalize_language


@dataclass
class StatusEvent:
    state: Literal["thinking", "tool", "idle"]
    tool: str | None = None
    label: str | None = None


@dataclass
class DeltaEvent:
    text: str


@dataclass
class ReplyEvent:
    text: str
    cards: list[dict[str, Any]] = field(default_factory=list)  # id, name, price, image, options, ...
    quick_replies: list[dict[str, str]] = field(default_factory=list)  # {"title", "payload"}


@dataclass
class HandoffEvent:
    reason: str
    summary: str = ""


@dataclass
class ToolResultEvent:
    tool: str
    ok: bool  # False when the tool refused (its result text starts with "Error:")


TurnEvent = StatusEvent | DeltaEvent | ReplyEvent | HandoffEvent | ToolResultEvent


@dataclass
class ConversationState:
    """The conversation as the engine sees it (OpenAI chat format) plus what tools have proven."""

    conversation_id: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    user_id: str | None = None  # authenticated store user, see tools.base.ToolContext
    confirmations: list[str] = field(default_factory=list)
    pending_action: dict[str, Any] | None = None  # a consequential call awaiting the shopper's yes
    failures: int = 0  # consecutive turns the engine could not handle
    frustration: float = 0.0  # running frustration score of the shopper (policies.frustration)
    # The shopper's language (bot.i18n.LANGUAGES): replies are written in it. Set by the server
    # before the engine runs (bot.language.decide); `language_decided` is False until a message
    # had letters to go by, and then a message needs real content to change it.
    language: str = "en"
    language_decided: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "messages": self.messages,
            "user_id": self.user_id,
            "confirmations": self.confirmations,
            "pending_action": self.pending_action,
            "failures": self.failures,
            "frustration": self.frustration,
            "language": self.language,
            "language_decided": self.language_decided,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ConversationState":
        return cls(
            conversation_id=data["conversation_id"],
            messages=list(data.get("messages", [])),
            user_id=data.get("user_id"),
            confirmations=list(data.get("confirmations", [])),
            pending_action=data.get("pending_action"),
            failures=int(data.get("failures", 0)),
            frustration=float(data.get("frustration", 0.0)),
            language=normalize_language(data.get("language")) or DEFAULT_LANGUAGE,
            language_decided=bool(data.get("language_decided", False)),
        )


class Engine(Protocol):
    """What the server needs from the dialogue engine."""

    def run_turn(self, state: ConversationState, text: str, payload: str | None = None) -> AsyncIterator[TurnEvent]:
        """Handle one shopper message; mutate `state`; yield events in the order documented above."""
        ...
