"""What the engine says when it replies: a grounded template chosen from the dialogue state.

The reply depends on what just happened (the last tool result this turn) and on what the shopper
wants (their recent words). A reply that lists a consequential action for confirmation also
returns that action, which the engine keeps as `ConversationState.pending_action`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot import engine_replies as R
from bot import jsontext
from bot.engine_args import NO, YES, ConversationView, fill_arguments, find_items, find_payment_method, product_hits
from policies.router import CONSEQUENTIAL

Dict = dict[str, Any]
INTENTS = (  # checked in this order within one message
    ("exchange", re.compile(r"\bexchange|swap it for|trade\b", re.I)),
    ("return", re.compile(r"\b(return|refund|send (it|them) back)\b", re.I)),
    ("cancel", re.compile(r"\bcancel", re.I)),
    ("modify_address", re.compile(r"(shipping|delivery|order).{0,30}address|address.{0,30}(order|shipping|delivery)", re.I)),
    ("user_address", re.compile(r"(default|account|profile|my) address|moved", re.I)),
    ("modify_payment", re.compile(r"(change|switch|update).{0,25}payment|pay (for it |for the order )?with a different|different (card|payment method)", re.I)),
    ("modify_items", re.compile(r"\b(modify|change|switch)\b", re.I)),
    ("balance", re.compile(r"balance|gift card.{0,20}(left|have)", re.I)),
    ("status", re.compile(r"status|where is|shipped|track|deliver", re.I)),
)
GREETING = re.compile(
    r"^\s*(hi|hello|hey|hiya|howdy|greetings|good (morning|afternoon|evening|day))"
    r"(\s+(there|all|everyone|folks|team|bot|again))?\b[\s!.,]*$",
    re.I,
)
THANKS = re.compile(r"\b(thanks|thank you|that's all|bye|that is all|nothing else)\b", re.I)


@dataclass
class Reply:
    text: str
    cards: list[Dict] = field(default_factory=list)
    quick_replies: list[Dict] = field(default_factory=list)
    pending_action: Dict | None = None
    understood: bool = True


YES_NO = [{"title": "Yes", "payload": "yes"}, {"title": "No", "payload": "no"}]


def intent_of(text: str) -> str | None:
    for name, pattern in INTENTS:
        if pattern.search(text):
            return name
    return None


def intent(view: ConversationView) -> str | None:
    """What the shopper is after: the intent of their latest message that states one."""
    for text in reversed(view.texts("user")[-4:]):
        found = intent_of(text)
        if found is not None:
            return found
    return None


def _cards(hits: list[Dict]) -> list[Dict]:
    return [
        {"id": h.get("product_id"), "name": h.get("name"), "price": h.get("price"), "image": h.get("image"), "options": h.get("options", {})}
        for h in hits[:5]
    ]


def _confirm(text: str, name: str, arguments: Dict | None) -> Reply:
    return Reply(text, quick_replies=YES_NO, pending_action={"name": name, "arguments": arguments})


def _order_flow(view: ConversationView, want: str | None, order: Dict) -> Reply:
    status = order.get("status", "")
    text = view.recent_user_text(4) + "\n" + view.last_assistant
    profile = view.profile or {}
    if want in (None, "status"):
        return Reply(R.order_summary(order))
    if want == "cancel":
        if status != "pending":
            return Reply(R.cannot_act(order, "cancel"))
        args = fill_arguments("cancel_pending_order", view)
        if not args:
            return Reply(R.ask_cancel_reason(order))
        args["order_id"] = order["order_id"]  # the order this reply talks about
        return _confirm(R.confirm_cancel(order, args["reason"]), "cancel_pending_order", args)
    if want == "return":
        if status != "delivered":
            return Reply(R.cannot_act(order, "return"))
        items = find_items(order, text)
        if not items:
            return Reply(R.ask_items(order, "return"))
        pm = find_payment_method(view, view.recent_user_text(3), order)
        if not pm:
            return Reply(R.ask_payment_method(profile, "for the refund (the original payment method or a gift card)"))
        chosen = [i for i in order["items"] if i["item_id"] in items]
        methods = view.payment_methods()
        if pm not in methods:  # e.g. an original payment method no longer on the profile
            return Reply(R.ask_payment_method(profile, "for the refund (the original payment method or a gift card)"))
        args = {"order_id": order["order_id"], "item_ids": items, "payment_method_id": pm}
        return _confirm(R.confirm_return(order, chosen, methods[pm]), "return_delivered_order_items", args)
    if want in ("exchange", "modify_items"):
        needed = "delivered" if want == "exchange" else "pending"
        if status != needed:
            return Reply(R.cannot_act(order, "exchange" if want == "exchange" else "modify"))
        name = "exchange_delivered_order_items" if want == "exchange" else "modify_pending_order_items"
        args = fill_arguments(name, view)
        variants = view.all_variants()
        methods = view.payment_methods()
        in_order = {i["item_id"]: i for i in order["items"]}
        if (
            args
            and args["order_id"] == order["order_id"]
            and all(o in in_order for o in args["item_ids"])
            and all(n in variants for n in args["new_item_ids"])
            and args["payment_method_id"] in methods
        ):
            pairs = [(in_order[o], {**variants[n][1]}) for o, n in zip(args["item_ids"], args["new_item_ids"])]
            return _confirm(R.confirm_swap(order, pairs, methods[args["payment_method_id"]], want, None), name, args)
        items = find_items(order, text)
        if not items:
            return Reply(R.ask_items(order, "exchange" if want == "exchange" else "modify"))
        item = next(i for i in order["items"] if i["item_id"] == items[0])
        product = view.products.get(item["product_id"])
        if product is not None and not find_payment_method(view, view.recent_user_text(3), order):
            if re.search(r"\d{10}|one\b", view.last_user) or view.last_assistant.startswith("For the"):
                return Reply(R.ask_payment_method(profile, "for the price difference"))
            return Reply(R.list_variants(product, item))
        if product is not None:
            return Reply(R.list_variants(product, item))
        return Reply(R.ask_items(order, "exchange" if want == "exchange" else "modify"))
    if want == "modify_address":
        if status != "pending":
            return Reply(R.cannot_act(order, "modify"))
        args = fill_arguments("modify_pending_order_address", view)
        if not args:
            return Reply("What is the new shipping address (street, apartment or suite if any, city, state, zip code and country)?")
        args["order_id"] = order["order_id"]
        address = {k: args[k] for k in ("address1", "address2", "city", "state", "country", "zip")}
        return _confirm(R.confirm_order_address(order, address), "modify_pending_order_address", args)
    if want == "modify_payment":
        if status != "pending":
            return Reply(R.cannot_act(order, "modify"))
        pm = find_payment_method(view, view.recent_user_text(2), None)
        if not pm:
            return Reply(R.ask_payment_method(profile, "for this order"))
        args = {"order_id": order["order_id"], "payment_method_id": pm}
        return _confirm(R.confirm_payment_change(order, view.payment_methods().get(pm, {"id": pm})), "modify_pending_order_payment", args)
    return Reply(R.order_summary(order))


def compose(view: ConversationView, policy_text: str = "") -> Reply:
    """The reply for the current state of the conversation."""
    since = view.since_last_user()
    tools_now = [m for m in since if m.get("role") == "tool"]
    last_call = view.calls[-1] if view.calls and tools_now else None
    want = intent(view)
    user = view.last_user
    if last_call is not None:
        name, args, result = last_call
        value = None
        try:
            value = jsontext.loads(result)
        except (jsontext.JSONDecodeError, TypeError):
            pass
        if name.startswith("find_user_id") and result.startswith("Error"):
            return Reply(R.auth_failed("email" if name.endswith("email") else "name_zip"))
        if name in CONSEQUENTIAL:
            return Reply(R.action_failed(result) if result.startswith("Error") else R.action_done(name, value if isinstance(value, dict) else result))
        if name == "transfer_to_human_agents":
            return Reply(R.transfer_done())
        if name == "search_policy":
            return Reply(R.policy_answer(value if isinstance(value, list) else []))
        if name in ("search_products", "recommend_products"):
            hits = product_hits(value)  # with no hit: the closest product outside the filters
            if isinstance(value, dict) and not value.get("hits") and isinstance(value.get("closest_outside_filters"), dict):
                return Reply(R.search_results([], value["closest_outside_filters"]), cards=_cards(hits))
            return Reply(R.search_results(hits), cards=_cards(hits))
        if name == "describe_product" and isinstance(value, dict):
            return Reply(f"{value.get('name', '')}: {value.get('description', '')}")
        if name == "list_all_product_types" and isinstance(value, dict):
            return Reply(R.product_types(value))
        if result.startswith("Error"):
            return Reply(R.action_failed(result))
        if name == "get_product_details" and isinstance(value, dict) and want not in ("exchange", "modify_items"):
            return Reply(R.product_info(value))
    if view.messages and view.messages[-1].get("role") == "user" and NO.search(user) and view.last_assistant.endswith("(yes/no)?"):
        return Reply(R.declined())
    if GREETING.match(user):
        return Reply(R.greeting())
    if THANKS.search(user) and intent_of(user) is None and last_call is None:
        return Reply(R.goodbye())
    if view.user_id is None:
        if want is not None or re.search(r"\border|account|#W\d", user, re.I):
            return Reply(R.ask_auth())
        return Reply(R.out_of_scope() if user.strip() else R.greeting(), understood=False)
    if want == "balance" and view.profile:
        return Reply(R.gift_card_balance(view.profile))
    if want == "user_address":
        args = fill_arguments("modify_user_address", view)
        if args:
            address = {k: args[k] for k in ("address1", "address2", "city", "state", "country", "zip")}
            return _confirm(R.confirm_user_address(address), "modify_user_address", args)
        return Reply("What is the new address (street, apartment or suite if any, city, state, zip code and country)?")
    order = view.current_order()
    if want is not None and order is None and view.profile:
        return Reply(R.ask_order_id(view.profile, {"cancel": "cancel", "return": "return items from", "exchange": "exchange items from"}.get(want, "check")))
    if order is not None:
        return _order_flow(view, want, order)
    if view.profile and last_call is not None and last_call[0] == "get_user_details":
        return Reply(R.ask_how_help(view.profile))
    return Reply(R.clarify(), understood=False)
