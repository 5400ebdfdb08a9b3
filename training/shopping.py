"""Simulated shoppers browsing the catalog: requests with budgets, ranges, options and stock, then
follow-ups on what was shown ("cheaper?", "in blue?", "which of those are under $70?", "the second
one", "how much is it?", "what colours does it come in?", "is it in stock?", comparisons) and two
requests in one message.

The search arguments are the targets the model learns: the product as the shopper named it (or, for
WebShop's crowd-written requests, the search query a person wrote for it), each constraint in its
own argument. The wording of the requests is ours, WebShop's (read from the data directory at build
time) and, for follow-ups, ours.
"""
from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from training.simulator import Conversation

Dict = dict[str, Any]

COLORS = ("black", "white", "blue", "red", "green", "grey", "navy", "pink", "silver", "brown")
# How shoppers put a price limit: (template, which bounds it sets). {lo} < {hi}.
BUDGETS = (
    (" under ${hi}", "max"), (" below ${hi}", "max"), (" for less than ${hi}", "max"), (" up to ${hi}", "max"),
    (", budget {hi} bucks", "max"), (" - my budget is ${hi}", "max"), (" no more than {hi} dollars", "max"),
    (" under {hi}", "max"), (" max ${hi}", "max"), (", I can spend about ${hi} at most", "max"), (" cheaper than ${hi}", "max"),
    (" between {lo} and {hi} dollars", "range"), (" from ${lo} to ${hi}", "range"), (" in the ${lo}-${hi} range", "range"),
    (" between ${lo} and ${hi}", "range"), (" over ${lo}", "min"), (" above {lo} dollars", "min"), (" at least ${lo}", "min"),
)
REQUESTS = (
    "do you have any {q}{c}?", "I'm looking for a {q}{c}", "show me {qs}{c}", "show me the {q}", "search for {q}{c}",
    "got any {qs}{c}?", "can I see your {qs}{c}", "I want to buy a {q}{c}", "need a {q}{c}", "{q}{c}?", "{qs}{c} please",
    "what {qs} do you have{c}?", "I'd like a {q}{c}", "any good {qs}{c}?", "looking for {qs}{c}", "do you sell {qs}{c}",
    "hi! I need a {q}{c}", "can you find me a {q}{c}", "recommend a {q}{c}", "i need {qs}{c} for my son",
)
CHEAPEST = ("what's your cheapest {q}?", "the least expensive {q} you have", "cheapest {qs} please", "show me {qs}, cheapest first")
STOCK_Q = ("is the {n} in stock?", "do you have the {n} in stock right now?", "is the {n} available?", "{n} - in stock?")
FOLLOW_CHEAPER = ("anything cheaper?", "cheaper?", "got something less expensive?", "too pricey, anything cheaper", "do you have a cheaper one?")
FOLLOW_COLOR = ("any of those in {c}?", "do you have it in {c}?", "in {c}?", "what about in {c}", "does one come in {c}?")
FOLLOW_UNDER = ("which of those are under ${p}?", "any of them below ${p}?", "only the ones under {p} dollars please", "those under ${p}?")
FOLLOW_MORE = ("tell me more about the {o} one", "what's the {o} one like?", "more details on the {o} please", "what about number {k}?", "the {o} one sounds good, tell me more")
FOLLOW_MORE_NAMED = ("tell me more about the {n}", "What's the {n} like?", "more details on the {n} please")
FOLLOW_PRICE = ("how much is it?", "what does it cost?", "and the price?", "how much is the {o} one?", "price of the {n}?")
FOLLOW_OPTIONS = ("what colors does it come in?", "which sizes does it have?", "what options are there for the {n}?", "what colours is the {o} one available in?", "does it come in other colors?")
FOLLOW_STOCK = ("is it in stock?", "is the {o} one available?", "can I get it now, is it in stock?")
COMPARE = ("compare the {a} and the {b}", "what's the difference between the {a} and the {b}?", "{a} or {b}, which is better?", "how does the {a} compare to the {b}?")
POLICY_AND_PRODUCT = ("{p} also, do you sell {qs}?", "{p} And do you have any {qs}?", "quick one: {p} plus, I'm looking for a {q}")
TWO_PRODUCTS = ("do you have {as_} and {bs}?", "I need a {a} and a {b}", "show me {as_} and also {bs}")
ORDINALS = ("first", "second", "third")


def plural(name: str) -> str:
    if name.endswith("s"):
        return name
    return name + ("es" if name.endswith(("x", "ch", "sh")) else "s")


