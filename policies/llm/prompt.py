"""The conversation as the language model reads it: a compact, append-only text.

    Support chat of an online store. Tools: find_user_id_by_email(email) ...
    shopper: Hi, I want to return the kettle from order #W1234567.
    agent> reply ask_auth
    agent: I can help with that. First I need to verify your identity: ...
    shopper: jane.doe@example.com
    agent> call find_user_id_by_email {"email": "jane.doe@example.com"}
    result: jane_doe_1234
    agent>

Every assistant step is a command line (`agent>`, policies/llm/command.py); a reply is followed by
what the agent said (`agent:`), in whatever words: our templates, a human agent's after a
hand-back, or another assistant's in an imported transcript (their act is unknown: `reply say`).
Tool results are shortened to what a decision needs (ids, names, options, prices, statuses).

The text only grows as the conversation goes on, so the runtime keeps the model's cache of it
between decisions. When it outgrows the window, the oldest events are dropped in one step, at a
shopper message, down to half the window (`window_start`): the cache is rebuilt rarely.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from policies.llm.command import ACTS, SAY, Command, clean_arguments, pieces

Dict = dict[str, Any]
COMMAND_PREFIX = "agent>"
RESULT_CHARS = 1200  # a tool result longer than this is cut (its ids come first)
TEXT_CHARS = 600  # a shopper's message is cut to this many characters
SAID_CHARS = 240  # what the agent said: its start carries the act (the tool results carry the facts)


@dataclass(frozen=True)
class Event:
    """One line (or command) of the serialised conversation."""

    kind: str  # "shopper", "said" (the agent's words), "command", "result"
    text: str = ""
    command: Command | None = None
    loss: str = "all"  # for training: "all" (a target), "verb" (only the command's verb), "none"


def header(tool_names: Sequence[str]) -> str:
    return (
        "Support chat of an online store. The agent authenticates the shopper before account actions, "
        "lists every change and waits for a yes, and calls one tool at a time. Tools: "
        + ", ".join(tool_names)
        + "\n"
    )


def key_order(schemas: Sequence[Dict]) -> dict[str, list[str]]:
    """{tool name: its argument names in schema order}."""
    out = {}
    for schema in schemas:
        fn = schema.get("function", schema)
        out[str(fn["name"])] = list(fn.get("parameters", {}).get("properties", {}))
    return out


def signature(schema: Dict) -> str:
    """A tool as the header lists it: its name (its arguments are learned from the transcripts)."""
    return str(schema.get("function", schema)["name"])


# -- tool results -----------------------------------------------------------------------------------

def money(value: Any) -> str:
    return f"${value:.2f}" if isinstance(value, (int, float)) else str(value)


def _options(options: Any) -> str:
    return ", ".join(str(v) for v in options.values()) if isinstance(options, dict) else ""


def _payment(method: Dict) -> str:
    source = method.get("source", "")
    if source == "credit_card":
        return f"{method.get('id')} ({method.get('brand', 'credit')} card ending {method.get('last_four', '')})"
    if source == "gift_card":
        return f"{method.get('id')} (gift card, balance {money(method.get('balance'))})"
    return f"{method.get('id')} ({source or 'payment method'})"


def _address(address: Any) -> str:
    if not isinstance(address, dict):
        return ""
    parts = [address.get(k) for k in ("address1", "address2", "city", "state", "zip", "country")]
    return ", ".join(str(p) for p in parts if p)


def _user(value: Dict, args: Dict) -> str:
    name = value.get("name") or {}
    who = f"{name.get('first_name', '')} {name.get('last_name', '')}".strip()
    methods = value.get("payment_methods") or {}
    pays = "; ".join(_payment(m) for m in methods.values() if isinstance(m, dict))
    orders = ", ".join(str(o) for o in value.get("orders") or [])
    uid = args.get("user_id") or value.get("user_id") or ""
    return f"user {uid} {who}; payment methods: {pays}; orders: {orders or 'none'}"


def _order(value: Dict) -> str:
    items = "; ".join(
        f"{i.get('item_id')} {i.get('name')} ({_options(i.get('options'))}) {money(i.get('price'))} product {i.get('product_id')}"
        for i in value.get("items") or []
    )
    paid = ", ".join(str(p.get("payment_method_id")) for p in value.get("payment_history") or [] if p.get("transaction_type") == "payment")
    tracking = [t for f in value.get("fulfillments") or [] for t in f.get("tracking_id") or []]
    out = f"order {value.get('order_id')} {value.get('status')}; items: {items}; paid with {paid}"
    if tracking:
        out += f"; tracking {', '.join(map(str, tracking))}"
    return out


def _changed_order(value: Dict) -> str:
    """What a consequential tool did to an order: its new status and what changed."""
    out = f"order {value.get('order_id')} now {value.get('status')}"
    for key in ("cancel_reason", "return_items", "exchange_items", "exchange_new_items"):
        if value.get(key):
            out += f"; {key.replace('_', ' ')} {value[key] if isinstance(value[key], str) else ', '.join(value[key])}"
    return out


def _product(value: Dict) -> str:
    variants = value.get("variants") or {}
    shown = "; ".join(
        f"{v.get('item_id', iid)} ({_options(v.get('options'))}) {money(v.get('price'))}"
        for iid, v in variants.items()
        if isinstance(v, dict) and v.get("available")
    )
    return f"product {value.get('product_id')} {value.get('name')}, in stock: {shown or 'none'}"


def _hit(h: Dict) -> str:
    pid = h.get("product_id") or h.get("id")
    brand = f" {h['brand']}" if h.get("brand") else ""
    return f"{pid}{brand} {h.get('name')} {money(h.get('price'))} ({_options(h.get('options'))})"


def _hits(value: Any) -> str:
    hits = value.get("hits", value.get("items", [])) if isinstance(value, dict) else value
    hits = [h for h in hits or [] if isinstance(h, dict)]
    out = f"{len(hits)} products: " + "; ".join(_hit(h) for h in hits)
    closest = value.get("closest_outside_filters") if isinstance(value, dict) else None
    if not hits and isinstance(closest, dict):
        out += "; closest outside the filters: " + _hit(closest)
    return out


def compact_result(name: str, args: Dict, text: str) -> str:
    """A tool result shortened for the model (the full JSON stays in the transcript)."""
    text = (text or "").strip()
    if text.startswith("Error") or not text[:1] in "{[":
        return text[:RESULT_CHARS]
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text[:RESULT_CHARS]
    out: str
    if isinstance(value, dict) and "order_id" in value and "items" in value:
        out = _order(value) if name == "get_order_details" else _changed_order(value)
    elif name in ("get_user_details", "modify_user_address") and isinstance(value, dict):
        out = _user(value, args)
    elif isinstance(value, dict) and "variants" in value:
        out = _product(value)
    elif name == "list_all_product_types" and isinstance(value, dict):
        out = "; ".join(f"{k} {v}" for k, v in value.items())
    elif name in ("search_products", "recommend_products"):
        out = _hits(value)
    elif name == "search_policy" and isinstance(value, list):
        out = " | ".join(f"[{p.get('section', '')}] {p.get('text', '')}" for p in value if isinstance(p, dict))
    elif name == "describe_product" and isinstance(value, dict):
        out = f"{value.get('product_id')} {value.get('name')}: {value.get('description', '')}"
    else:
        out = json.dumps(value, ensure_ascii=False)
    return out[:RESULT_CHARS]


# -- messages -> events -------------------------------------------------------------------------------

def ordered(arguments: Dict, keys: Sequence[str] | None) -> Dict:
    """Arguments in the schema's order (the decoder writes keys in that order), unknown keys last."""
    if not keys:
        return arguments
    known = {k: arguments[k] for k in keys if k in arguments}
    return {**known, **{k: v for k, v in arguments.items() if k not in known}}


