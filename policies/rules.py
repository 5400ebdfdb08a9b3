"""Policy rules the engine enforces whatever the model proposes.

- Account tools need an authenticated shopper (a successful find_user_id_* call).
- One shopper per conversation: no second find_user_id_* once someone is authenticated, and no
  call naming another user's id.
- A consequential tool runs only right after the agent listed the action and the shopper said yes.
- One tool call per step (the engine never runs two at once).
- A shopper asking for a person goes to a human.
- A shopper who picks one of their listed orders by what is in it ("the one with the desk lamp")
  or by its place ("the second one") gets that order opened, then an answer about it (`order_choice`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.engine_args import NO, YES, ConversationView, find_items, ordinal_index
from policies.router import CONFIRM_ASK, CONSEQUENTIAL

AUTH_FREE = frozenset(
    {
        "find_user_id_by_email",
        "find_user_id_by_name_zip",
        "list_all_product_types",
        "get_product_details",
        "calculate",
        "transfer_to_human_agents",
        "search_policy",
        "search_products",
        "recommend_products",
        "describe_product",
    }
)
ASKS_FOR_HUMAN = re.compile(
    r"\b(talk|speak|chat|connect|transfer|put)\b.{0,40}\b(human|person|agent|representative|someone|manager|supervisor)\b|\breal (person|human)\b|\bhuman agent\b",
    re.I,
)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""


def shopper_said_yes(view: ConversationView) -> bool:
    last = view.messages[-1] if view.messages else {}
    if last.get("role") != "user":
        return False
    text = str(last.get("content") or "")
    return bool(YES.search(text)) and not NO.search(text)


def agent_asked_to_confirm(view: ConversationView) -> bool:
    return bool(CONFIRM_ASK.search(view.last_assistant))


def check(name: str, arguments: dict[str, Any] | None, view: ConversationView, pending: dict[str, Any] | None = None) -> Verdict:
    """May the engine call `name` now? `pending` is the live engine's listed action, if any."""
    if name.startswith("find_user_id") and view.user_id is not None:
        return Verdict(False, "one shopper per conversation: already authenticated")
    if name not in AUTH_FREE and view.user_id is None:
        return Verdict(False, "authenticate before account tools")
    if arguments and view.user_id is not None and arguments.get("user_id") not in (None, view.user_id):
        return Verdict(False, "one shopper per conversation: another user's id")
    if name in CONSEQUENTIAL:
        if not shopper_said_yes(view):
            return Verdict(False, "no explicit yes from the shopper")
        if pending is not None:
            if pending.get("name") != name:
                return Verdict(False, "the shopper confirmed a different action")
        elif not agent_asked_to_confirm(view):
            return Verdict(False, "the action was not listed for confirmation")
    return Verdict(True)


def wants_human(view: ConversationView) -> bool:
    last = view.messages[-1] if view.messages else {}
    return last.get("role") == "user" and bool(ASKS_FOR_HUMAN.search(str(last.get("content") or "")))


# "the one with the desk lamp", "the order that has my headphones", "the dog bed one"
BY_CONTENTS = re.compile(r"\b(?:one|order)\s+(?:with|that has|containing)\b|\bthe\s+[a-z][a-z -]{1,40}?\s+(?:one|order)\b", re.I)


def order_choice(view: ConversationView) -> tuple[str, bool] | None:
    """After the agent listed the shopper's orders, a reply that names no order id but says which
    order by its place ("the second one") or by a product in it ("the one with the desk lamp"):
    (the order, whether it is open already), or None.

    By contents the shopper's orders are opened in turn, until one holds a product the reply names;
    when none of them does, None (the engine decides)."""
    orders = [o for o in (view.profile or {}).get("orders", []) if isinstance(o, str)]
    if len(orders) < 2:  # every decision asks: the cheap test first
        return None
    text = view.last_user
    if len(set(view.mentioned_orders(view.last_assistant)) & set(orders)) < 2 or view.mentioned_orders(text):
        return None
    index = ordinal_index(text.lower(), len(orders))  # "the second one", "the first order"
    if index is not None:
        return (orders[index], orders[index] in view.orders) if index < len(orders) else None
    if not BY_CONTENTS.search(text):
        return None
    for oid in orders:
        if oid not in view.orders:
            return oid, False
        if find_items(view.orders[oid], text):
            return oid, True
    return None
