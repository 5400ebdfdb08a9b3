"""Other agents' words: the same step said the way another assistant or a person would say it.

Imported transcripts, human agents after a hand-back and other assistants do not speak in our
templates. Some simulated conversations are therefore re-worded after they are built: each reply's
text is replaced by a free wording of the same facts, and the reply becomes `reply say` in the
model's view, as an imported transcript's reply is. The steps that follow must not depend on our
wording.
"""
from __future__ import annotations

import random
from typing import Any

from bot import engine_replies as R
from bot.conversation import Command, ConversationView

Dict = dict[str, Any]


def _methods(view: ConversationView) -> str:
    return ", ".join(_pm(m) for m in view.payment_methods().values()) or "the payment methods on your account"


def _pm(m: Dict) -> str:
    if m.get("source") == "credit_card":
        return f"your {str(m.get('brand', '')).title()} card ending {m.get('last_four', '')}"
    if m.get("source") == "gift_card":
        return "your gift card"
    return "PayPal"


def _items(order: Dict) -> str:
    return ", ".join(f"the {i['name']} ({R.describe_options(i.get('options', {}))})" for i in order.get("items", []))


def reword(view: ConversationView, command: Command, rng: random.Random) -> str | None:
    """A free wording of `command`'s reply in this conversation, or None (keep the template)."""
    a = command.arguments
    order = view.orders.get(str(a.get("order_id"))) if a.get("order_id") else None
    if command.verb == "confirm":
        return _listing(view, command.name, a, order, rng)
    act = command.name
    if act == "ask_auth":
        return rng.choice((
            "Sure, I can look into that. Could you share the email address on your account? Your full name and zip code work too.",
            "Happy to help! To pull up your account I'll need your email, or your first and last name plus your zip code.",
            "Of course. First, can you confirm your identity - what's the email you used to order?",
            "I'd be glad to help with that. May I have the email associated with your account (or your name and zip)?",
        ))
    if act == "ask_order" and view.profile:
        orders = ", ".join(view.profile.get("orders", []))
        return rng.choice((f"Thanks! I can see these orders on your account: {orders}. Which one is it?", f"Got it. Which of your orders ({orders}) do you mean?", f"Which order are we talking about? You have {orders}."))
    if act == "ask_items" and order:
        return rng.choice((f"Order {order['order_id']} has {_items(order)}. Which of these items?", f"I see {_items(order)} in that order. Which ones would you like?"))
    if act == "ask_reason" and order:
        return rng.choice(("May I ask why you'd like to cancel? Is it no longer needed, or was it ordered by mistake?", "Sure. Could you tell me the reason: you no longer need it, or you ordered it by mistake?"))
    if act == "ask_payment":
        purpose = {"refund": "Where would you like the refund to go", "difference": "How would you like to pay any price difference", "order": "Which payment method should I switch to"}.get(a.get("purpose", "order"), "Which payment method")
        return f"{purpose}? You have {_methods(view)}."
    if act == "list_variants" and order:
        item = next((i for i in order.get("items", []) if i.get("item_id") == a.get("item_id")), None)
        product = view.products.get(item["product_id"]) if item else None
        if product:
            values: dict[str, set[str]] = {}
            for v in product.get("variants", {}).values():
                if v.get("available"):
                    for k, x in v.get("options", {}).items():
                        values.setdefault(k, set()).add(str(x))
            listed = "; ".join(f"{k}: {', '.join(sorted(v))}" for k, v in values.items())
            return f"The {product['name']} is available with {listed}. What would you like instead?"
    if act == "answer":
        calls = view.since_last_user_calls()
        if calls and calls[-1][0] == "get_order_details" and view.order_fetch_order:
            o = view.orders[view.order_fetch_order[-1]]
            return rng.choice((f"Your order {o['order_id']} is currently {o['status']}. It includes {_items(o)}.", f"I found order {o['order_id']}: status {o['status']}, with {_items(o)}."))
        if calls and calls[-1][0] in ("cancel_pending_order", "return_delivered_order_items", "exchange_delivered_order_items", "modify_pending_order_items", "modify_pending_order_address", "modify_pending_order_payment"):
            return rng.choice(("All done! Is there anything else I can do for you?", "That's taken care of. Anything else today?", "Done - you'll get an email with the details. Can I help with anything else?"))
        if calls and calls[-1][0] == "get_user_details" and view.profile:
            return rng.choice(("Thanks, I found your account. What can I do for you?", "Great, you're verified. How can I help?"))
        return None
    if act == "goodbye":
        return rng.choice(("You're welcome! Take care.", "Glad I could help. Have a nice day!", "Anytime! Bye for now."))
    if act == "greet":
        return rng.choice(("Hello! How can I help you today?", "Hi there, what can I do for you?", "Welcome! What are you looking for today?"))
    if act == "declined":
        return rng.choice(("Okay, I won't make any changes. What would you like to do?", "No problem, nothing has been changed."))
    return None


def _listing(view: ConversationView, name: str, a: Dict, order: Dict | None, rng: random.Random) -> str | None:
    """A listing for the shopper's yes in prose, as a person writes one (often without item ids)."""
    methods = view.payment_methods()
    pm = _pm(methods[a["payment_method_id"]]) if a.get("payment_method_id") in methods else "the same payment method"
    ask = rng.choice(("Shall I go ahead?", "Can you confirm?", "Is that correct?", "Do you want me to proceed?", "Should I submit this?", "Just say yes and I'll do it."))
    oid = a.get("order_id", "")
    if name == "cancel_pending_order":
        return f"I'm about to cancel order {oid} (reason: {a.get('reason')}). The refund goes back to the original payment. {ask}"
    if name == "return_delivered_order_items" and order:
        items = [i for i in order.get("items", []) if i["item_id"] in (a.get("item_ids") or [])]
        names = " and ".join(f"the {i['name']}" for i in items)
        return f"So we'll return {names} from order {oid}, refunded to {pm}. {ask}"
    if name in ("exchange_delivered_order_items", "modify_pending_order_items") and order:
        variants = view.all_variants()
        olds = {i["item_id"]: i for i in order.get("items", [])}
        parts = []
        for old_id, new_id in zip(a.get("item_ids") or [], a.get("new_item_ids") or []):
            old, new = olds.get(old_id), variants.get(new_id)
            if old is None or new is None:
                return None
            parts.append(f"your {old['name']} ({R.describe_options(old.get('options', {}))}) for the {R.describe_options(new[1].get('options', {}))} one")
        verb = "exchange" if name.startswith("exchange") else "change"
        return f"To be clear, I'll {verb} {' and '.join(parts)} in order {oid}; any price difference goes to {pm}. {ask}"
    if name == "modify_pending_order_payment":
        return f"I'll switch the payment for order {oid} to {pm}. {ask}"
    if name in ("modify_pending_order_address", "modify_user_address"):
        where = ", ".join(str(a.get(k)) for k in ("address1", "address2", "city", "state", "zip") if a.get(k))
        what = f"order {oid}" if name == "modify_pending_order_address" else "your account"
        return f"I'll update the address on {what} to {where}. {ask}"
    return None
