"""Reading a conversation: what tools have shown, and the arguments of the next call.

`ConversationView` parses the OpenAI-format messages once (who is authenticated, which orders,
products and profile were fetched, what the shopper mentioned). `fill_arguments(name, view)`
copies each argument from the conversation (ids from tool results and shopper text, emails,
names and zip codes, options the shopper asked for) and returns None when something is missing,
so the engine asks the shopper instead of guessing an id.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from bot import jsontext

Dict = dict[str, Any]

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
ORDER_ID = re.compile(r"#?W\d{7}\b")
ITEM_ID = re.compile(r"\b\d{10}\b")
ZIP = re.compile(r"\b\d{5}\b")
SWAP_PAIR = re.compile(r"\b(\d{10})\b[^;\n]{0,200}?(?:\bto\b|\bwith\b|\bfor\b|→|->)[^;\n]{0,80}?\b(\d{10})\b")
PM_ID = re.compile(r"\b(?:credit_card|gift_card|paypal)_\d+\b")
NAME_PATTERNS = (
    re.compile(r"(?:my name is|name's|name is|i am|i'm|this is|it's|its)\s+([A-Za-z][a-z'-]+)\s+([A-Za-z][A-Za-z'-]+)", re.I),
    re.compile(r"^\s*([A-Z][a-z'-]+)\s+([A-Z][A-Za-z'-]+)\s*(?:,|-|\.|and|zip)", re.M),
    re.compile(r"(?:^|[,.:] )([A-Za-z][a-z'-]+)\s+([A-Za-z][a-z'-]+),?\s*(?:zip|postal|\d{5})", re.I),
    re.compile(r"\b([A-Z][a-z'-]+)\s+([A-Z][a-z'-]+)\b"),
)
NOT_NAMES = {"my", "zip", "code", "the", "and", "name", "is", "a", "an", "in", "live", "at", "sure", "hi", "hello", "hey", "yes", "ok",
             "i", "im", "thanks", "thank", "you", "please", "email", "it", "this", "postal", "can", "could", "would", "want", "need", "order",
             "ordered", "by", "no", "not", "mistake", "looking", "trying", "going", "the", "from", "for", "to", "with", "of", "on"}
YES = re.compile(r"^\s*(?:yes|yeah|yep|yup|sure|ok|okay|confirm|correct|go ahead|please do|do it|proceed|that's right|y)\b", re.I)
NO = re.compile(r"^\s*(?:no|nope|nah|don't|do not|wait|not yet|cancel that|stop)\b", re.I)
REASONS = {"no longer needed": ("no longer need", "not needed", "don't need", "do not need", "no longer needed"), "ordered by mistake": ("mistake", "by accident", "accidentally")}
PRICE_MAX = re.compile(r"(?:under|below|less than|up to|max(?:imum)?|cheaper than)\s*\$?\s*(\d+(?:\.\d+)?)", re.I)
PRICE_MIN = re.compile(r"(?:over|above|more than|at least)\s*\$?\s*(\d+(?:\.\d+)?)", re.I)


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


# -- argument pieces ------------------------------------------------------------------------------

def find_email(view: ConversationView) -> str | None:
    for text in reversed(view.texts("user")):
        found = EMAIL.findall(text)
        if found:
            return found[-1].rstrip(".")
    return None


def find_name_zip(view: ConversationView) -> tuple[str, str, str] | None:
    zip_code = first = last = None
    for text in reversed(view.texts("user")):
        if zip_code is None:
            zips = ZIP.findall(text)
            if zips:
                zip_code = zips[-1]
        if first is None:
            candidates = [
                (a, b)
                for pattern in NAME_PATTERNS
                for a, b in pattern.findall(text)
                if a.lower() not in NOT_NAMES and b.lower() not in NOT_NAMES
            ]
            # Prefer a pair written with capitals ("It's Ana Ruiz" over "it's ordered by ...").
            capitalised = [c for c in candidates if c[0][:1].isupper() and c[1][:1].isupper()]
            if capitalised or candidates:
                first, last = (capitalised or candidates)[0]
        if zip_code and first:
            break
    if zip_code and first and last:
        return first[0].upper() + first[1:], last[0].upper() + last[1:], zip_code
    return None


def find_payment_method(view: ConversationView, text: str, order: Dict | None = None) -> str | None:
    methods = view.payment_methods()
    for pm in reversed(PM_ID.findall(text)):
        if pm in methods:
            return pm
    low = text.lower()
    if order and re.search(r"original|same (?:payment|card|method)|where i paid|the one i used", low):
        history = order.get("payment_history") or []
        if history:
            return history[0].get("payment_method_id")
    by_source: dict[str, list[str]] = {}
    for pm_id, m in methods.items():
        by_source.setdefault(m.get("source", ""), []).append(pm_id)
    for pm_id, m in methods.items():
        if m.get("last_four") and str(m["last_four"]) in text:
            return pm_id
    hits = []
    if "gift" in low and by_source.get("gift_card"):
        hits.append((low.rfind("gift"), by_source["gift_card"][0]))
    if "paypal" in low and by_source.get("paypal"):
        hits.append((low.rfind("paypal"), by_source["paypal"][0]))
    for word in ("credit", "card ending", "visa", "mastercard", "amex", "discover"):
        if word in low and by_source.get("credit_card"):
            cards = by_source["credit_card"]
            brand = next((c for c in cards if str(methods[c].get("brand", "")).lower() in low), cards[0])
            hits.append((low.rfind(word), brand))
    if hits:
        return max(hits)[1]
    return None


def find_reason(text: str) -> str | None:
    low = text.lower()
    found = None
    pos = -1
    for reason, cues in REASONS.items():
        for cue in cues:
            at = low.rfind(cue)
            if at > pos:
                pos, found = at, reason
    return found


ADDRESS = re.compile(
    r"(?<![\w#])(\d+[A-Za-z]?\s+[A-Za-z0-9 .'-]+?),\s*(?:((?:suite|apt|apartment|unit|#|floor|ste)\.?\s*[\w-]+),\s*)?"
    r"([A-Za-z .'-]+?),\s*([A-Za-z .]+?)\s*,?\s*(\d{5})(?:\s*,?\s*([A-Za-z]+(?: [A-Z][a-z]+)?))?",
    re.I,
)


def find_address(text: str) -> Dict | None:
    found = list(ADDRESS.finditer(text))
    if not found:
        return None
    m = found[-1]
    country = (m.group(6) or "USA").strip().rstrip(".")
    if country.lower() in ("us", "united states", "usa", "america", ""):
        country = "USA"
    return {
        "address1": m.group(1).strip(),
        "address2": (m.group(2) or "").strip(),
        "city": m.group(3).strip(),
        "state": m.group(4).strip(),
        "country": country,
        "zip": m.group(5),
    }


ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3, "fifth": 4, "5th": 4}
ORDINAL = re.compile(r"\b(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last)\b(?! (?:time|name))|(?:number|no\.?|#|option) ?([1-5])\b")
PRONOUN = re.compile(r"\b(it|this one|that one|this|that)\b")


def listed_product(view: ConversationView, low: str) -> str | None:
    """The product a shopper points at in the last list shown: "the second one", "number 3",
    "the last one"; "it" / "that one" when the list had one product. None when unclear."""
    hits = [h for h in view.hits if h.get("product_id")]
    if not hits:
        return None
    index = ordinal_index(low, len(hits))
    if index is not None:
        return hits[index]["product_id"] if index < len(hits) else None
    if len(hits) == 1 and PRONOUN.search(low):
        return hits[0]["product_id"]
    return None


def ordinal_index(low: str, count: int) -> int | None:
    """The place in a list of `count` that the text points at ("the second one", "number 3",
    "the last one"), 0-based; None when it points at none (it may be past the end)."""
    match = ORDINAL.search(low)
    if not match:
        return None
    word, digit = match.groups()
    return count - 1 if word == "last" else (int(digit) - 1 if digit else ORDINALS[word])


def _mentions(text: str, name: str, last_word: bool = True) -> int:
    """Where `name` (or a plural, or with `last_word` its last word) is mentioned in text, else -1."""
    low = text.lower()
    name = name.lower()
    for candidate in (name, name + "s") + ((name.split()[-1],) if last_word else ()):
        at = low.rfind(candidate)
        if at >= 0:
            return at
    return -1


def _option_score(options: Dict, text: str) -> int:
    low = text.lower()
    return sum(1 for v in options.values() if re.search(r"(?<![\w])" + re.escape(str(v).lower()) + r"(?![\w])", low))


def find_items(order: Dict, text: str) -> list[str]:
    """Items of `order` the text refers to: by item id, else by product name and options."""
    items = order.get("items") or []
    ids = [i for i in ITEM_ID.findall(text) if any(it["item_id"] == i for it in items)]
    if ids:
        seen: list[str] = []
        for i in ids:
            if i not in seen:
                seen.append(i)
        return seen
    chosen = []
    by_name: dict[str, list[Dict]] = {}
    for item in items:
        by_name.setdefault(item["name"], []).append(item)
    for name, group in by_name.items():
        if _mentions(text, name) < 0:
            continue
        if len(group) == 1:
            chosen.append(group[0]["item_id"])
        else:
            scores = [(_option_score(i["options"], text), n) for n, i in enumerate(group)]
            best = max(s for s, _ in scores)
            chosen += [group[n]["item_id"] for s, n in scores if s == best]
    if not chosen and re.search(r"\b(all|every|everything|whole order)\b", text.lower()):
        chosen = [i["item_id"] for i in items]
    # In the order they were first mentioned (the agent's listing comes first in `text`).
    low = text.lower()
    names = {i["item_id"]: i["name"].lower() for i in items}
    return sorted(chosen, key=lambda iid: (low.find(names[iid]) if low.find(names[iid]) >= 0 else len(low)))


def find_swaps(view: ConversationView, order: Dict, text: str) -> tuple[list[str], list[str]] | None:
    """(old item ids, new item ids) for an exchange or modification."""
    variants = view.all_variants()
    ids = ITEM_ID.findall(text)
    order_items = {i["item_id"]: i for i in order.get("items") or []}
    pairs = [(a, b) for a, b in SWAP_PAIR.findall(text) if a in order_items and (b in variants or b == a)]
    if pairs:
        return [a for a, _ in pairs], [b for _, b in pairs]
    olds = [i for i in ids if i in order_items]
    news = [i for i in ids if i in variants and i not in order_items]
    if olds and len(olds) == len(news):
        return olds, news
    olds = find_items(order, text) if not olds else olds
    if not olds:
        return None
    new_ids = []
    for old_id in olds:
        old = order_items[old_id]
        product = view.products.get(old["product_id"])
        if product is None:
            return None
        candidates = [v for v in product["variants"].values() if v.get("available") and v["item_id"] != old_id]
        explicit = [v for v in candidates if v["item_id"] in ids]
        if explicit:
            new_ids.append(explicit[0]["item_id"])
            continue
        # Prefer the variant matching most mentioned values, then fewest changes from the old one.
        scored = [(_option_score(v["options"], text), -sum(old["options"].get(k) != x for k, x in v["options"].items()), v["item_id"]) for v in candidates]
        if not scored:
            return None
        best = max(scored)
        if best[0] == 0:
            return None
        new_ids.append(best[2])
    return olds, new_ids


# The words around what a shopper asks for ("what kind of ... do you have under $50?"): dropped
# from a search query that names no product of the store, so the lexical ranking reads the rest.
REQUEST_WORDS = re.compile(  # whole words only: the "over" of "over-ear" stays
    r"(?<![\w-])(do you (?:have|sell|carry|stock)|have you got|what (?:kind|sort|type)s? of|what|which|got|any|anything|something"
    r"|stuff|things|i'?m (?:looking for|shopping for)|looking (?:for|at)|i want to buy|i(?: would|'d) like|i need|need"
    r"|can i see|show me|search for|search|browse|is there|are there|in stock|options|your|please|about|and|the|a|an|some"
    r"|for|under|below|less than|up to|over|above|more than|at least|cheaper than|max(?:imum)?)(?![\w-])"
)


def product_query_arguments(text: str, product_names: list[str]) -> Dict:
    """search_products arguments from a shopper's request: the product named, price bounds."""
    low = text.lower()
    named = sorted((n for n in product_names if n.lower() in low or n.lower() + "s" in low), key=len, reverse=True)
    if named:
        query = named[0].lower()
    else:
        query = REQUEST_WORDS.sub(" ", low)
        query = re.sub(r"\$?\d+(\.\d+)?|[?!.,]", " ", query)
        query = " ".join(query.split())
    args: Dict = {"query": query}
    if m := PRICE_MAX.search(text):
        args["max_price"] = float(m.group(1))
    if m := PRICE_MIN.search(text):
        args["min_price"] = float(m.group(1))
    return args


