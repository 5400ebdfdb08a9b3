"""Build training transcripts for a store: goals -> simulated conversations -> train/dev JSONL.

Goals come from our own task generator over the store's real users and orders and, when the
data directory has them, from tau-bench's 500 training tasks (their gold write actions, played
over the tau-bench store). Around them: product questions (training/shopping.py, with WebShop's
crowd-written requests), policy questions, small talk, out-of-scope and unsupported requests, a
request for a person, and requests the order's status does not allow (the agent says why not).
Some conversations are re-worded as another agent would speak (training/agent_wording.py). The
split is by task (and user): no dev task appears in training. Everything is deterministic from
the seed.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from tqdm import tqdm

from bot.conversation import Command, ConversationView
from bot.store.data import StoreData
from training.agent_wording import reword
from training.multilingual import Foreign, pick_language
from training.phrasing import Phrasing
from training.scripted import Script
from training.shopping import Shopping, webshop_requests
from training.simulator import Conversation, Goal
from training.transcripts import Transcript

Dict = dict[str, Any]

POLICY_QUESTIONS = (
    "How long does a refund to my card take?",
    "can I cancel an order that already shipped?",
    "What's your return policy?",
    "how many times can I exchange items in an order",
    "Can I change the items in my order after I place it?",
    "if I pay with a gift card when do I get the refund",
    "Can I return something to a different payment method?",
    "do I need to place a new order for an exchange?",
    "what payment methods do you accept",
    "Can you help someone else with their order if I give you their details?",
    "what order statuses can be modified?",
    "Can I exchange a shirt for shoes?",
)
EXTRAS = ("policy", "shopping", "stock", "compare", "two", "recommend", "types", "smalltalk", "oos", "unsupported", "cannot")
BROWSE_SHARE = 0.3  # of conversations: a shopper browsing several products in a row
REWORDED_SHARE = 0.25  # of conversations: the agent's replies in another agent's words


@dataclass
class Task:
    task_id: str
    store: str  # key into the stores dict
    user_id: str
    goals: list[Goal]
    extras: list[str] = field(default_factory=list)
    human: bool = False
    source: str = "generator"


# -- goals -------------------------------------------------------------------------------------

def tau_bench_tasks(path: Path) -> list[Task]:
    tasks = []
    for n, raw in enumerate(json.loads(path.read_text(encoding="utf-8"))):
        try:
            goals = [Goal.from_action(a) for a in raw["actions"]]
        except KeyError:
            continue
        tasks.append(Task(f"tau-train-{n}", "tau-bench", raw["user_id"], goals, source="tau-bench tasks_train"))
    return tasks


def generated_goal(store: StoreData, user_id: str, rng: random.Random, used_orders: set[str]) -> Goal | None:
    user = store.users[user_id]
    orders = [store.orders[o] for o in user["orders"] if o in store.orders and o not in used_orders]
    rng.shuffle(orders)
    methods = list(user["payment_methods"])
    for order in orders:
        status = order["status"]
        if status == "pending":
            kind = rng.choice(("cancel", "cancel", "modify_items", "modify_address", "modify_payment", "status"))
        elif status == "delivered":
            kind = rng.choice(("return", "return", "exchange", "exchange", "status"))
        else:
            kind = "status"
        g = Goal(kind=kind, order_id=order["order_id"])
        if kind == "cancel":
            g.reason = rng.choice(("no longer needed", "ordered by mistake"))
        elif kind == "return":
            items = rng.sample(order["items"], rng.randint(1, min(3, len(order["items"]))))
            g.item_ids = [i["item_id"] for i in items]
            original = order["payment_history"][0]["payment_method_id"]
            cards = [m for m in methods if m.startswith("gift_card")]
            g.payment_method_id = rng.choice([original] + cards) if original in user["payment_methods"] else (cards or methods)[0]
        elif kind in ("exchange", "modify_items"):
            for item in rng.sample(order["items"], len(order["items"])):
                product = store.products.get(item["product_id"])
                if product is None:
                    continue
                options = [v["item_id"] for v in product["variants"].values() if v["available"] and v["item_id"] != item["item_id"]]
                if options and item["item_id"] not in g.item_ids:
                    g.item_ids.append(item["item_id"])
                    g.new_item_ids.append(rng.choice(options))
                if len(g.item_ids) >= rng.randint(1, 2):
                    break
            if not g.item_ids:
                continue
            g.payment_method_id = rng.choice(methods)
        elif kind == "modify_address":
            other = store.users[rng.choice(list(store.users))]["address"]
            g.address = {k: other[k] for k in ("address1", "address2", "city", "state", "country", "zip")}
        elif kind == "modify_payment":
            current = order["payment_history"][0]["payment_method_id"]
            others = [m for m in methods if m != current and not m.startswith("gift_card")]
            if not others or len(order["payment_history"]) > 1:
                continue
            g.payment_method_id = rng.choice(others)
        used_orders.add(order["order_id"])
        return g
    return None


def generated_tasks(store_name: str, store: StoreData, n: int, rng: random.Random, prefix: str) -> list[Task]:
    users = sorted(store.users)
    tasks = []
    for k in range(n):
        user_id = rng.choice(users)
        used: set[str] = set()
        goals = []
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            g = generated_goal(store, user_id, rng, used)
            if g is not None:
                goals.append(g)
        r = rng.random()
        if r < 0.06:
            goals.append(Goal(kind="balance"))
        elif r < 0.1:
            other = store.users[rng.choice(users)]["address"]
            goals.append(Goal(kind="user_address", address={k2: other[k2] for k2 in ("address1", "address2", "city", "state", "country", "zip")}))
        extras = rng.sample(EXTRAS, rng.choice((0, 0, 1, 1, 2)))
        tasks.append(Task(f"{prefix}-{k}", store_name, user_id, goals, extras, human=rng.random() < 0.08))
    return tasks


# -- one conversation ------------------------------------------------------------------------------

class Builder:
    def __init__(self, stores: dict[str, StoreData], phr: Phrasing, policy_search: Callable[[str], list[Dict]] | None, webshop: list[tuple[str, str, float | None]]) -> None:
        self.stores = stores
        self.phr = phr
        self.policy_search = policy_search
        self.webshop = webshop

    def conversation(self, task: Task, rng: random.Random, opening: str | None = None) -> Transcript:
        """One conversation for the task. `opening`: the shopper's first request in someone
        else's words (a dev set's), instead of ours."""
        store = self.stores[task.store]
        conv = Conversation(store, rng, self.phr, self.policy_search)
        # A share of our own tasks is played in another language, from a generator of its own
        # (the English conversations are the same with or without these).
        lang = pick_language(random.Random(f"language-{task.task_id}")) if task.source == "generator" and opening is None else "en"
        if lang != "en":
            Foreign(conv, lang, rng).conversation(task.user_id)
            return Transcript(id=task.task_id, messages=conv.messages)
        s = Script(conv, task.user_id)
        for goal in task.goals:
            goal.extra.pop("pm_in_request", None)  # drawn afresh in every conversation
        pre = [e for e in task.extras if rng.random() < 0.5]
        post = [e for e in task.extras if e not in pre]
        if rng.random() < 0.2:
            conv.user(self.phr.greeting(), raw=True)
            conv.reply("greet")
        for extra in pre:
            self.extra(s, extra)
        # The browsing turns draw from their own generator, seeded from this conversation's state
        # without drawing from it: the rest of the conversation is the same with or without them.
        browsing = random.Random(repr(rng.getstate()))
        browse = browsing.random() < BROWSE_SHARE
        if browse and browsing.random() < 0.5:
            self.browse(s, browsing)
            browse = False
        method = rng.choice(("email", "name_zip"))
        for n, goal in enumerate(task.goals):
            with_order = rng.random() < 0.7
            with_details = rng.random() < 0.55
            if n == 0 and opening:  # what the opening says decides what the agent must still ask
                with_order, with_details = bool(goal.order_id and goal.order_id in opening), False
            text = opening if n == 0 and opening else self.phr.finish(s.request_text(goal, with_order, with_details))
            if n == 0:
                early_auth = rng.random() < 0.35
                if early_auth:  # details given before they are asked for (never misspelt)
                    text = text + " " + s.auth_phrase(method)
                conv.user(text, raw=True)
                s.authenticate(method, early_auth)
            else:
                conv.user(text)
            s.run_goal(goal, n == 0, with_order, with_details)
        for extra in post:
            self.extra(s, extra)
        if browse:
            self.browse(s, browsing)
        if task.human:
            conv.user(self.phr.human(), raw=True)
            transfer(conv, s.user_id if s.authed else None)
        elif conv.messages and rng.random() < 0.7:
            conv.user(self.phr.thanks(), raw=True)
            conv.reply("goodbye")
        if rng.random() < REWORDED_SHARE:
            reworded(conv.messages, rng)
        return Transcript(id=task.task_id, messages=conv.messages)

    def browse(self, s: Script, rng: random.Random) -> None:
        """Two to five product questions in a row."""
        c = s.c
        saved, c.rng = c.rng, rng  # the conversation's own draws stay as they were without these turns
        try:
            Shopping(c, rng, self.webshop).browse(rng.randint(2, 5), POLICY_QUESTIONS)
        finally:
            c.rng = saved

    def extra(self, s: Script, kind: str) -> None:
        c, rng = s.c, s.rng
        shop = Shopping(c, rng, self.webshop)
        if kind == "policy":
            c.user(rng.choice(POLICY_QUESTIONS))
            c.call("search_policy", {"query": c.messages[-1]["content"]})
            c.reply("answer")
        elif kind == "shopping":
            shop.request()
            for _ in range(rng.choice((0, 1, 1, 2))):
                shop.follow_up()
        elif kind == "stock":
            shop.stock_question()
        elif kind == "compare":
            shop.compare()
        elif kind == "two":
            shop.two_requests(rng.choice(POLICY_QUESTIONS))
        elif kind == "recommend":
            c.user(rng.choice(("what would you recommend?", "any suggestions for a gift?", "Can you recommend something for me?")), raw=True)
            c.call("recommend_products", {"user_id": s.user_id, "k": 5} if s.authed else {"k": 5})
            c.reply("answer")
        elif kind == "types":
            c.user(rng.choice(("what kind of products do you sell?", "What do you carry?", "list your product types")), raw=True)
            c.call("list_all_product_types", {})
            c.reply("answer")
        elif kind == "smalltalk":
            c.user(self.phr.smalltalk(), raw=True)
            c.reply("small_talk")
        elif kind == "oos":
            c.user(self.phr.out_of_scope(), raw=True)
            c.reply("out_of_scope")
        elif kind == "unsupported":
            c.user(self.phr.unsupported(), raw=True)
            transfer(c, s.user_id if s.authed else None)
        elif kind == "cannot" and s.authed:
            s.impossible_request()


def transfer(c: Conversation, user_id: str | None) -> None:
    """The agent hands the conversation to a person; the summary is the shopper's request in
    their own words (the agent sees who they are beside it)."""
    c.call("transfer_to_human_agents", {"summary": str(c.messages[-1]["content"])})
    c.reply("answer")


def reworded(messages: list[Dict], rng: random.Random, share: float = 0.8) -> None:
    """The agent's replies in another agent's words: each becomes `reply say` in the model's view
    (an imported transcript's replies carry no act) and is not a target itself, except for the
    step's verb (a reply, not a tool call)."""
    for n, m in enumerate(messages):
        act = m.get("act")
        if m.get("role") != "assistant" or not isinstance(act, dict):
            continue
        command = Command(act["verb"], act["name"], act.get("arguments") or {})
        text = reword(ConversationView.parse(messages[:n]), command, rng) if rng.random() < share else None
        if text:
            m["content"] = text
        m["act"] = {"verb": "reply", "name": "say", "arguments": {}}
        m["train"] = "verb"


# -- the whole build -------------------------------------------------------------------------------

@dataclass
class BuildResult:
    train: list[Transcript]
    dev: list[Transcript]
    sources: list[str]


def build(
    stores: dict[str, StoreData],
    *,
    seed: int = 0,
    tau_tasks: Path | None = None,
    data_dir: Path | None = None,
    n_generated: int = 600,
    tau_repeats: int = 2,
    dev_fraction: float = 0.12,
    policy_search: Callable[[str], list[Dict]] | None = None,
    progress: bool = True,
) -> BuildResult:
    rng = random.Random(seed)
    phr = Phrasing(random.Random(seed + 1), data_dir)
    sources = list(phr.sources)
    tasks: list[Task] = []
    if tau_tasks is not None and tau_tasks.is_file() and "tau-bench" in stores:
        tau = tau_bench_tasks(tau_tasks)
        for t in tau:
            t.extras = rng.sample(EXTRAS, rng.choice((0, 0, 1)))
            t.human = rng.random() < 0.04
        tasks += tau
        sources.append("tau-bench retail tasks_train.json (gold actions)")
    for name, store in stores.items():
        tasks += generated_tasks(name, store, n_generated // len(stores), rng, f"gen-{name}")
    # Split by task and by user: a dev user never appears in training.
    users = sorted({(t.store, t.user_id) for t in tasks})
    rng.shuffle(users)
    dev_users = set(users[: max(1, int(len(users) * dev_fraction))])
    webshop = webshop_requests(data_dir)
    if webshop:
        sources.append("WebShop crowd-written product requests with human search queries (goal_query_map.json)")
    builder = Builder(stores, phr, policy_search, webshop)
    train, dev = [], []
    for task in tqdm(tasks, desc="simulating conversations", disable=not progress):
        is_dev = (task.store, task.user_id) in dev_users
        repeats = 1 if is_dev or task.source == "generator" else tau_repeats
        for r in range(repeats):
            transcript = builder.conversation(task, random.Random(f"{seed}-{task.task_id}-{r}"))
            transcript.id = f"{task.task_id}-{r}"
            (dev if is_dev else train).append(transcript)
    return BuildResult(train, dev, sources)