def reply_command(message: Dict, key_order: dict[str, Sequence[str]]) -> Command:
    """The command behind an assistant reply: its recorded act (the live engine and our simulator
    record one), else `reply say` (the words are someone's own)."""
    act = message.get("act")
    if isinstance(act, dict) and act.get("name"):
        verb, name = act.get("verb", "reply"), act["name"]
        keys = key_order.get(name) if verb == "confirm" else list(ACTS.get(name, {}))
        return Command(verb, name, ordered(clean_arguments(act.get("arguments")), keys))
    return Command("reply", SAY)


def _arguments(raw: Any) -> Dict:
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if isinstance(raw, str) and raw.strip() else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def events(messages: Sequence[Dict], key_order: dict[str, Sequence[str]] | None = None) -> list[Event]:
    """The serialisation of OpenAI-format messages (system messages are left out). `key_order`:
    each tool's argument names in schema order (`Tool.schema()`)."""
    key_order = key_order or {}
    out: list[Event] = []
    calls: dict[str, tuple[str, Dict]] = {}
    for m in messages:
        role = m.get("role")
        if role == "user":
            out.append(Event("shopper", _clip(m.get("content"))))
        elif role == "assistant" and m.get("tool_calls"):
            for call in m["tool_calls"][:1]:  # one call per step (parallel extras are not steps we take)
                fn = call.get("function") or {}
                name, args = str(fn.get("name", "")), _arguments(fn.get("arguments"))
                calls[str(call.get("id", ""))] = (name, args)
                out.append(Event("command", command=Command("call", name, ordered(clean_arguments(args), key_order.get(name)))))
        elif role == "assistant":
            command = reply_command(m, key_order)
            train = m.get("train", True)
            out.append(Event("command", command=command, loss="verb" if train == "verb" else ("all" if train else "none")))
            said_is_target = command.name == SAY and bool(m.get("train_said", False))
            out.append(Event("said", _clip(m.get("content"), SAID_CHARS), loss="all" if said_is_target else "none"))
        elif role == "tool":
            name, args = calls.get(str(m.get("tool_call_id", "")), (str(m.get("name", "")), {}))
            out.append(Event("result", compact_result(name, args, str(m.get("content") or ""))))
    return out