def webshop_requests(data_dir: Path | None, split: str = "train") -> list[tuple[str, str, float | None]]:
    """(request, a person's search query for it, the price limit it states) from WebShop; one
    request in five is kept for the dev sets (`split="dev"`)."""
    from training.phrasing import held_out

    if data_dir is None:
        return []
    path = data_dir / "webshop-goals" / "goal_query_map.json"
    if not path.is_file():
        return []
    out = []
    for request, queries in json.loads(path.read_text(encoding="utf-8")).items():
        if not queries or not request.strip() or held_out(request) != (split == "dev"):
            continue
        limit = re.search(r"price lower than (\d+(?:\.\d+)?) dollars", request)
        query = re.sub(r"\s+", " ", str(queries[0])).strip()
        if query:
            out.append((request.strip(), query, float(limit.group(1)) if limit else None))
    return out


class Shopping:
    """Plays a shopper's product questions against the agent (one conversation)."""

    def __init__(self, c: Conversation, rng: random.Random, webshop: list[tuple[str, str, float | None]]) -> None:
        self.c = c
        self.rng = rng
        self.webshop = webshop
        self.shown: list[Dict] = []  # the hits the agent listed last
        self.query: str = ""
        self.focus: Dict | None = None  # the product under discussion

    @property
    def names(self) -> list[str]:
        return sorted({p["name"] for p in self.c.store.products.values()})

    def _search(self, text: str, args: Dict) -> list[Dict]:
        self.c.user(text, raw=True)
        value = json.loads(self.c.call("search_products", args))
        self.c.reply("answer")
        hits = value.get("hits", [])
        self.query = args["query"]
        if hits:
            self.shown = hits
            self.focus = hits[0] if len(hits) == 1 else None
        return hits

    # -- a first request -------------------------------------------------------------------------
    def request(self) -> None:
        rng = self.rng
        if self.webshop and rng.random() < 0.2:
            request, query, limit = rng.choice(self.webshop)
            args: Dict = {"query": query}
            if limit is not None:
                args["max_price"] = limit
            self._search(request, args)
            return
        name = rng.choice(self.names).lower()
        roll = rng.random()
        args = {"query": name}
        if roll < 0.1:
            self._search(rng.choice(CHEAPEST).format(q=name, qs=plural(name)), {**args, "sort": "price_asc"})
            return
        tail = ""
        if roll < 0.55:
            tail, bounds = self._budget()
            args.update(bounds)
        elif roll < 0.65:
            color = rng.choice(COLORS)
            tail = rng.choice((f" in {color}", f", {color} if possible", f" - a {color} one"))
            args["options"] = {"color": color}
        elif roll < 0.72:
            tail = rng.choice((" in stock", " that's available now", ", in stock only"))
            args["in_stock_only"] = True
        text = rng.choice(REQUESTS).format(q=name, qs=plural(name), c=tail)
        self._search(text, args)

    def _budget(self) -> tuple[str, Dict]:
        rng = self.rng
        template, kind = rng.choice(BUDGETS)
        lo = rng.choice((20, 25, 30, 40, 50, 75, 100, 150))
        hi = lo + rng.choice((30, 50, 100, 150, 200, 400))
        text = template.format(lo=lo, hi=hi)
        bounds: Dict = {}
        if kind in ("max", "range"):
            bounds["max_price"] = hi
        if kind in ("min", "range"):
            bounds["min_price"] = lo
        return text, bounds

    # -- a follow-up on what was shown -------------------------------------------------------------
    def follow_up(self) -> None:
        rng, c = self.rng, self.c
        if not self.shown:
            return
        roll = rng.random()
        prices = [h["price"] for h in self.shown if isinstance(h.get("price"), (int, float))]
        ids = [h["id"] for h in self.shown]
        if roll < 0.16 and prices:
            self._search(rng.choice(FOLLOW_CHEAPER), {"query": self.query, "max_price": min(prices), "sort": "price_asc"})
        elif roll < 0.28 and len(ids) > 1:
            color = rng.choice(COLORS)
            self._search(rng.choice(FOLLOW_COLOR).format(c=color), {"query": self.query, "options": {"color": color}, "product_ids": ids})
        elif roll < 0.38 and len(ids) > 1 and prices:
            limit = round(sorted(prices)[len(prices) // 2] + 1)
            self._search(rng.choice(FOLLOW_UNDER).format(p=limit), {"query": self.query, "max_price": limit, "product_ids": ids})
        elif roll < 0.58:
            self._more()
        else:
            self._about(rng.choice(("price", "options", "stock")))

    def _pick(self) -> tuple[Dict, str]:
        """A shown product and how the shopper points at it: by place, by name, or "it"."""
        rng = self.rng
        if self.focus is not None and rng.random() < 0.6:
            return self.focus, "it"
        index = rng.randrange(min(len(self.shown), 3))
        return self.shown[index], ORDINALS[index] if len(self.shown) > 1 and rng.random() < 0.6 else "name"

    def _more(self) -> None:
        rng, c = self.rng, self.c
        hit, how = self._pick()
        if how == "it":
            text = rng.choice(("tell me more about it", "What's it like?", "more details on that one please"))
        elif how == "name":
            text = rng.choice(FOLLOW_MORE_NAMED).format(n=hit["name"].lower())
        else:
            text = rng.choice(FOLLOW_MORE).format(o=how, k=ORDINALS.index(how) + 1)
        c.user(text, raw=True)
        c.call("describe_product", {"product_id": hit["id"]})
        c.reply("answer")
        self.focus = hit

    def _about(self, about: str) -> None:
        rng, c = self.rng, self.c
        hit, how = self._pick()
        pool = {"price": FOLLOW_PRICE, "options": FOLLOW_OPTIONS, "stock": FOLLOW_STOCK}[about]
        if how == "it":
            choices = [t for t in pool if "{" not in t]
        elif how == "name":
            choices = [t for t in pool if "{n}" in t] or [t for t in pool if "{" not in t]
        else:
            choices = [t for t in pool if "{o}" in t] or [t for t in pool if "{" not in t]
        text = rng.choice(choices).format(o=how, n=hit["name"].lower())
        c.user(text, raw=True)
        if hit["id"] in self.c.store.products and rng.random() < 0.5:
            c.call("get_product_details", {"product_id": hit["id"]})
        c.reply("product", product_id=hit["id"], about=about)
        self.focus = hit

    # -- questions that name the product -----------------------------------------------------------
    def stock_question(self) -> None:
        """"is the standing desk in stock?": find it, then answer from its variants."""
        rng, c = self.rng, self.c
        name = rng.choice(self.names)
        c.user(rng.choice(STOCK_Q).format(n=name.lower()), raw=True)
        value = json.loads(c.call("search_products", {"query": name.lower()}))
        hits = value.get("hits", [])
        if not hits:
            c.reply("answer")
            return
        c.reply("product", product_id=hits[0]["id"], about="stock")
        self.shown, self.focus, self.query = hits, hits[0], name.lower()

    def compare(self) -> None:
        rng, c = self.rng, self.c
        a, b = rng.sample(self.names, 2)
        c.user(rng.choice(COMPARE).format(a=a.lower(), b=b.lower()), raw=True)
        found = []
        for name in (a, b):
            hits = json.loads(c.call("search_products", {"query": name.lower()})).get("hits", [])
            if hits:
                found.append(hits[0])
        if len(found) == 2:
            c.reply("compare", product_ids=[found[0]["id"], found[1]["id"]])
            self.shown, self.focus = found, None
        else:
            c.reply("answer")

    def two_requests(self, policy_question: str | None) -> None:
        """Two things in one message, handled in turn, answered together."""
        rng, c = self.rng, self.c
        name = rng.choice(self.names).lower()
        if policy_question and rng.random() < 0.5:
            c.user(rng.choice(POLICY_AND_PRODUCT).format(p=policy_question, q=name, qs=plural(name)), raw=True)
            c.call("search_policy", {"query": policy_question})
            c.call("search_products", {"query": name})
        else:
            other = rng.choice([n for n in self.names if n.lower() != name]).lower()
            c.user(rng.choice(TWO_PRODUCTS).format(a=name, b=other, as_=plural(name), bs=plural(other)), raw=True)
            c.call("search_products", {"query": name})
            c.call("search_products", {"query": other})
        c.reply("answer")
        self.shown, self.focus = [], None

    def browse(self, turns: int, policy_questions: tuple[str, ...]) -> None:
        """A browsing session: requests and follow-ups in a natural order."""
        rng = self.rng
        self.request()
        for _ in range(turns - 1):
            roll = rng.random()
            if roll < 0.5:
                self.follow_up()
            elif roll < 0.65:
                self.stock_question()
            elif roll < 0.75:
                self.compare()
            elif roll < 0.85:
                self.two_requests(rng.choice(policy_questions))
            else:
                self.request()
