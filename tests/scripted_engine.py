"""A deterministic test double of bot.turns.Engine for the server's protocol tests.

It answers "You said: <text>" in word chunks with small sleeps, runs a pretend tool first, returns
product cards when asked about lamps, hands off on "human please", and fails on "crash".
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from bot.turns import ConversationState, DeltaEvent, HandoffEvent, ReplyEvent, StatusEvent, ToolResultEvent, TurnEvent

LAMPS = [
    {"id": "lamp-1", "name": "Brass Desk Lamp", "price": 49.5, "image": None, "options": {"color": "brass"}},
    {"id": "lamp-2", "name": "Paper Floor Lamp", "price": 89.0, "image": None, "options": {"height": "150 cm"}},
]


class ScriptedEngine:
    def __init__(self, delay: float = 0.01, words_per_chunk: int = 1) -> None:
        self.delay = delay
        self.words_per_chunk = words_per_chunk
        self.turns = 0

    async def run_turn(self, state: ConversationState, text: str, payload: str | None = None) -> AsyncIterator[TurnEvent]:
        self.turns += 1
        yield StatusEvent("thinking")
        await asyncio.sleep(self.delay)
        if "crash" in text:
            raise RuntimeError("scripted failure with secret internals /etc/passwd")
        cards = []
        if "lamp" in text.lower():
            yield StatusEvent("tool", tool="search_products", label="Searching products...")
            await asyncio.sleep(self.delay)
            yield ToolResultEvent("search_products", ok=True)
            cards = LAMPS
        reply = f"You said: {text}" + (f" (choice {payload})" if payload else "")
        if state.user_id:
            reply += f" [user {state.user_id}]"
        words = reply.split(" ")
        chunks = [" ".join(words[i : i + self.words_per_chunk]) for i in range(0, len(words), self.words_per_chunk)]
        for i, chunk in enumerate(chunks):
            await asyncio.sleep(self.delay)
            yield DeltaEvent(chunk + (" " if i < len(chunks) - 1 else ""))
        state.messages.append({"role": "user", "content": text})
        state.messages.append({"role": "assistant", "content": reply})
        yield ReplyEvent(reply, cards=cards, quick_replies=[{"title": "Yes", "payload": "yes"}, {"title": "No", "payload": "no"}])
        if "human please" in text:
            yield HandoffEvent(reason="shopper asked for a person", summary=text)
        yield StatusEvent("idle")
