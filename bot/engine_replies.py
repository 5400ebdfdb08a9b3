"""Grounded reply templates: every fact they state comes from a tool result passed in.

The transcript simulator (training/simulator.py) and the live engine (bot/engine.py) write the
assistant's words with the same functions, so what the model learns from is what it says.
Inputs are tau-bench-shaped dicts (the JSON the store tools return).

Every template takes `lang` (one of `bot.i18n.LANGUAGES`, default English): the words come from
the message catalog (bot/locales/), the facts (ids, names, prices, options, addresses) are
inserted as the tools returned them, in every language.
"""
from __future__ import annotations

from typing import Any

from bot.i18n import text, word

Dict = dict[str, Any]


def money(value: float) -> str:
    return f"${value:,.2f}"


def describe_options(options: Dict) -> str:
    return ", ".join(str(v) for v in options.values())


def describe_item(item: Dict, *, lang: str = "en") -> str:
    """'Water Bottle (item 6469567736: 1000ml, glass, blue)'."""
    return text("item", lang, name=item["name"], item_id=item["item_id"], options=describe_options(item.get("options", {})))


def describe_payment(method: Dict, *, lang: str = "en") -> str:
    source = method.get("source", "")
    if source == "credit_card":
        brand = method.get("brand", text("payment_card_brand", lang))
        return text("payment_card", lang, brand=brand, last_four=method.get("last_four", ""), id=method["id"])
    if source == "gift_card":
        balance = method.get("balance")
        tail = text("payment_gift_card_balance", lang, balance=money(balance)) if isinstance(balance, (int, float)) else ""
        return text("payment_gift_card", lang, id=method["id"], balance=tail)
    if source == "paypal":
        return text("payment_paypal", lang, id=method["id"])
    return str(method.get("id", text("payment_unknown", lang)))


def describe_address(address: Dict) -> str:
    """An address as the store holds it (the same in every language)."""
    line2 = f", {address['address2']}" if address.get("address2") else ""
    return (
        f"{address.get('address1', '')}{line2}, {address.get('city', '')}, {address.get('state', '')} "
        f"{address.get('zip', '')}, {address.get('country', '')}"
    )


def _items(items: list[Dict], lang: str) -> str:
    return "; ".join(describe_item(i, lang=lang) for i in items)


# -- authentication ------------------------------------------------------------------------------

def greeting(*, lang: str = "en") -> str:
    return text("greeting", lang)


def ask_auth(*, lang: str = "en") -> str:
    return text("ask_auth", lang)


def auth_failed(method: str, *, lang: str = "en") -> str:
    return text("auth_failed_email" if method == "email" else "auth_failed_name_zip", lang)


def ask_how_help(user: Dict, *, lang: str = "en") -> str:
    return text("ask_how_help", lang, first_name=user.get("name", {}).get("first_name", ""))


# -- orders --------------------------------------------------------------------------------------

def ask_order_id(user: Dict, purpose: str, *, lang: str = "en") -> str:
    orders = ", ".join(user.get("orders", []))
    return text("ask_order_id", lang, purpose=word("purpose", purpose, lang), orders=orders)


def order_summary(order: Dict, *, lang: str = "en") -> str:
    return text("order_summary", lang, order_id=order["order_id"], status=word("status", order["status"], lang), items=_items(order.get("items", []), lang))


def cannot_act(order: Dict, action: str, *, lang: str = "en") -> str:
    needed = "pending" if action in ("cancel", "modify") else "delivered"
    done = word("action_done", action, lang)
    if done == action:  # an action the table does not know
        done = action + "ed"
    return text(
        "cannot_act", lang, order_id=order["order_id"], status=word("status", order["status"], lang),
        action=word("action", action, lang), needed=word("status", needed, lang), done=done,
    )


def ask_cancel_reason(order: Dict, *, lang: str = "en") -> str:
    return text("ask_cancel_reason", lang, order_id=order["order_id"])


def ask_items(order: Dict, action: str, *, lang: str = "en") -> str:
    return text(
        "ask_items", lang, order_id=order["order_id"], status=word("status", order["status"], lang),
        action=word("action", action, lang), items=_items(order.get("items", []), lang),
    )


def ask_payment_method(user: Dict, purpose: str, *, lang: str = "en") -> str:
    methods = "; ".join(describe_payment(m, lang=lang) for m in user.get("payment_methods", {}).values())
    return text("ask_payment_method", lang, purpose=word("payment_purpose", purpose, lang), methods=methods)


def list_variants(product: Dict, item: Dict, *, lang: str = "en") -> str:
    available = [v for v in product.get("variants", {}).values() if v.get("available") and v["item_id"] != item["item_id"]]
    shown = "; ".join(
        text("variant", lang, item_id=v["item_id"], options=describe_options(v["options"]), price=money(v["price"])) for v in available[:8]
    )
    return text("list_variants", lang, name=product["name"], variants=shown)


