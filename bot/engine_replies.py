"""Grounded reply templates: every fact they state comes from a tool result passed in.

The transcript simulator (training/simulator.py) and the live engine (bot/engine.py) write the
assistant's words with the same functions, so what the model learns from is what it says.
Inputs are tau-bench-shaped dicts (the JSON the store tools return).
"""
from __future__ import annotations

from typing import Any

Dict = dict[str, Any]


def money(value: float) -> str:
    return f"${value:,.2f}"


def describe_options(options: Dict) -> str:
    return ", ".join(str(v) for v in options.values())


def describe_item(item: Dict) -> str:
    """'Water Bottle (item 6469567736: 1000ml, glass, blue)'."""
    return f"{item['name']} (item {item['item_id']}: {describe_options(item.get('options', {}))})"


def describe_payment(method: Dict) -> str:
    source = method.get("source", "")
    if source == "credit_card":
        return f"the {method.get('brand', 'credit')} card ending in {method.get('last_four', '')} ({method['id']})"
    if source == "gift_card":
        balance = method.get("balance")
        tail = f", balance {money(balance)}" if isinstance(balance, (int, float)) else ""
        return f"the gift card ({method['id']}{tail})"
    if source == "paypal":
        return f"PayPal ({method['id']})"
    return str(method.get("id", "that payment method"))


def describe_address(address: Dict) -> str:
    line2 = f", {address['address2']}" if address.get("address2") else ""
    return (
        f"{address.get('address1', '')}{line2}, {address.get('city', '')}, {address.get('state', '')} "
        f"{address.get('zip', '')}, {address.get('country', '')}"
    )


# -- authentication ------------------------------------------------------------------------------

def greeting() -> str:
    return "Hi! I can help with your orders, returns, exchanges, your account and our products. What can I do for you?"


def ask_auth() -> str:
    return (
        "I can help with that. First I need to verify your identity: please give me the email on your "
        "account, or your first name, last name and zip code."
    )


def auth_failed(method: str) -> str:
    if method == "email":
        return (
            "I could not find an account with that email. Could you check it, or give me your first name, "
            "last name and zip code instead?"
        )
    return (
        "I could not find an account with that name and zip code. Could you check them, or give me the "
        "email on your account instead?"
    )


def ask_how_help(user: Dict) -> str:
    first = user.get("name", {}).get("first_name", "")
    return f"Thanks, {first}, you are verified. How can I help you today?"


# -- orders --------------------------------------------------------------------------------------

def ask_order_id(user: Dict, purpose: str) -> str:
    orders = ", ".join(user.get("orders", []))
    return f"Which order would you like to {purpose}? Your orders are: {orders}."


def order_summary(order: Dict) -> str:
    items = "; ".join(describe_item(i) for i in order.get("items", []))
    return f"Order {order['order_id']} is {order['status']}. It contains: {items}."


def cannot_act(order: Dict, action: str) -> str:
    needed = "pending" if action in ("cancel", "modify") else "delivered"
    return (
        f"Order {order['order_id']} is {order['status']}, so I can't {action} it: only {needed} orders can be "
        f"{'cancelled' if action == 'cancel' else action + 'ed' if action != 'modify' else 'modified'}. "
        "Is there anything else I can help with?"
    )


def ask_cancel_reason(order: Dict) -> str:
    return (
        f"Order {order['order_id']} is pending, so it can be cancelled. What is the reason: "
        "'no longer needed' or 'ordered by mistake'?"
    )


def ask_items(order: Dict, action: str) -> str:
    items = "; ".join(describe_item(i) for i in order.get("items", []))
    return f"Order {order['order_id']} is {order['status']}. Which items would you like to {action}? It has: {items}."


def ask_payment_method(user: Dict, purpose: str) -> str:
    methods = "; ".join(describe_payment(m) for m in user.get("payment_methods", {}).values())
    return f"Which payment method should be used {purpose}? On your account: {methods}."


def list_variants(product: Dict, item: Dict) -> str:
    available = [v for v in product.get("variants", {}).values() if v.get("available") and v["item_id"] != item["item_id"]]
    shown = "; ".join(f"item {v['item_id']}: {describe_options(v['options'])} at {money(v['price'])}" for v in available[:8])
    return f"For the {product['name']}, these options are available: {shown}. Which one would you like?"


