"""The moderation seam: every message entering or leaving a conversation passes `Moderator.check`.

`source` says who wrote the text: "shopper", "bot" or "agent". The result says what to do:
- allow:  pass `text` on unchanged;
- redact: pass on `result.text`, in which personal data is masked (the raw text is never stored);
- block:  the message goes no further; the shopper is told why with `result.reply`;
- flag:   pass on `result.text`, and put the conversation in the agents' queue with `reasons`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Action = Literal["allow", "redact", "block", "flag"]
Source = Literal["shopper", "bot", "agent"]


@dataclass
class ModerationResult:
    action: Action
    text: str  # what may be stored, logged and shown to models (redacted when needed)
    reasons: list[str] = field(default_factory=list)  # categories that fired, e.g. ["pii/card_number"]
    reply: str | None = None  # what the shopper is told when the message is blocked (or a supportive reply)
    reply_key: str | None = None  # `reply`'s key in the message catalog (bot/i18n.py): said in the shopper's language
    scores: dict[str, float] = field(default_factory=dict)


class Moderator(Protocol):
    @property
    def mode(self) -> str:
        """A short description of what is running, e.g. 'classifier+rules' or 'rules only'."""
        ...

    def check(self, text: str, source: Source = "shopper") -> ModerationResult: ...


class AllowAll:
    """Passes everything. Used only where no moderator is configured (tests of other parts)."""

    mode = "off"

    def check(self, text: str, source: Source = "shopper") -> ModerationResult:
        return ModerationResult(action="allow", text=text)