def confirm_cancel(order: Dict, reason: str, *, lang: str = "en") -> str:
    return text("confirm_cancel", lang, order_id=order["order_id"], reason=word("cancel_reason", reason, lang))


def confirm_return(order: Dict, items: list[Dict], method: Dict, *, lang: str = "en") -> str:
    return text("confirm_return", lang, items=_items(items, lang), order_id=order["order_id"], payment=describe_payment(method, lang=lang))


def confirm_swap(order: Dict, pairs: list[tuple[Dict, Dict]], method: Dict, kind: str, difference: float | None, *, lang: str = "en") -> str:
    listed = "; ".join(
        text(
            "swap_pair", lang, name=old["name"], old_item_id=old["item_id"], old_options=describe_options(old["options"]),
            new_item_id=new["item_id"], new_options=describe_options(new["options"]),
        )
        for old, new in pairs
    )
    payment = describe_payment(method, lang=lang)
    if difference is not None:
        diff = text("swap_difference", lang, difference=money(difference), payment=payment)
    else:
        diff = text("swap_any_difference", lang, payment=payment)
    verb = word("swap_verb", "exchange" if kind == "exchange" else "modify", lang)
    return text("confirm_swap", lang, order_id=order["order_id"], verb=verb, pairs=listed, difference=diff)


def confirm_order_address(order: Dict, address: Dict, *, lang: str = "en") -> str:
    return text("confirm_order_address", lang, order_id=order["order_id"], address=describe_address(address))


def confirm_user_address(address: Dict, *, lang: str = "en") -> str:
    return text("confirm_user_address", lang, address=describe_address(address))


def confirm_payment_change(order: Dict, method: Dict, *, lang: str = "en") -> str:
    return text("confirm_payment_change", lang, order_id=order["order_id"], payment=describe_payment(method, lang=lang))


def action_done(name: str, result: Dict | str, *, lang: str = "en") -> str:
    if isinstance(result, dict) and "order_id" in result:
        oid, status = result["order_id"], word("status", result.get("status", ""), lang)
        key = {
            "cancel_pending_order": "done_cancel",
            "return_delivered_order_items": "done_return",
            "exchange_delivered_order_items": "done_return",
        }.get(name, "done_order")
        return text(key, lang, order_id=oid, status=status)
    return text("done_account", lang)


def action_failed(error_text: str, *, lang: str = "en") -> str:
    """The tool's own reason, as it gave it (in English: the catalog says so in other languages)."""
    return text("action_failed", lang, reason=error_text.removeprefix("Error:").strip())


def declined(*, lang: str = "en") -> str:
    return text("declined", lang)


# -- other -----------------------------------------------------------------------------------------

def transfer_done(*, lang: str = "en") -> str:
    return text("transfer_done", lang)


def out_of_scope(*, lang: str = "en") -> str:
    return text("out_of_scope", lang)


def other_user(*, lang: str = "en") -> str:
    return text("other_user", lang)


def small_talk(*, lang: str = "en") -> str:
    return text("small_talk", lang)


def goodbye(*, lang: str = "en") -> str:
    return text("goodbye", lang)


def clarify(*, lang: str = "en") -> str:
    return text("clarify", lang)


def ask_shipping_address(*, lang: str = "en") -> str:
    return text("ask_shipping_address", lang)


def ask_default_address(*, lang: str = "en") -> str:
    return text("ask_default_address", lang)


def not_understood_handoff(*, lang: str = "en") -> str:
    return text("not_understood_handoff", lang)


def safe_reply(*, lang: str = "en") -> str:
    """What goes out instead of a reply that failed the grounding check (bot/grounding.py)."""
    return text("safe_reply", lang)


def yes_no(*, lang: str = "en") -> list[dict[str, str]]:
    """The quick replies under a confirmation: titles in the shopper's language, payloads 'yes'/'no'."""
    return [{"title": text("yes", lang), "payload": "yes"}, {"title": text("no", lang), "payload": "no"}]


def gift_card_balance(user: Dict, *, lang: str = "en") -> str:
    cards = [m for m in user.get("payment_methods", {}).values() if m.get("source") == "gift_card"]
    if not cards:
        return text("no_gift_card", lang)
    listed = "; ".join(text("gift_card", lang, id=m["id"], balance=money(m.get("balance") or 0.0)) for m in cards)
    return text("gift_card_balance", lang, cards=listed)


def product_types(types: Dict, *, lang: str = "en") -> str:
    return text("product_types", lang, types=", ".join(types))