def confirm_cancel(order: Dict, reason: str) -> str:
    return (
        f"To confirm: cancel order {order['order_id']} because it is '{reason}'. The payment is refunded to the "
        "original method (at once for a gift card, in 5 to 7 business days otherwise). Shall I go ahead (yes/no)?"
    )


def confirm_return(order: Dict, items: list[Dict], method: Dict) -> str:
    listed = "; ".join(describe_item(i) for i in items)
    return (
        f"To confirm: return {listed} from order {order['order_id']}, refunded to {describe_payment(method)}. "
        "You will get an email on how to send the items back. Shall I go ahead (yes/no)?"
    )


def confirm_swap(order: Dict, pairs: list[tuple[Dict, Dict]], method: Dict, kind: str, difference: float | None) -> str:
    listed = "; ".join(
        f"{old['name']} item {old['item_id']} ({describe_options(old['options'])}) to item {new['item_id']} "
        f"({describe_options(new['options'])})"
        for old, new in pairs
    )
    verb = "exchange" if kind == "exchange" else "modify"
    diff = ""
    if difference is not None:
        diff = f" The price difference is {money(difference)}, settled with {describe_payment(method)}."
    else:
        diff = f" Any price difference is settled with {describe_payment(method)}."
    return (
        f"To confirm: in order {order['order_id']}, {verb} {listed}.{diff} This can only be done once per order, "
        "so please make sure these are all the items. Shall I go ahead (yes/no)?"
    )


def confirm_order_address(order: Dict, address: Dict) -> str:
    return (
        f"To confirm: change the shipping address of order {order['order_id']} to {describe_address(address)}. "
        "Shall I go ahead (yes/no)?"
    )


def confirm_user_address(address: Dict) -> str:
    return f"To confirm: change your default address to {describe_address(address)}. Shall I go ahead (yes/no)?"


def confirm_payment_change(order: Dict, method: Dict) -> str:
    return (
        f"To confirm: pay order {order['order_id']} with {describe_payment(method)} instead. The original payment "
        "is refunded (at once for a gift card, in 5 to 7 business days otherwise). Shall I go ahead (yes/no)?"
    )


def action_done(name: str, result: Dict | str) -> str:
    if isinstance(result, dict) and "order_id" in result:
        oid, status = result["order_id"], result.get("status", "")
        if name == "cancel_pending_order":
            return f"Order {oid} is now {status}; the refund goes back to the original payment method. Anything else?"
        if name == "return_delivered_order_items":
            return f"Done: order {oid} is now '{status}'. You will receive an email on how to return the items. Anything else?"
        if name == "exchange_delivered_order_items":
            return f"Done: order {oid} is now '{status}'. You will receive an email on how to return the items. Anything else?"
        return f"Done: order {oid} has been updated and its status is '{status}'. Anything else I can help with?"
    return "Done: your account has been updated. Is there anything else I can help with?"


def action_failed(error_text: str) -> str:
    reason = error_text.removeprefix("Error:").strip()
    return f"Sorry, that didn't work: {reason}. Is there anything else I can help with?"


def declined() -> str:
    return "No problem, I haven't changed anything. What would you like to do instead?"


# -- other -----------------------------------------------------------------------------------------

def transfer_done() -> str:
    return "I've passed your conversation to a human agent, who will continue here shortly."


def out_of_scope() -> str:
    return (
        "Sorry, I can only help with this store's orders, returns, exchanges, account details and products. "
        "Is there something about your orders I can help with?"
    )


def other_user() -> str:
    return "Sorry, I can only help with the account you verified in this conversation."


def small_talk() -> str:
    return "I'm here to help with your orders and our products. What can I do for you?"


def goodbye() -> str:
    return "You're welcome! Have a great day."


def clarify() -> str:
    return "Sorry, I didn't catch that. Could you tell me what you need help with: an order, a return or exchange, your account, or a product?"


def gift_card_balance(user: Dict) -> str:
    cards = [m for m in user.get("payment_methods", {}).values() if m.get("source") == "gift_card"]
    if not cards:
        return "You have no gift card on your account. Anything else?"
    return "Your gift card balance: " + "; ".join(f"{m['id']}: {money(m.get('balance') or 0.0)}" for m in cards) + "."


def product_types(types: Dict) -> str:
    return "We carry: " + ", ".join(types) + ". Which one are you interested in?"


