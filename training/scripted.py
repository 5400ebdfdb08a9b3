"""The scripted agent and shopper: one conversation per list of goals (see training/simulator.py).

Variation is drawn from the rng: how the shopper authenticates (email or name + zip, wrong
details first), whether the order id, items, reason or payment method come with the request or
only when asked, whether the agent scans the shopper's orders to find an item, price-difference
calculations, a declined confirmation, and extra turns (small talk, policy questions, product
search, a request for a human, out-of-scope questions).
"""
from __future__ import annotations

import json
import random
from typing import Any

from training.phrasing import Phrasing, options_phrase
from training.simulator import Conversation, Goal

Dict = dict[str, Any]

PURPOSE = {
    "cancel": "cancel",
    "return": "return items from",
    "exchange": "exchange items from",
    "modify_items": "modify",
    "modify_address": "change the address of",
    "modify_payment": "change the payment of",
    "status": "check",
}


def _pm_phrase(method: Dict, rng: random.Random) -> str:
    source = method.get("source")
    if source == "credit_card":
        return rng.choice((f"my credit card ending in {method.get('last_four')}", f"the {method.get('brand')} card", "my credit card", f"card ending {method.get('last_four')}"))
    if source == "gift_card":
        return rng.choice(("my gift card", "the gift card", "gift card please"))
    return rng.choice(("paypal", "my PayPal account", "PayPal please"))


def _item_phrase(item: Dict, rng: random.Random, with_options: bool | None = None) -> str:
    with_options = rng.random() < 0.4 if with_options is None else with_options
    name = item["name"].lower() if rng.random() < 0.6 else item["name"]
    if with_options:
        return f"{name} ({options_phrase(item['options'], rng)})"
    return name


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _address_phrase(address: Dict) -> str:
    line2 = f", {address['address2']}" if address.get("address2") else ""
    return f"{address['address1']}{line2}, {address['city']}, {address['state']} {address['zip']}, {address['country']}"


