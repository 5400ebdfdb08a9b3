"""The conversation and the step: the types the engine's parts share.

`ConversationView` reads OpenAI-format messages once: who is authenticated, which profile, orders,
products and search hits the tools returned, what was called. `Command` is one step of the agent:
a tool call, a listing of a consequential call for the shopper's yes, or a reply (a grounded
template act, or the model's own words). The policies (policies/) produce commands from views;
the turn loop (bot/engine.py) runs them and the replies (bot/replies.py) render them. This module
imports nothing from either side.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from bot import jsontext

Dict = dict[str, Any]
ORDER_ID = re.compile(r"#?W\d{7}\b")


Verb = Literal["call", "confirm", "reply"]
VERBS: tuple[Verb, ...] = ("call", "confirm", "reply")
SAY = "say"  # the reply act whose words the model writes itself

# Reply acts and their arguments (what bot/replies.py renders). `purpose` is what the shopper is
# after; `about` which side of a product they asked about.
PURPOSES = ("cancel", "return", "exchange", "modify_items", "modify_address", "modify_payment", "status")
ACTS: dict[str, dict[str, Any]] = {
    "answer": {},  # present what the tools returned since the shopper last spoke
    "greet": {},
    "ask_auth": {},
    "ask_order": {"purpose": PURPOSES},
    "ask_items": {"order_id": "order_id", "purpose": PURPOSES},
    "ask_reason": {"order_id": "order_id"},
    "ask_payment": {"purpose": ("refund", "difference", "order")},
    "ask_address": {"purpose": ("order", "account")},
    "list_variants": {"order_id": "order_id", "item_id": "item_id"},
    "product": {"product_id": "product_id", "about": ("overview", "stock", "options", "price")},
    "compare": {"product_ids": "product_ids"},
    "cannot": {"order_id": "order_id", "purpose": PURPOSES},
    "balance": {},
    "declined": {},
    "goodbye": {},
    "small_talk": {},
    "out_of_scope": {},
    "clarify": {},
    "other_user": {},
    SAY: {},
}


@dataclass(frozen=True)
class Command:
    verb: Verb
    name: str  # a tool name, or a reply act
    arguments: dict[str, Any] = field(default_factory=dict)
    text: str | None = None  # `reply say`: the model's words

    @property
    def action(self) -> str:
        """The next step as transcripts score it: the tool for `call`, else `respond`."""
        return self.name if self.verb == "call" else RESPOND


RESPOND = "respond"


# -- reading a conversation ---------------------------------------------------------------------

def _json(text: Any) -> Any:
    """A tool result's JSON value, or None. Read-only: every decision of a turn parses the whole
    conversation again, so results are decoded once and shared (`_decoded`)."""
    if not isinstance(text, str) or not text[:1] in "{[":
        return None
    return _decoded(text)


@lru_cache(maxsize=1024)
def _decoded(text: str) -> Any:
    try:
        return jsontext.loads(text)
    except jsontext.JSONDecodeError:
        return None


def normalise_order_id(raw: str) -> str:
    return raw if raw.startswith("#") else "#" + raw


def product_hits(value: Any) -> list[dict[str, Any]]:
    """Products from a search or recommendation result: a list, or {"hits": [...]} / {"items": [...]}
    (no hits: the closest product outside the shopper's filters, if the search gave one).
    Each hit gets `product_id` (the tools call it `id`)."""
    if isinstance(value, dict):
        closest = value.get("closest_outside_filters")
        value = value.get("hits", value.get("items", [])) or ([closest] if isinstance(closest, dict) else [])
    if not isinstance(value, list):
        return []
    return [{**h, "product_id": h.get("product_id") or h.get("id")} for h in value if isinstance(h, dict)]


@dataclass
class ConversationView:
    """Facts proven by tool results and things said, in conversation order."""

    messages: list[Dict]
    user_id: str | None = None
    profile: Dict | None = None
    orders: dict[str, Dict] = field(default_factory=dict)
    order_fetch_order: list[str] = field(default_factory=list)
    products: dict[str, Dict] = field(default_factory=dict)
    product_types: dict[str, str] = field(default_factory=dict)
    hits: list[Dict] = field(default_factory=list)
    calls: list[tuple[str, Dict, str]] = field(default_factory=list)  # (name, args, result text)
    auth_failures: int = 0

    @classmethod
    def parse(cls, messages: list[Dict]) -> "ConversationView":
        view = cls(messages=messages)
        pending: dict[str, tuple[str, Dict]] = {}
        for m in messages:
            if m.get("role") == "assistant":
                for call in m.get("tool_calls") or []:
                    fn = call.get("function", {})
                    args = fn.get("arguments")
                    if isinstance(args, str):
                        try:
                            args = jsontext.loads(args) if args.strip() else {}
                        except jsontext.JSONDecodeError:
                            args = {}
                    pending[call.get("id", "")] = (fn.get("name", ""), args if isinstance(args, dict) else {})
            elif m.get("role") == "tool":
                name, args = pending.pop(m.get("tool_call_id", ""), (m.get("name", ""), {}))
                view._absorb(name, args, str(m.get("content") or ""))
        return view

    def _absorb(self, name: str, args: Dict, text: str) -> None:
        self.calls.append((name, args, text))
        ok = not text.startswith("Error")
        value = _json(text)
        if name.startswith("find_user_id"):
            if ok and text.strip():
                self.user_id = text.strip().strip('"')
            else:
                self.auth_failures += 1
        elif name in ("get_user_details", "modify_user_address") and isinstance(value, dict):
            self.profile = value
        elif isinstance(value, dict) and "order_id" in value and "items" in value:
            self.orders[value["order_id"]] = value
            if value["order_id"] in self.order_fetch_order:
                self.order_fetch_order.remove(value["order_id"])
            self.order_fetch_order.append(value["order_id"])
        elif name == "get_product_details" and isinstance(value, dict) and "variants" in value:
            self.products[value.get("product_id", args.get("product_id", ""))] = value
        elif name == "list_all_product_types" and isinstance(value, dict):
            self.product_types = value
        elif name in ("search_products", "recommend_products"):
            self.hits = product_hits(value)

    # -- text ------------------------------------------------------------------------------------
    def texts(self, role: str) -> list[str]:
        return [str(m.get("content") or "") for m in self.messages if m.get("role") == role and m.get("content")]

    @property
    def last_user(self) -> str:
        texts = self.texts("user")
        return texts[-1] if texts else ""

    @property
    def last_assistant(self) -> str:
        """The agent's last words to the shopper (not a tool call)."""
        texts = self.texts("assistant")
        return texts[-1] if texts else ""

    def since_last_user(self) -> list[Dict]:
        for n in range(len(self.messages) - 1, -1, -1):
            if self.messages[n].get("role") == "user":
                return self.messages[n + 1 :]
        return list(self.messages)

    def recent_user_text(self, n: int = 3) -> str:
        return "\n".join(self.texts("user")[-n:])

    def mentioned_orders(self, text: str) -> list[str]:
        return [normalise_order_id(m) for m in ORDER_ID.findall(text)]

    def since_last_user_calls(self) -> list[tuple[str, Dict, str]]:
        """The tool calls (name, arguments, result text) made since the shopper last spoke."""
        n = sum(1 for m in self.since_last_user() if m.get("role") == "tool")
        return self.calls[len(self.calls) - n :] if n else []

    def current_order(self) -> Dict | None:
        """The order under discussion: named last by the shopper or agent, else fetched last."""
        for text in reversed([str(m.get("content") or "") for m in self.messages if m.get("role") in ("user", "assistant")][-4:]):
            for oid in reversed(self.mentioned_orders(text)):
                if oid in self.orders:
                    return self.orders[oid]
        return self.orders[self.order_fetch_order[-1]] if self.order_fetch_order else None

    def payment_methods(self) -> dict[str, Dict]:
        methods = (self.profile or {}).get("payment_methods", {})
        return methods if isinstance(methods, dict) else {}

    def all_variants(self) -> dict[str, tuple[str, Dict]]:
        out = {}
        for pid, product in self.products.items():
            for iid, v in (product.get("variants") or {}).items():
                out[iid] = (pid, v)
        return out