def product_info(product: Dict) -> str:
    available = [v for v in product.get("variants", {}).values() if v.get("available")]
    if not available:
        return f"The {product['name']} has no option in stock right now."
    shown = "; ".join(f"{describe_options(v['options'])} at {money(v['price'])}" for v in available[:4])
    return f"The {product['name']} is in stock in these options, among others: {shown}."


def policy_answer(passages: list[Dict]) -> str:
    if not passages:
        return "I couldn't find that in our store policy. Would you like me to connect you with a person?"
    section = passages[0].get("section", "policy")
    # The passages of the best one's section, in the order found: a question such as "what's your
    # return policy?" is answered by the section's rules, not by its first bullet alone.
    texts = [p.get("text", "") for p in passages if p.get("section", "policy") == section]
    return f"From our store policy ({section}): " + " ".join(texts)


def search_results(results: list[Dict], closest: Dict | None = None) -> str:
    if not results and closest:
        price = f" ({money(closest['price'])})" if isinstance(closest.get("price"), (int, float)) else ""
        return (f"Nothing matches all of that. The closest we have is {closest.get('name', '')}{price}, "
                "outside what you asked for. Would you like to hear about it, or change the search?")
    if not results:
        return "I couldn't find a matching product. Could you describe it differently?"
    shown = "; ".join(f"{r.get('name', '')} ({money(r['price'])})" if isinstance(r.get("price"), (int, float)) else str(r.get("name", "")) for r in results[:5])
    return f"Here is what I found: {shown}."


# -- products (answers built from a product's variants or a search hit) -----------------------------

def ask_new_address(purpose: str) -> str:
    what = "new address" if purpose == "account" else "new shipping address"
    return f"What is the {what} (street, apartment or suite if any, city, state, zip code and country)?"


def _price_span(prices: list[float]) -> str:
    low, high = min(prices), max(prices)
    return money(low) if low == high else f"{money(low)} to {money(high)}"


def product_stock(product: Dict) -> str:
    """Is it in stock, from the product's variants (or a search hit's availability)."""
    variants = list(product.get("variants", {}).values())
    available = [v for v in variants if v.get("available")]
    if not available:
        return f"The {product['name']} is out of stock right now, in every option."
    shown = "; ".join(describe_options(v.get("options", {})) for v in available[:4])
    return f"Yes, the {product['name']} is in stock: {len(available)} of its {len(variants)} options are available, for example {shown}."


def product_options(product: Dict) -> str:
    """The option values it comes in (only those in stock)."""
    values: dict[str, list[str]] = {}
    for v in product.get("variants", {}).values():
        if not v.get("available"):
            continue
        for key, value in v.get("options", {}).items():
            if str(value) not in values.setdefault(key, []):
                values[key].append(str(value))
    if not values:
        return f"The {product['name']} is out of stock right now, in every option."
    listed = "; ".join(f"{key}: {', '.join(vals)}" for key, vals in values.items())
    return f"The {product['name']} comes in these options (in stock): {listed}."


def product_price(product: Dict) -> str:
    prices = [v["price"] for v in product.get("variants", {}).values() if v.get("available") and isinstance(v.get("price"), (int, float))]
    if not prices:
        return f"The {product['name']} is out of stock right now, so I can't quote a price."
    if len(prices) == 1:
        return f"The {product['name']} costs {money(prices[0])}."
    return f"The {product['name']} costs {_price_span(prices)}, depending on the option."


def compare_products(products: list[Dict]) -> str:
    """Side by side: price range, brand and options of each product, then which is cheaper."""
    parts = []
    lows = []
    for p in products:
        prices = [v["price"] for v in p.get("variants", {}).values() if v.get("available") and isinstance(v.get("price"), (int, float))]
        brand = f", by {p['brand']}" if p.get("brand") else ""
        price = _price_span(prices) if prices else "out of stock"
        keys = sorted({k for v in p.get("variants", {}).values() for k in v.get("options", {})})
        options = f", options: {', '.join(keys)}" if keys else ""
        parts.append(f"{p['name']}{brand}: {price}{options}")
        if prices:
            lows.append((min(prices), p["name"]))
    text = "Here is how they compare: " + "; ".join(parts) + "."
    if len(lows) >= 2:
        text += f" The {min(lows)[1]} is the cheaper one."
    return text


def calculation(value: str) -> str:
    return f"That comes to {value}."
