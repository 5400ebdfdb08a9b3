"""A reply command -> what the shopper reads: text, product cards, quick replies.

The policy chooses the act (`reply ask_items {"order_id": ...}`, `confirm cancel_pending_order
{...}`); this module renders it from what the tools returned, with the templates of
bot/engine_replies.py, so every fact in a reply comes from a tool result. An act whose facts are
not in the conversation (an order never fetched) renders as a question instead, and says so in the
log. The transcript simulator renders its agent's words with the same function, so the model
learns from exactly what the engine says.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from bot import engine_replies as R
from bot.conversation import SAY, Command, ConversationView, product_hits

log = logging.getLogger(__name__)
Dict = dict[str, Any]
PURPOSE_TEXT = {
    "cancel": "cancel",
    "return": "return items from",
    "exchange": "exchange items from",
    "modify_items": "modify",
    "modify_address": "change the address of",
    "modify_payment": "change the payment of",
    "status": "check",
}
ACTION_OF = {"cancel": "cancel", "return": "return", "exchange": "exchange", "modify_items": "modify", "modify_address": "modify", "modify_payment": "modify", "status": "check"}
PAYMENT_PURPOSE = {"refund": "for the refund (the original payment method or a gift card)", "difference": "for the price difference", "order": "for this order"}
UNDERSTOOD_NOT = {"clarify", "out_of_scope"}


@dataclass
class Reply:
    text: str
    cards: list[Dict] = field(default_factory=list)
    quick_replies: list[Dict] = field(default_factory=list)
    pending_action: Dict | None = None  # a listed consequential call awaiting the shopper's yes
    understood: bool = True


class MissingFacts(LookupError):
    """The act names something the conversation has not fetched."""


def cards(hits: list[Dict]) -> list[Dict]:
    return [
        {"id": h.get("product_id"), "name": h.get("name"), "price": h.get("price"), "image": h.get("image"), "options": h.get("options", {})}
        for h in hits[:5]
    ]


def render(view: ConversationView, command: Command, policy_text: str = "", lang: str = "en") -> Reply:
    """The reply for a `reply` or `confirm` command in the shopper's language (a `say`
    command's text is the model's)."""
    try:
        if command.verb == "confirm":
            return _confirm(view, command.name, command.arguments, lang)
        if command.name == SAY:
            return Reply(command.text or R.clarify(lang=lang))
        return _act(view, command.name, command.arguments, lang)
    except MissingFacts as exc:
        log.info("reply %s %s lacks facts (%s): asking instead", command.verb, command.name, exc)
        return Reply(R.clarify(lang=lang), understood=False)


# -- the facts ------------------------------------------------------------------------------------

def _order(view: ConversationView, order_id: Any) -> Dict:
    order = view.orders.get(str(order_id))
    if order is None:
        raise MissingFacts(f"order {order_id}")
    return order


def _profile(view: ConversationView) -> Dict:
    if view.profile is None:
        raise MissingFacts("the shopper's profile")
    return view.profile


def known_products(view: ConversationView) -> dict[str, Dict]:
    """Every product the tools described, as {name, product_id, brand, variants{item: ...}}: full
    details where fetched, else what a search hit showed (its matching variants)."""
    out: dict[str, Dict] = {}
    for name, _args, text in view.calls:
        if name not in ("search_products", "recommend_products"):
            continue
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, TypeError):
            continue
        for hit in product_hits(value):
            pid = str(hit.get("product_id"))
            variants = hit.get("variants") or []
            if isinstance(variants, list) and variants:
                vs = {str(v.get("item_id", n)): v for n, v in enumerate(variants) if isinstance(v, dict)}
            else:
                vs = {str(hit.get("item_id") or pid): {"options": hit.get("options", {}), "price": hit.get("price"), "available": hit.get("available", True)}}
            out[pid] = {"name": hit.get("name", ""), "product_id": pid, "brand": hit.get("brand"), "variants": vs}
    for pid, product in view.products.items():
        out[str(pid)] = {**product, "brand": out.get(str(pid), {}).get("brand")}
    return out


def _product(view: ConversationView, product_id: Any) -> Dict:
    product = known_products(view).get(str(product_id))
    if product is None:
        raise MissingFacts(f"product {product_id}")
    return product


# -- acts -----------------------------------------------------------------------------------------

def _act(view: ConversationView, act: str, a: Dict, lang: str) -> Reply:
    if act == "answer":
        return answer(view, lang)
    if act == "greet":
        return Reply(R.greeting(lang=lang))
    if act == "ask_auth":
        return Reply(R.ask_auth(lang=lang))
    if act == "ask_order":
        return Reply(R.ask_order_id(_profile(view), PURPOSE_TEXT.get(a.get("purpose", "status"), "check"), lang=lang))
    if act == "ask_items":
        return Reply(R.ask_items(_order(view, a.get("order_id")), ACTION_OF.get(a.get("purpose", "return"), "return"), lang=lang))
    if act == "ask_reason":
        return Reply(R.ask_cancel_reason(_order(view, a.get("order_id")), lang=lang))
    if act == "ask_payment":
        return Reply(R.ask_payment_method(_profile(view), PAYMENT_PURPOSE.get(a.get("purpose", "order"), "for this order"), lang=lang))
    if act == "ask_address":
        return Reply(R.ask_default_address(lang=lang) if a.get("purpose") == "account" else R.ask_shipping_address(lang=lang))
    if act == "list_variants":
        order = _order(view, a.get("order_id"))
        item = next((i for i in order.get("items", []) if i.get("item_id") == a.get("item_id")), None)
        if item is None:
            raise MissingFacts(f"item {a.get('item_id')} in {order.get('order_id')}")
        product = view.products.get(item["product_id"])
        if product is None:
            raise MissingFacts(f"product {item['product_id']}")
        return Reply(R.list_variants(product, item, lang=lang))
    if act == "product":
        product = _product(view, a.get("product_id"))
        about = a.get("about", "overview")
        text = {"stock": R.product_stock, "options": R.product_options, "price": R.product_price}.get(about, R.product_info)(product, lang=lang)
        return Reply(text)
    if act == "compare":
        products = [_product(view, pid) for pid in a.get("product_ids") or []]
        if len(products) < 2:
            raise MissingFacts("two products to compare")
        return Reply(R.compare_products(products, lang=lang))
    if act == "cannot":
        return Reply(R.cannot_act(_order(view, a.get("order_id")), ACTION_OF.get(a.get("purpose", "cancel"), "cancel"), lang=lang))
    if act == "balance":
        return Reply(R.gift_card_balance(_profile(view), lang=lang))
    if act == "declined":
        return Reply(R.declined(lang=lang))
    if act == "goodbye":
        return Reply(R.goodbye(lang=lang))
    if act == "small_talk":
        return Reply(R.small_talk(lang=lang))
    if act == "out_of_scope":
        return Reply(R.out_of_scope(lang=lang), understood=False)
    if act == "other_user":
        return Reply(R.other_user(lang=lang))
    return Reply(R.clarify(lang=lang), understood=False)


def answer(view: ConversationView, lang: str = "en") -> Reply:
    """What the tools returned since the shopper last spoke, each result in turn (a message with
    two requests gets both answers). Look-ups that only lead somewhere (the user id, the profile)
    say nothing unless they are all there is."""
    parts: list[str] = []
    shown: list[Dict] = []
    calls = view.since_last_user_calls()
    orders = [n for n, (name, _a, _t) in enumerate(calls) if name == "get_order_details"]
    for n, (name, args, text) in enumerate(calls):
        value = _value(text)
        if name.startswith("find_user_id") and text.startswith("Error"):
            parts.append(R.auth_failed("email" if name.endswith("email") else "name_zip", lang=lang))
        elif text.startswith("Error"):
            parts.append(R.action_failed(text, lang=lang))
        elif name == "get_order_details" and isinstance(value, dict) and n == orders[-1]:
            parts.append(R.order_summary(value, lang=lang))
        elif name == "get_product_details" and isinstance(value, dict):
            parts.append(R.product_info(value, lang=lang))
        elif name in ("search_products", "recommend_products"):
            hits = product_hits(value)
            closest = value.get("closest_outside_filters") if isinstance(value, dict) and not value.get("hits") else None
            parts.append(R.search_results([] if closest else hits, closest if isinstance(closest, dict) else None, lang=lang))
            shown += hits
        elif name == "search_policy":
            parts.append(R.policy_answer(value if isinstance(value, list) else [], lang=lang))
        elif name == "describe_product" and isinstance(value, dict):
            parts.append(R.product_description(value, lang=lang))
        elif name == "list_all_product_types" and isinstance(value, dict):
            parts.append(R.product_types(value, lang=lang))
        elif name == "transfer_to_human_agents":
            parts.append(R.transfer_done(lang=lang))
        elif name == "calculate":
            parts.append(R.calculation(text.strip(), lang=lang))
        elif name not in ("find_user_id_by_email", "find_user_id_by_name_zip", "get_user_details", "get_order_details"):
            parts.append(R.action_done(name, value if isinstance(value, dict) else text, lang=lang))
    if not parts and view.profile is not None and calls:
        parts.append(R.ask_how_help(view.profile, lang=lang))
    if not parts:
        return Reply(R.clarify(lang=lang), understood=False)
    return Reply("\n\n".join(parts), cards=cards(shown))


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None


# -- listings for confirmation --------------------------------------------------------------------

def _listed(text: str, name: str, arguments: Dict, lang: str) -> Reply:
    return Reply(text, quick_replies=R.yes_no(lang=lang), pending_action={"name": name, "arguments": arguments})


def _last_difference(view: ConversationView) -> float | None:
    for name, _args, text in reversed(view.since_last_user_calls()):
        if name == "calculate" and not text.startswith("Error"):
            try:
                return float(text)
            except ValueError:
                return None
    return None


def _confirm(view: ConversationView, name: str, a: Dict, lang: str) -> Reply:
    if name == "modify_user_address":
        address = {k: a.get(k, "") for k in ("address1", "address2", "city", "state", "country", "zip")}
        return _listed(R.confirm_user_address(address, lang=lang), name, a, lang)
    order = _order(view, a.get("order_id"))
    methods = view.payment_methods()
    if name == "cancel_pending_order":
        return _listed(R.confirm_cancel(order, str(a.get("reason", "")), lang=lang), name, a, lang)
    if name == "modify_pending_order_address":
        address = {k: a.get(k, "") for k in ("address1", "address2", "city", "state", "country", "zip")}
        return _listed(R.confirm_order_address(order, address, lang=lang), name, a, lang)
    method = methods.get(str(a.get("payment_method_id")))
    if method is None:
        raise MissingFacts(f"payment method {a.get('payment_method_id')}")
    if name == "modify_pending_order_payment":
        return _listed(R.confirm_payment_change(order, method, lang=lang), name, a, lang)
    items = {i["item_id"]: i for i in order.get("items", [])}
    olds = [items.get(i) for i in a.get("item_ids") or []]
    if not olds or None in olds:
        raise MissingFacts(f"items {a.get('item_ids')} in {order.get('order_id')}")
    if name == "return_delivered_order_items":
        return _listed(R.confirm_return(order, olds, method, lang=lang), name, a, lang)
    variants = view.all_variants()
    news = [variants.get(i) for i in a.get("new_item_ids") or []]
    if len(news) != len(olds) or any(n is None for n in news):
        raise MissingFacts(f"new items {a.get('new_item_ids')}")
    pairs = [(old, {**new[1], "item_id": new[1].get("item_id", iid)}) for old, new, iid in zip(olds, news, a.get("new_item_ids"))]  # type: ignore[index]
    kind = "exchange" if name == "exchange_delivered_order_items" else "modify_items"
    return _listed(R.confirm_swap(order, pairs, method, kind, _last_difference(view), lang=lang), name, a, lang)