def product_info(product: Dict, *, lang: str = "en") -> str:
    available = [v for v in product.get("variants", {}).values() if v.get("available")]
    if not available:
        return text("product_out_of_stock", lang, name=product["name"])
    shown = "; ".join(text("product_option", lang, options=describe_options(v["options"]), price=money(v["price"])) for v in available[:4])
    return text("product_info", lang, name=product["name"], options=shown)


def policy_answer(passages: list[Dict], *, lang: str = "en") -> str:
    """The best section's passages, quoted. A passage from the English policy (`language` "en",
    the default) quoted to a shopper in another language is labelled as English."""
    if not passages:
        return text("policy_not_found", lang)
    section = passages[0].get("section", "policy")
    # The passages of the best one's section, in the order found: a question such as "what's your
    # return policy?" is answered by the section's rules, not by its first bullet alone.
    texts = [p.get("text", "") for p in passages if p.get("section", "policy") == section]
    english = lang != "en" and passages[0].get("language", "en") == "en"
    return text("policy_answer_english" if english else "policy_answer", lang, section=section, passages=" ".join(texts))


def search_results(results: list[Dict], closest: Dict | None = None, *, lang: str = "en") -> str:
    if not results and closest:
        price = text("search_closest_price", lang, price=money(closest["price"])) if isinstance(closest.get("price"), (int, float)) else ""
        return text("search_closest", lang, name=closest.get("name", ""), price=price)
    if not results:
        return text("search_none", lang)
    shown = "; ".join(
        text("search_result_price", lang, name=r.get("name", ""), price=money(r["price"])) if isinstance(r.get("price"), (int, float)) else str(r.get("name", ""))
        for r in results[:5]
    )
    return text("search_results", lang, results=shown)



# -- products (answers built from a product's variants or a search hit) -----------------------------

def _price_span(prices: list[float], lang: str) -> str:
    low, high = min(prices), max(prices)
    return money(low) if low == high else text("price_span", lang, low=money(low), high=money(high))


def _available(product: Dict) -> list[Dict]:
    return [v for v in product.get("variants", {}).values() if v.get("available")]


def product_stock(product: Dict, *, lang: str = "en") -> str:
    """Is it in stock, from the product's variants (or a search hit's availability)."""
    variants = list(product.get("variants", {}).values())
    available = _available(product)
    if not available:
        return text("product_out_of_stock", lang, name=product["name"])
    shown = "; ".join(describe_options(v.get("options", {})) for v in available[:4])
    return text("product_stock", lang, name=product["name"], available=len(available), total=len(variants), examples=shown)


def product_options(product: Dict, *, lang: str = "en") -> str:
    """The option values it comes in (only those in stock)."""
    values: dict[str, list[str]] = {}
    for v in _available(product):
        for key, value in v.get("options", {}).items():
            if str(value) not in values.setdefault(key, []):
                values[key].append(str(value))
    if not values:
        return text("product_out_of_stock", lang, name=product["name"])
    listed = "; ".join(f"{key}: {', '.join(vals)}" for key, vals in values.items())
    return text("product_options", lang, name=product["name"], options=listed)


def product_price(product: Dict, *, lang: str = "en") -> str:
    prices = [v["price"] for v in _available(product) if isinstance(v.get("price"), (int, float))]
    if not prices:
        return text("product_no_price", lang, name=product["name"])
    if len(set(prices)) == 1:
        return text("product_price", lang, name=product["name"], price=money(prices[0]))
    return text("product_price_range", lang, name=product["name"], prices=_price_span(prices, lang))


def compare_products(products: list[Dict], *, lang: str = "en") -> str:
    """Side by side: price range, brand and options of each product, then which is cheaper."""
    parts = []
    lows = []
    for p in products:
        prices = [v["price"] for v in _available(p) if isinstance(v.get("price"), (int, float))]
        brand = text("compare_brand", lang, brand=p["brand"]) if p.get("brand") else ""
        price = _price_span(prices, lang) if prices else text("compare_out_of_stock", lang)
        keys = sorted({k for v in p.get("variants", {}).values() for k in v.get("options", {})})
        options = text("compare_options", lang, options=", ".join(keys)) if keys else ""
        parts.append(f"{p['name']}{brand}: {price}{options}")
        if prices:
            lows.append((min(prices), p["name"]))
    out = text("compare", lang, products="; ".join(parts))
    if len(lows) >= 2:
        out += " " + text("compare_cheaper", lang, name=min(lows)[1])
    return out


def calculation(value: str, *, lang: str = "en") -> str:
    return text("calculation", lang, value=value)


def product_description(product: Dict, *, lang: str = "en") -> str:
    """A product's description as the catalog has it (in the catalog's language: English, so
    labelled as such for a shopper who writes in another)."""
    key = "product_description" if lang == "en" else "product_description_english"
    return text(key, lang, name=product.get("name", ""), description=product.get("description", ""))

