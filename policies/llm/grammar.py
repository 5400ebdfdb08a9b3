"""What the model may write, argument by argument: tool schemas turned into decoding slots.

Each argument of a tool (or reply act) becomes a `Slot`: a choice among ids the conversation
holds (orders, items, products, payment methods, users), an enum of the schema, text copied from
the shopper's messages (emails, names, zip codes, addresses), free text (a search query), a number
or a boolean. `Candidates` collects the ids from the conversation; a command can only name what a
tool returned or the shopper wrote.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from policies.llm.command import ACTS

Dict = dict[str, Any]
ORDER_ID = re.compile(r"#?W\d{7}\b")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

# Argument names whose values are ids from the conversation, and which pool they come from.
ID_POOLS = {
    "order_id": "orders",
    "item_id": "items",
    "item_ids": "items",
    "new_item_ids": "items",
    "product_id": "products",
    "product_ids": "products",
    "user_id": "users",
    "payment_method_id": "payment_methods",
}
# Arguments the shopper dictates: an email, a zip code or a name is one of the emails, five-digit
# numbers or words of their messages; an address line is copied from them character for character.
SPANS = {"email": "emails", "zip": "zips", "first_name": "names", "last_name": "names"}
COPIED = {"address1", "address2", "city", "state", "country"}
ZIP = re.compile(r"\b\d{5}\b")
WORD = re.compile(r"[^\W\d_][\w'-]*")
OPTION_NAMES = ("color", "size", "material", "style", "capacity", "storage", "type")


@dataclass
class Slot:
    """One argument: `kind` is id, id_list, enum, copy, text, expression, number, integer,
    boolean or options."""

    name: str
    kind: str
    required: bool = False
    values: tuple[str, ...] = ()  # enum values, or the id pool's name for id kinds
    max_tokens: int = 48


@dataclass
class Candidates:
    """Ids and texts a command may copy, gathered from the conversation."""

    orders: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    payment_methods: list[str] = field(default_factory=list)
    option_names: list[str] = field(default_factory=lambda: list(OPTION_NAMES))
    emails: list[str] = field(default_factory=list)
    zips: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    shopper_text: str = ""

    def pool(self, name: str) -> list[str]:
        return getattr(self, name)

    def add(self, name: str, value: Any) -> None:
        if isinstance(value, str) and value and value not in self.pool(name):
            self.pool(name).append(value)


def _walk_result(c: Candidates, tool: str, args: Dict, value: Any) -> None:
    if isinstance(value, dict):
        if "order_id" in value and "items" in value:
            c.add("orders", value["order_id"])
            for item in value.get("items") or []:
                c.add("items", item.get("item_id"))
                c.add("products", item.get("product_id"))
            for pay in value.get("payment_history") or []:
                c.add("payment_methods", pay.get("payment_method_id"))
            if value.get("user_id"):
                c.add("users", value["user_id"])
        if "variants" in value:
            c.add("products", value.get("product_id") or args.get("product_id"))
            for iid, v in (value.get("variants") or {}).items():
                c.add("items", v.get("item_id", iid) if isinstance(v, dict) else iid)
                for key in (v.get("options") or {}) if isinstance(v, dict) else ():
                    if key not in c.option_names:
                        c.option_names.append(key)
        if "payment_methods" in value and isinstance(value["payment_methods"], dict):
            for pm in value["payment_methods"]:
                c.add("payment_methods", pm)
            for oid in value.get("orders") or []:
                c.add("orders", oid)
        if tool == "list_all_product_types":
            for pid in value.values():
                c.add("products", pid)
        hits = value.get("hits") if "hits" in value else None
        if isinstance(hits, list):
            _walk_result(c, tool, args, hits)
        closest = value.get("closest_outside_filters")
        if isinstance(closest, dict):
            c.add("products", closest.get("product_id") or closest.get("id"))
        if tool == "describe_product":
            c.add("products", value.get("product_id"))
    elif isinstance(value, list):
        for hit in value:
            if isinstance(hit, dict):
                c.add("products", hit.get("product_id") or hit.get("id"))
                for key in hit.get("options") or {}:
                    if key not in c.option_names:
                        c.option_names.append(key)


def candidates(messages: Sequence[Dict]) -> Candidates:
    c = Candidates()
    calls: dict[str, tuple[str, Dict]] = {}
    shopper: list[str] = []
    for m in messages:
        role = m.get("role")
        if role == "user":
            text = str(m.get("content") or "")
            shopper.append(text)
            for raw in ORDER_ID.findall(text):
                c.add("orders", raw if raw.startswith("#") else "#" + raw)
            for email in EMAIL.findall(text):
                c.add("emails", email.rstrip("."))
            for zip_code in ZIP.findall(text):
                c.add("zips", zip_code)
            for word in WORD.findall(text):
                if len(word) > 1:
                    c.add("names", word[0].upper() + word[1:])
        elif role == "assistant":
            for call in m.get("tool_calls") or []:
                fn = call.get("function") or {}
                try:
                    args = json.loads(fn.get("arguments") or "{}") if isinstance(fn.get("arguments"), str) else dict(fn.get("arguments") or {})
                except json.JSONDecodeError:
                    args = {}
                calls[str(call.get("id", ""))] = (str(fn.get("name", "")), args if isinstance(args, dict) else {})
        elif role == "tool":
            name, args = calls.get(str(m.get("tool_call_id", "")), (str(m.get("name", "")), {}))
            text = str(m.get("content") or "").strip()
            if name.startswith("find_user_id") and text and not text.startswith("Error"):
                c.add("users", text.strip('"'))
                continue
            if text[:1] in "{[":
                try:
                    _walk_result(c, name, args, json.loads(text))
                except json.JSONDecodeError:
                    pass
    c.shopper_text = "\n".join(shopper)
    return c


# -- schemas -> slots ---------------------------------------------------------------------------

def _types(prop: Dict) -> set[str]:
    if "type" in prop:
        t = prop["type"]
        return set(t) if isinstance(t, list) else {t}
    out: set[str] = set()
    for option in prop.get("anyOf", []):
        out |= _types(option)
    return out


def _enum(prop: Dict) -> list[str] | None:
    if "enum" in prop:
        return [str(v) for v in prop["enum"]]
    if "const" in prop:
        return [str(prop["const"])]
    for option in prop.get("anyOf", []):
        found = _enum(option)
        if found:
            return found
    return None


# Free-text arguments that quote the shopper: the policy question, the hand-off summary.
QUOTED = {("search_policy", "query"), ("transfer_to_human_agents", "summary")}


def slot_for(name: str, prop: Dict, required: bool, tool: str = "") -> Slot:
    types = _types(prop) - {"null"}
    if (tool, name) in QUOTED:
        return Slot(name, "copy", required, max_tokens=80)
    enum = _enum(prop)
    if name in ID_POOLS:
        kind = "id_list" if "array" in types else "id"
        return Slot(name, kind, required, (ID_POOLS[name],))
    if name in SPANS:
        return Slot(name, "id", required, (SPANS[name],))
    if enum:
        return Slot(name, "enum", required, tuple(enum))
    if name in COPIED:
        return Slot(name, "copy", required, max_tokens=24)
    if name == "expression":
        return Slot(name, "expression", required, max_tokens=48)
    if "boolean" in types:
        return Slot(name, "boolean", required)
    if "integer" in types:
        return Slot(name, "integer", required, max_tokens=4)
    if "number" in types:
        return Slot(name, "number", required, max_tokens=10)
    if "object" in types:
        return Slot(name, "options", required)
    return Slot(name, "text", required, max_tokens=48 if name != "summary" else 64)


def tool_slots(schema: Dict) -> list[Slot]:
    fn = schema.get("function", schema)
    params = fn.get("parameters", {})
    required = set(params.get("required", []))
    return [slot_for(name, prop, name in required, str(fn.get("name", ""))) for name, prop in params.get("properties", {}).items()]


def act_slots(act: str) -> list[Slot]:
    out = []
    for name, spec in ACTS[act].items():
        if isinstance(spec, tuple):
            out.append(Slot(name, "enum", True, spec))
        else:
            kind = "id_list" if spec.endswith("s") and spec != "items" else "id"
            out.append(Slot(name, kind, True, (ID_POOLS[spec],)))
    return out


def order_arguments(arguments: Dict, slots: Sequence[Slot]) -> Dict:
    """Arguments in the slots' order (how the model writes them), unknown keys last."""
    names = [s.name for s in slots]
    known = {k: arguments[k] for k in names if k in arguments}
    return {**known, **{k: v for k, v in arguments.items() if k not in known}}