def _clip(text: Any, limit: int = TEXT_CHARS) -> str:
    return " ".join(str(text or "").split())[:limit]


def event_text(event: Event) -> list[str]:
    """The pieces of an event's text; each piece is tokenised on its own."""
    if event.kind == "shopper":
        return [f"shopper: {event.text}\n"]
    if event.kind == "said":
        return ["agent:", " " + event.text + "\n"]
    if event.kind == "result":
        return [f"result: {event.text}\n"]
    assert event.command is not None
    return [COMMAND_PREFIX] + pieces(event.command)


# -- windows --------------------------------------------------------------------------------------

def window_start(lengths: Sequence[int], kinds: Sequence[str], budget: int) -> int:
    """Where the window over these events starts: 0 while everything fits; when the text from the
    current start outgrows `budget`, the start moves to the first shopper message after which the
    rest fills at most half the budget. Deterministic, so training and serving agree."""
    start, total = 0, 0
    for n, length in enumerate(lengths):
        total += length
        if total <= budget:
            continue
        target = budget // 2
        for k in range(start + 1, n + 1):
            if kinds[k] == "shopper" and sum(lengths[k : n + 1]) <= target:
                start = k
                break
        else:  # no shopper message leaves room: cut at the latest event that does
            k = n
            while k > start + 1 and sum(lengths[k - 1 : n + 1]) <= target:
                k -= 1
            start = k
        total = sum(lengths[start : n + 1])
    return start


@dataclass
class Encoded:
    """Token ids of a serialised conversation, with training labels (-100: not a target)."""

    ids: list[int]
    labels: list[int]


class Serializer:
    """Turns conversations into token ids with a tokenizer (`tokenize(text) -> ids`), caching
    each piece's ids (the same lines come back at every decision)."""

    def __init__(self, tokenize: Callable[[str], list[int]], tool_signatures: Sequence[str], bos: list[int], budget: int = 1536) -> None:
        self.tokenize = tokenize
        self.header_ids = bos + tokenize(header(tool_signatures))
        self.budget = budget
        self._cache: dict[str, list[int]] = {}

    def piece_ids(self, piece: str) -> list[int]:
        ids = self._cache.get(piece)
        if ids is None:
            ids = self.tokenize(piece)
            if len(self._cache) < 200_000:
                self._cache[piece] = ids
        return ids

    def event_ids(self, event: Event) -> list[int]:
        return [t for piece in event_text(event) for t in self.piece_ids(piece)]

    def prompt(self, evs: Sequence[Event]) -> list[int]:
        """The ids the model reads before writing the next command (ends with `agent>`)."""
        body = [self.event_ids(e) for e in evs]
        prefix = self.piece_ids(COMMAND_PREFIX)
        start = window_start([len(b) for b in body] + [len(prefix)], [e.kind for e in evs] + ["command"], self.budget - len(self.header_ids))
        return self.header_ids + [t for b in body[start:] for t in b] + prefix

    def training_sequences(self, evs: Sequence[Event]) -> list[Encoded]:
        """The conversation as training sequences: each command is a target in the window it was
        decided in (exactly the prompt `prompt()` builds at that point), and so are the model's
        own words after `reply say` where the transcript marks them as targets. Commands decided
        in the same window share one sequence."""
        body = [self.event_ids(e) for e in evs]
        lengths = [len(b) for b in body]
        kinds = [e.kind for e in evs]
        prefix_len = len(self.piece_ids(COMMAND_PREFIX))
        marker_len = len(self.piece_ids("agent:"))
        budget = self.budget - len(self.header_ids)
        groups: list[tuple[int, list[int]]] = []  # (window start, the commands decided in it)
        for n, e in enumerate(evs):
            if e.kind != "command":
                continue
            start = window_start(lengths[:n] + [prefix_len], kinds[:n] + ["command"], budget)
            if groups and groups[-1][0] == start:
                groups[-1][1].append(n)
            else:
                groups.append((start, [n]))
        out: list[Encoded] = []
        verb_len = {verb: len(self.piece_ids(" " + verb)) for verb in ("call", "confirm", "reply")}
        for start, commands in groups:
            targets = {n for n in commands if evs[n].loss != "none"}
            targets |= {n + 1 for n in commands if n + 1 < len(evs) and evs[n + 1].kind == "said" and evs[n + 1].loss != "none"}
            if not targets:
                continue
            end = max(targets) + 1
            ids = list(self.header_ids)
            labels = [-100] * len(ids)
            for n in range(start, end):
                ids += body[n]
                if n not in targets:
                    labels += [-100] * lengths[n]
                    continue
                skip = prefix_len if kinds[n] == "command" else marker_len
                keep = lengths[n] - skip
                if evs[n].loss == "verb":
                    keep = verb_len[evs[n].command.verb]  # type: ignore[union-attr]
                labels += [-100] * skip + body[n][skip : skip + keep] + [-100] * (lengths[n] - skip - keep)
            out.append(Encoded(ids, labels))
        return out
