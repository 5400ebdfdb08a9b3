"""Simulated support conversations over a store: a careful agent that follows the store policy.

`simulate(goal_set, ...)` writes one conversation (OpenAI chat format) in which a shopper pursues
a list of goals (cancel, return, exchange, modify ...) and the agent authenticates, looks things
up, lists the action, waits for a yes, then acts. Tool results are computed from the store
dicts with tau-bench's semantics and JSON, so transcripts look like the real tools' output.
"""
from __future__ import annotations

import copy
import json
import random
import re
from dataclasses import dataclass, field
from typing import Any

from bot.conversation import Command, ConversationView
from bot.store.data import StoreData
from training.phrasing import Phrasing, options_phrase, restyle

Dict = dict[str, Any]
ORDER_KINDS = ("cancel", "return", "exchange", "modify_items", "modify_address", "modify_payment", "status")


@dataclass
class Goal:
    kind: str  # ORDER_KINDS + user_address, balance, policy, search, recommend, describe, types, product_info, human, unsupported, oos, smalltalk, other_user
    order_id: str | None = None
    item_ids: list[str] = field(default_factory=list)
    new_item_ids: list[str] = field(default_factory=list)
    payment_method_id: str | None = None
    reason: str | None = None
    address: Dict | None = None
    extra: Dict = field(default_factory=dict)

    @staticmethod
    def from_action(action: Dict) -> "Goal":
        name, a = action["name"], action["arguments"]
        kind = {
            "cancel_pending_order": "cancel",
            "return_delivered_order_items": "return",
            "exchange_delivered_order_items": "exchange",
            "modify_pending_order_items": "modify_items",
            "modify_pending_order_address": "modify_address",
            "modify_pending_order_payment": "modify_payment",
            "modify_user_address": "user_address",
        }[name]
        address = None
        if kind in ("modify_address", "user_address"):
            address = {k: a[k] for k in ("address1", "address2", "city", "state", "country", "zip")}
        return Goal(
            kind=kind,
            order_id=a.get("order_id"),
            item_ids=list(a.get("item_ids", [])),
            new_item_ids=list(a.get("new_item_ids", [])),
            payment_method_id=a.get("payment_method_id"),
            reason=a.get("reason"),
            address=address,
        )