class Script:
    """Plays both parts of one conversation for a given user and goals."""

    def __init__(self, conv: Conversation, user_id: str) -> None:
        self.c = conv
        self.rng = conv.rng
        self.phr: Phrasing = conv.phr
        self.user_id = user_id
        self.authed = False
        self.profile: Dict | None = None
        self.seen_orders: set[str] = set()
        self.seen_products: set[str] = set()

    # -- helpers ---------------------------------------------------------------------------------
    @property
    def u(self) -> Dict:
        return self.c.store.users[self.user_id]

    def auth_phrase(self, method: str) -> str:
        if method == "email":
            return self.phr.email(self.u["email"])
        n = self.u["name"]
        return self.phr.name_zip(n["first_name"], n["last_name"], self.u["address"]["zip"])

    def authenticate(self, method: str, given_in_opening: bool) -> None:
        """The agent locates the user id (retrying after a miss), then reads the profile."""
        if not given_in_opening:
            self.c.reply("ask_auth")
            if self.rng.random() < 0.12:  # wrong details first
                if method == "email":
                    bad = self.phr.wrong_email(self.u["email"])
                    self.c.user(self.phr.email(bad), raw=True)
                    self.c.call("find_user_id_by_email", {"email": bad})
                else:
                    n = self.u["name"]
                    bad_zip = str((int(self.u["address"]["zip"]) + self.rng.randint(1, 9)) % 100000).zfill(5)
                    self.c.user(self.phr.name_zip(n["first_name"], n["last_name"], bad_zip), raw=True)
                    self.c.call("find_user_id_by_name_zip", {"first_name": n["first_name"], "last_name": n["last_name"], "zip": bad_zip})
                self.c.reply("answer")
                if self.rng.random() < 0.5:
                    method = "name_zip" if method == "email" else "email"
            self.c.user(self.auth_phrase(method), raw=True)
        if method == "email":
            self.c.call("find_user_id_by_email", {"email": self.u["email"]})
        else:
            n = self.u["name"]
            self.c.call("find_user_id_by_name_zip", {"first_name": n["first_name"], "last_name": n["last_name"], "zip": self.u["address"]["zip"]})
        self.profile = json.loads(self.c.call("get_user_details", {"user_id": self.user_id}))
        self.authed = True

    def fetch_order(self, order_id: str) -> Dict:
        self.seen_orders.add(order_id)
        return json.loads(self.c.call("get_order_details", {"order_id": order_id}))

    def method(self, pm_id: str) -> Dict:
        return self.profile["payment_methods"][pm_id]

    # -- the request -----------------------------------------------------------------------------
    def request_text(self, g: Goal, with_order: bool, with_details: bool) -> str:
        """The shopper's wording of a goal."""
        rng = self.rng
        order = self.c.order(g.order_id) if g.order_id else None
        items = [next(i for i in order["items"] if i["item_id"] == iid) for iid in g.item_ids] if order else []
        ref = f"order {g.order_id}" if with_order else rng.choice(("my order", "an order", "one of my orders"))
        if g.kind == "cancel":
            text = rng.choice((f"I want to cancel {ref}.", f"please cancel {ref}", f"Can you cancel {ref} for me?", f"i need to cancel {ref}"))
            if with_details:
                text += " " + rng.choice((f"Reason: {g.reason}.", f"It's {g.reason}.", "I " + ("ordered it by mistake." if g.reason == "ordered by mistake" else "no longer need it.")))
            return text
        if g.kind in ("return", "exchange", "modify_items"):
            if g.kind == "return":
                names = _join([_item_phrase(i, rng) for i in items]) if with_details or not with_order else "some items"
                text = rng.choice((f"I'd like to return the {names} from {ref}.", f"I want to return {names} ({ref}).", f"return request: {names}, {ref}"))
                if with_details and g.payment_method_id:
                    text += " " + rng.choice(("Refund to ", "Please refund ", "Money back to ")) + _pm_phrase(self.u["payment_methods"][g.payment_method_id], rng) + "."
                return text
            verb = "exchange" if g.kind == "exchange" else rng.choice(("change", "modify", "switch"))
            parts = []
            for old_id, new_id in zip(g.item_ids, g.new_item_ids):
                old = next(i for i in order["items"] if i["item_id"] == old_id)
                new = self.c.variant(new_id)
                changed = {k: v for k, v in new["options"].items() if old["options"].get(k) != v} or new["options"]
                if with_details:
                    parts.append(f"the {_item_phrase(old, rng)} for the {options_phrase(changed, rng)} one")
                else:
                    parts.append(f"the {_item_phrase(old, rng, False)}")
            text = f"I want to {verb} " + _join(parts) + f" in {ref}."
            if with_details and g.payment_method_id and g.extra.setdefault("pm_in_request", rng.random() < 0.5):
                text += " Use " + _pm_phrase(self.u["payment_methods"][g.payment_method_id], rng) + " for any difference."
            return text
        if g.kind == "modify_address":
            text = rng.choice((f"I need to change the shipping address of {ref}.", f"Can you update the delivery address on {ref}?"))
            if with_details:
                text += " The new address is " + _address_phrase(g.address) + "."
            return text
        if g.kind == "modify_payment":
            text = rng.choice((f"I want to change the payment method for {ref}.", f"Can I pay for {ref} with a different method?"))
            if with_details:
                text += " Use " + _pm_phrase(self.u["payment_methods"][g.payment_method_id], rng) + " instead."
            return text
        if g.kind == "status":
            return rng.choice((f"What's the status of {ref}?", f"where is {ref}?", f"Has {ref} shipped yet?", f"can you check on {ref}"))
        if g.kind == "user_address":
            text = rng.choice(("I moved and need to update my default address.", "Please change the address on my account."))
            if with_details:
                text += " It's now " + _address_phrase(g.address) + "."
            return text
        if g.kind == "balance":
            return rng.choice(("How much is left on my gift card?", "what's my gift card balance", "Can you tell me my gift card balance?"))
        raise ValueError(g.kind)

    # -- one goal --------------------------------------------------------------------------------
    def run_goal(self, g: Goal, opening: bool, with_order: bool, with_details: bool) -> None:
        rng, c = self.rng, self.c
        if g.kind == "balance":
            c.reply("balance")
            return
        if g.kind == "user_address":
            if not with_details:
                c.reply("ask_address", purpose="account")
                c.user(_address_phrase(g.address))
            c.confirm("modify_user_address", {"user_id": self.user_id, **g.address})
            c.user(self.phr.yes(), raw=True)
            c.call("modify_user_address", {"user_id": self.user_id, **g.address})
            c.reply("answer")
            return
        # find the order
        if not with_order:
            items_known = g.kind in ("return", "exchange", "modify_items") and with_details
            if items_known and len(self.profile["orders"]) <= 5:
                order = None
                for oid in self.profile["orders"]:
                    if oid in self.seen_orders and oid != g.order_id:
                        continue
                    found = self.fetch_order(oid)
                    if oid == g.order_id:
                        order = found
                        break
            else:
                c.reply("ask_order", purpose=g.kind)
                c.user(rng.choice(("it's {o}", "{o}", "The order id is {o}.", "order {o}", "I think it's {o}")).format(o=g.order_id), raw=True)
                order = self.fetch_order(g.order_id)
        else:
            order = self.fetch_order(g.order_id)
        if g.kind == "status":
            c.reply("answer")
            return
        if g.kind == "cancel":
            if not with_details:
                c.reply("ask_reason", order_id=g.order_id)
                c.user(rng.choice(("{r}", "it's {r}", "I guess {r}", "Reason is {r}.")).format(r=g.reason))
            self.confirm_and_act("cancel_pending_order", {"order_id": g.order_id, "reason": g.reason})
            return
        if g.kind == "modify_address":
            if not with_details:
                c.reply("ask_address", purpose="order")
                c.user(_address_phrase(g.address))
            self.confirm_and_act("modify_pending_order_address", {"order_id": g.order_id, **g.address})
            return
        if g.kind == "modify_payment":
            if not with_details:
                c.reply("ask_payment", purpose="order")
                c.user(_pm_phrase(self.u["payment_methods"][g.payment_method_id], rng))
            self.confirm_and_act("modify_pending_order_payment", {"order_id": g.order_id, "payment_method_id": g.payment_method_id})
            return
        items = [next(i for i in order["items"] if i["item_id"] == iid) for iid in g.item_ids]
        if g.kind == "return":
            if not with_details:
                c.reply("ask_items", order_id=g.order_id, purpose="return")
                c.user(_join([_item_phrase(i, rng) for i in items]))
                c.reply("ask_payment", purpose="refund")
                c.user(_pm_phrase(self.u["payment_methods"][g.payment_method_id], rng))
            self.confirm_and_act("return_delivered_order_items", {"order_id": g.order_id, "item_ids": g.item_ids, "payment_method_id": g.payment_method_id})
            return
        # exchange / modify items: look at each product's variants
        for old in items:  # in the order the shopper named them
            if old["product_id"] not in self.seen_products:
                self.seen_products.add(old["product_id"])
                c.call("get_product_details", {"product_id": old["product_id"]})
        if not with_details:
            for old, new_id in zip(items, g.new_item_ids):
                c.reply("list_variants", order_id=g.order_id, item_id=old["item_id"])
                new = self.c.variant(new_id)
                c.user(rng.choice(("the {o} one", "{o} please", "I'd like {o}", "item {i}")).format(o=options_phrase(new["options"], rng), i=new_id), raw=False)
        pm_said = with_details and g.extra.setdefault("pm_in_request", rng.random() < 0.5)
        if not pm_said:
            c.reply("ask_payment", purpose="difference")
            c.user(_pm_phrase(self.u["payment_methods"][g.payment_method_id], rng))
        if g.payment_method_id.startswith("gift_card"):  # check the card covers the difference
            pairs = [(old, self.c.variant(new_id)) for old, new_id in zip(items, g.new_item_ids)]
            c.call("calculate", {"expression": " + ".join(f"{n['price']} - {o['price']}" for o, n in pairs)})
        name = "exchange_delivered_order_items" if g.kind == "exchange" else "modify_pending_order_items"
        self.confirm_and_act(name, {"order_id": g.order_id, "item_ids": g.item_ids, "new_item_ids": g.new_item_ids, "payment_method_id": g.payment_method_id})

    def confirm_and_act(self, name: str, arguments: Dict) -> None:
        c, rng = self.c, self.rng
        c.confirm(name, arguments)
        if rng.random() < 0.06:
            c.user(self.phr.no(), raw=True)
            c.reply("declined")
            c.user(rng.choice(("ok actually go ahead", "Sorry, yes, do it.", "fine, yes")), raw=True)
            c.confirm(name, arguments)
        c.user(self.phr.yes(), raw=True)
        c.call(name, arguments)
        c.reply("answer")

    def impossible_request(self) -> None:
        """The shopper asks for something the order's status does not allow (cancel a delivered
        order, return a pending one): the agent looks at the order and says why not."""
        rng, c = self.rng, self.c
        wrong = {"delivered": ("cancel", "modify_items"), "pending": ("return", "exchange"), "processed": ("cancel", "return")}
        orders = [o for o in self.profile["orders"] if o in c.store.orders and c.order(o)["status"] in wrong]
        if not orders:
            return
        oid = rng.choice(orders)
        order = c.order(oid)
        kind = rng.choice(wrong[order["status"]])
        c.user(self.request_text(Goal(kind=kind, order_id=oid, item_ids=[order["items"][0]["item_id"]], new_item_ids=[order["items"][0]["item_id"]]), True, False))
        self.fetch_order(oid)
        c.reply("cannot", order_id=oid, purpose=kind)