# -- the filler ----------------------------------------------------------------------------------

def _next_order_to_fetch(view: ConversationView) -> str | None:
    for text in reversed(view.texts("user")[-3:]):
        for oid in view.mentioned_orders(text):
            if oid not in view.orders:
                return oid
    last_user = view.last_user
    mentioned = view.mentioned_orders(last_user)
    if mentioned:
        return mentioned[-1]
    for oid in (view.profile or {}).get("orders", []):
        if oid not in view.orders:
            return oid
    return None


def _next_product_to_fetch(view: ConversationView) -> str | None:
    text = view.recent_user_text(4) + "\n" + view.last_assistant
    order = view.current_order()
    if order is not None:
        wanted = find_items(order, text)
        items = {i["item_id"]: i for i in order.get("items", [])}
        for item_id in wanted:
            pid = items[item_id]["product_id"]
            if pid not in view.products:
                return pid
    low = view.last_user.lower()
    for name, pid in sorted(view.product_types.items(), key=lambda kv: -len(kv[0])):
        if name.lower() in low and pid not in view.products:
            return pid
    if order is not None:
        for item in order.get("items", []):
            if _mentions(text, item["name"]) >= 0 and item["product_id"] not in view.products:
                return item["product_id"]
    return None


def _action_text(view: ConversationView) -> str:
    """The agent's confirmation listing plus what the shopper said recently."""
    return view.last_assistant + "\n" + view.recent_user_text(4)