class Conversation:
    """Messages plus an in-memory copy-on-write view of the store."""

    def __init__(self, store: StoreData, rng: random.Random, phr: Phrasing, policy_search: Any = None) -> None:
        self.store = store
        self.rng = rng
        self.phr = phr
        self.policy_search = policy_search
        self.messages: list[Dict] = []
        self.lang = "en"  # the language the agent replies in (the shopper's)
        self.aliases: dict[str, str] = {}  # a product as a shopper names it in their language -> its name
        self.orders: dict[str, Dict] = {}
        self.users: dict[str, Dict] = {}
        self.calls = 0

    # -- store view ------------------------------------------------------------------------------
    def order(self, order_id: str) -> Dict | None:
        if order_id not in self.orders and order_id in self.store.orders:
            self.orders[order_id] = copy.deepcopy(self.store.orders[order_id])
        return self.orders.get(order_id)

    def user_record(self, user_id: str) -> Dict | None:
        if user_id not in self.users and user_id in self.store.users:
            self.users[user_id] = copy.deepcopy(self.store.users[user_id])
        return self.users.get(user_id)

    def product(self, product_id: str) -> Dict | None:
        return self.store.products.get(product_id)

    def variant(self, item_id: str) -> Dict | None:
        for product in self.store.products.values():
            if item_id in product["variants"]:
                return {**product["variants"][item_id], "name": product["name"], "product_id": product["product_id"]}
        return None

    # -- turns -----------------------------------------------------------------------------------
    def user(self, text: str, raw: bool = False) -> None:
        self.messages.append({"role": "user", "content": text if raw else self.phr.finish(text)})

    def reply(self, act: str, **arguments: Any) -> str:
        """The agent replies with a template act, rendered as the live engine renders it."""
        return self._speak(Command("reply", act, arguments))

    def confirm(self, name: str, arguments: Dict) -> str:
        """The agent lists a consequential call for the shopper's yes."""
        return self._speak(Command("confirm", name, dict(arguments)))

    def _speak(self, command: Command) -> str:
        from bot.replies import render

        reply = render(ConversationView.parse(self.messages), command, lang=self.lang)
        if not reply.understood and command.name not in ("clarify", "out_of_scope"):
            raise ValueError(f"the simulator's {command.verb} {command.name} lacks its facts: {command.arguments}")
        text = restyle(reply.text, self.rng) if self.lang == "en" else reply.text
        act = {"verb": command.verb, "name": command.name, "arguments": command.arguments}
        self.messages.append({"role": "assistant", "content": text, "act": act})
        return text

    def call(self, name: str, arguments: Dict) -> str:
        self.calls += 1
        call_id = f"call_{self.calls}"
        self.messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}],
            }
        )
        result = self.execute(name, arguments)
        self.messages.append({"role": "tool", "tool_call_id": call_id, "name": name, "content": result})
        return result

    # -- tau-bench semantics of each tool, over the in-memory store -------------------------------
    def execute(self, name: str, a: Dict) -> str:
        if name == "find_user_id_by_email":
            for uid, u in self.store.users.items():
                if u["email"].lower() == a["email"].lower():
                    return uid
            return "Error: user not found"
        if name == "find_user_id_by_name_zip":
            for uid, u in self.store.users.items():
                if (
                    u["name"]["first_name"].lower() == a["first_name"].lower()
                    and u["name"]["last_name"].lower() == a["last_name"].lower()
                    and u["address"]["zip"] == a["zip"]
                ):
                    return uid
            return "Error: user not found"
        if name == "get_user_details":
            u = self.user_record(a["user_id"])
            return json.dumps(u) if u else "Error: user not found"
        if name == "get_order_details":
            o = self.order(a["order_id"])
            return json.dumps(o) if o else "Error: order not found"
        if name == "get_product_details":
            p = self.product(a["product_id"])
            return json.dumps({"name": p["name"], "product_id": p["product_id"], "variants": p["variants"]}) if p else "Error: product not found"
        if name == "list_all_product_types":
            return json.dumps(dict(sorted((p["name"], pid) for pid, p in self.store.products.items())))
        if name == "calculate":
            from tools.calculate import evaluate

            return str(round(evaluate(a["expression"]), 2))
        if name == "transfer_to_human_agents":
            return "Transfer successful"
        if name == "search_policy":
            passages = self.policy_search(a["query"]) if self.policy_search else []
            return json.dumps(passages)
        if name == "search_products":
            return json.dumps(self._product_hits(a))
        if name == "recommend_products":
            return json.dumps(self._product_hits({"query": "", "k": a.get("k") or 5})["hits"])
        if name == "describe_product":
            p = self.product(a["product_id"])
            return json.dumps({"product_id": p["product_id"], "name": p["name"], "description": _describe(p)}) if p else "Error: product not found"
        if name == "modify_user_address":
            u = self.user_record(a["user_id"])
            u["address"] = {k: a[k] for k in ("address1", "address2", "city", "country", "state", "zip")}
            return json.dumps(u)
        o = self.order(a["order_id"])
        if name == "cancel_pending_order":
            o["status"] = "cancelled"
            o["cancel_reason"] = a["reason"]
        elif name == "return_delivered_order_items":
            o["status"] = "return requested"
            o["return_items"] = sorted(a["item_ids"])
            o["return_payment_method_id"] = a["payment_method_id"]
        elif name == "exchange_delivered_order_items":
            o["status"] = "exchange requested"
            o["exchange_items"] = sorted(a["item_ids"])
            o["exchange_new_items"] = sorted(a["new_item_ids"])
            o["exchange_payment_method_id"] = a["payment_method_id"]
        elif name == "modify_pending_order_items":
            for old, new in zip(a["item_ids"], a["new_item_ids"]):
                for item in o["items"]:
                    if item["item_id"] == old:
                        v = self.variant(new)
                        item.update(item_id=new, price=v["price"], options=v["options"])
                        break
            o["status"] = "pending (item modified)"
        elif name == "modify_pending_order_address":
            o["address"] = {k: a[k] for k in ("address1", "address2", "city", "country", "state", "zip")}
        elif name == "modify_pending_order_payment":
            o["payment_history"].append({"transaction_type": "payment", "amount": o["payment_history"][0]["amount"], "payment_method_id": a["payment_method_id"]})
        return json.dumps(o)

    def _product_hits(self, a: Dict) -> Dict:
        """The search tool's result shape over the store's products: word overlap with the name and
        category ranks, the filters apply exactly (as the real tool's arguments do)."""
        query = str(a.get("query") or "")
        query = self.aliases.get(query, query)
        words = {w for w in re.findall(r"[a-z0-9]+", query.lower()) if len(w) > 2}
        scored = []
        for pid, p in self.store.products.items():
            text = f"{p['name']} {p.get('category', '')} {p.get('brand', '')}".lower()
            score = sum(1 for w in words if w in text or w.rstrip("s") in text)
            if words and not score:
                continue
            scored.append((-score, p["name"], pid))
        hits, closest = [], None
        allowed = set(a.get("product_ids") or []) or None
        for _s, _n, pid in sorted(scored):
            p = self.store.products[pid]
            if allowed is not None and pid not in allowed:
                continue
            variants = [v for v in p["variants"].values() if _variant_fits(v, a)]
            if not variants:
                if closest is None:
                    closest = _hit(p, list(p["variants"].values()))
                continue
            hits.append(_hit(p, variants))
        if a.get("sort") == "price_asc":
            hits.sort(key=lambda h: h["price"])
        elif a.get("sort") == "price_desc":
            hits.sort(key=lambda h: -h["price"])
        out: Dict = {"query": a.get("query", ""), "hits": hits[: int(a.get("k") or 5)]}
        if not hits and closest is not None:
            out["closest_outside_filters"] = closest
        return out


def _variant_fits(v: Dict, a: Dict) -> bool:
    if a.get("in_stock_only") and not v.get("available"):
        return False
    if a.get("max_price") is not None and v["price"] > a["max_price"]:
        return False
    if a.get("min_price") is not None and v["price"] < a["min_price"]:
        return False
    for key, wanted in (a.get("options") or {}).items():
        if str(v.get("options", {}).get(key, "")).lower() != str(wanted).lower():
            return False
    return True


def _hit(p: Dict, variants: list[Dict]) -> Dict:
    best = min(variants, key=lambda v: v["price"])
    return {
        "id": p["product_id"], "name": p["name"], "price": best["price"], "options": best["options"],
        "category": [c.strip() for c in str(p.get("category", "")).split(">") if c.strip()], "brand": p.get("brand"),
        "item_id": best["item_id"], "available": any(v.get("available") for v in variants),
        "variants": [{"item_id": v["item_id"], "options": v["options"], "price": v["price"], "available": v.get("available", True)} for v in variants],
    }


def _describe(product: Dict) -> str:
    keys = sorted({k for v in product["variants"].values() for k in v["options"]})
    return f"{product['name']}, available with a choice of {', '.join(keys)}."


def product_words(name: str) -> str:
    return name.lower()