def _listed_order(view: ConversationView) -> Dict | None:
    for oid in reversed(view.mentioned_orders(view.last_assistant)):
        if oid in view.orders:
            return view.orders[oid]
    return view.current_order()


def fill_arguments(name: str, view: ConversationView) -> Dict | None:
    """Arguments for `name` copied from the conversation, or None when one is missing."""
    if name == "find_user_id_by_email":
        email = find_email(view)
        return {"email": email} if email else None
    if name == "find_user_id_by_name_zip":
        found = find_name_zip(view)
        return {"first_name": found[0], "last_name": found[1], "zip": found[2]} if found else None
    if name == "get_user_details":
        return {"user_id": view.user_id} if view.user_id else None
    if name == "get_order_details":
        oid = _next_order_to_fetch(view)
        return {"order_id": oid} if oid else None
    if name == "get_product_details":
        pid = _next_product_to_fetch(view)
        return {"product_id": pid} if pid else None
    if name == "list_all_product_types":
        return {}
    if name == "transfer_to_human_agents":
        topic = view.last_user.strip().replace("\n", " ")[:300]
        who = f"User {view.user_id}" if view.user_id else "An unverified user"
        return {"summary": f"{who} asked for help: {topic}"}
    if name == "search_policy":
        return {"query": view.last_user.strip()[:500]} if view.last_user.strip() else None
    if name == "search_products":
        names = list(view.product_types) or [h.get("name", "") for h in view.hits]
        return product_query_arguments(view.last_user, names)
    if name == "recommend_products":
        return {"user_id": view.user_id, "product_id": None, "k": 5}
    if name == "describe_product":
        low = view.last_user.lower()
        pool = [(h.get("name", ""), h.get("product_id")) for h in view.hits] + list(view.product_types.items())
        pool += [(p.get("name", ""), pid) for pid, p in view.products.items()]
        # A product named in full beats one whose last word only is mentioned: "the Desk Lamp"
        # is not the Standing Desk, although "desk" is in the text and that name is longer.
        ranked = sorted(pool, key=lambda kv: -len(kv[0] or ""))
        for whole_name in (True, False):
            for pname, pid in ranked:
                if pname and pid and _mentions(low, pname, last_word=not whole_name) >= 0:
                    return {"product_id": pid}
        pid = listed_product(view, low)
        return {"product_id": pid} if pid else None
    if name == "calculate":
        order = _listed_order(view)
        if order is None:
            return None
        swaps = find_swaps(view, order, _action_text(view))
        if not swaps:
            return None
        variants = view.all_variants()
        items = {i["item_id"]: i for i in order["items"]}
        prices = {**{iid: i["price"] for iid, i in items.items()}, **{iid: v["price"] for iid, (_p, v) in variants.items()}}
        if not all(n in prices and o in prices for o, n in zip(*swaps)):
            return None
        expr = " + ".join(f"{prices[n]} - {prices[o]}" for o, n in zip(*swaps))
        return {"expression": expr}
    if name == "modify_user_address":
        address = find_address(view.last_assistant) or find_address(view.recent_user_text(3))
        if not (address and view.user_id):
            return None
        return {"user_id": view.user_id, **address}
    order = _listed_order(view)
    if order is None:
        return None
    text = _action_text(view)
    oid = order["order_id"]
    if name == "cancel_pending_order":
        reason = find_reason(text)
        return {"order_id": oid, "reason": reason} if reason else None
    if name == "modify_pending_order_address":
        address = find_address(view.last_assistant) or find_address(view.recent_user_text(3))
        return {"order_id": oid, **address} if address else None
    if name == "modify_pending_order_payment":
        pm = find_payment_method(view, text, None)
        return {"order_id": oid, "payment_method_id": pm} if pm else None
    if name == "return_delivered_order_items":
        items = find_items(order, text)
        pm = find_payment_method(view, text, order)
        return {"order_id": oid, "item_ids": items, "payment_method_id": pm} if items and pm else None
    if name in ("exchange_delivered_order_items", "modify_pending_order_items"):
        swaps = find_swaps(view, order, text)
        pm = find_payment_method(view, text, order)
        if not swaps or not pm:
            return None
        return {"order_id": oid, "item_ids": swaps[0], "new_item_ids": swaps[1], "payment_method_id": pm}
    return None
