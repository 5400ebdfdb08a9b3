"""The message catalog: every language has every key and field, and every reply template renders
in every language with exactly the facts (ids, prices, names, options) the English one states."""
from __future__ import annotations

import inspect
import json
import re
from typing import Any

import pytest

from bot import engine_replies as R
from bot.grounding import TOKENS
from bot.i18n import LANGUAGES, LOCALES_DIR, UnsupportedLanguage, catalog, normalize_language, text, word

FIELD = re.compile(r"\{(\w+)\}")
OTHER_LANGUAGES = [lang for lang in LANGUAGES if lang != "en"]

ITEM = {"name": "Water Bottle", "item_id": "6469567736", "product_id": "8310926033", "options": {"capacity": "1000ml", "color": "blue"}, "price": 47.84}
ITEM2 = {"name": "Bluetooth Speaker", "item_id": "4716977452", "product_id": "4768869376", "options": {"color": "red"}, "price": 1289.5}
CARD = {"source": "credit_card", "brand": "visa", "last_four": "1234", "id": "credit_card_1234567"}
GIFT = {"source": "gift_card", "balance": 128.0, "id": "gift_card_7654321"}
PAYPAL = {"source": "paypal", "id": "paypal_5555555"}
USER = {"name": {"first_name": "Mei"}, "orders": ["#W1234567", "#W7654321"], "payment_methods": {m["id"]: m for m in (CARD, GIFT, PAYPAL)}}
ADDRESS = {"address1": "12 Main St", "address2": "Apt 4", "city": "Austin", "state": "TX", "zip": "78701", "country": "USA"}
PRODUCT = {"name": "Bluetooth Speaker", "variants": {
    "1": {"item_id": "4716977452", "options": {"color": "blue"}, "price": 100.0, "available": True},
    "2": {"item_id": "1111111111", "options": {"color": "red"}, "price": 1100.25, "available": True},
}}


def order(status: str) -> dict[str, Any]:
    return {"order_id": "#W1234567", "status": status, "items": [ITEM, ITEM2]}


# Every template with the inputs its callers pass (statuses, actions, purposes, reasons, kinds).
CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("greeting", ()), ("ask_auth", ()), ("auth_failed", ("email",)), ("auth_failed", ("name_zip",)), ("ask_how_help", (USER,)),
    *[("ask_order_id", (USER, p)) for p in ("cancel", "return items from", "exchange items from", "check", "modify")],
    *[("order_summary", (order(s),)) for s in ("pending", "processed", "delivered", "cancelled", "return requested")],
    *[("cannot_act", (order(s), a)) for s in ("delivered", "pending") for a in ("cancel", "modify", "return", "exchange")],
    *[("ask_items", (order("delivered"), a)) for a in ("return", "exchange", "modify")],
    ("ask_cancel_reason", (order("pending"),)),
    *[("ask_payment_method", (USER, p)) for p in ("for the refund (the original payment method or a gift card)", "for the price difference", "for this order")],
    ("list_variants", (PRODUCT, ITEM2)),
    *[("confirm_cancel", (order("pending"), r)) for r in ("no longer needed", "ordered by mistake")],
    *[("confirm_return", (order("delivered"), [ITEM, ITEM2], m)) for m in (CARD, GIFT, PAYPAL)],
    *[("confirm_swap", (order("delivered"), [(ITEM, ITEM2)], CARD, k, d)) for k in ("exchange", "modify") for d in (None, 12.5)],
    ("confirm_order_address", (order("pending"), ADDRESS)), ("confirm_user_address", (ADDRESS,)),
    ("confirm_payment_change", (order("pending"), GIFT)),
    *[("action_done", (n, {"order_id": "#W1234567", "status": "cancelled"})) for n in (
        "cancel_pending_order", "return_delivered_order_items", "exchange_delivered_order_items", "modify_pending_order_items")],
    ("action_done", ("modify_user_address", "ok")), ("action_failed", ("Error: order is not pending",)),
    *[(name, ()) for name in ("declined", "transfer_done", "out_of_scope", "other_user", "small_talk", "goodbye", "clarify",
                              "ask_shipping_address", "ask_default_address", "not_understood_handoff", "safe_reply")],
    ("gift_card_balance", (USER,)), ("gift_card_balance", ({"payment_methods": {}},)),
    ("product_types", ({"Bluetooth Speaker": "1", "Water Bottle": "2"},)),
    ("product_info", (PRODUCT,)), ("product_info", ({"name": "Dog Bed", "variants": {}},)),
    ("policy_answer", ([],)), ("policy_answer", ([{"section": "Refund timing", "text": "Refunds take 5 to 7 business days."}],)),
    ("search_results", ([],)), ("search_results", ([], {"name": "Tent", "price": 199.0})),
    ("search_results", ([{"name": "Water Bottle", "price": 47.84}, {"name": "Bluetooth Speaker"}],)),
    *[(name, (PRODUCT,)) for name in ("product_stock", "product_options", "product_price")],
    *[(name, ({"name": "Dog Bed", "variants": {}},)) for name in ("product_stock", "product_options", "product_price")],
    ("compare_products", ([{**PRODUCT, "brand": "Sonic"}, {"name": "Water Bottle", "variants": {"3": {"options": {"color": "blue"}, "price": 47.84, "available": True}}}],)),
    ("calculation", ("12.5",)),
    ("product_description", ({"name": "Dog Bed", "description": "A soft bed."},)),
]
# Facts a reply must carry unchanged: the grounding check's tokens (ids, numbers, prices) and
# the catalog's words (product names, options, the shopper's name, addresses).
FACTS = ("Water Bottle", "Bluetooth Speaker", "1000ml", "blue", "red", "visa", "Mei", "12 Main St", "Austin", "Tent", "Dog Bed", "PayPal")


def test_every_catalog_has_every_key_and_field_of_the_english_one() -> None:
    english = catalog("en")
    for lang in OTHER_LANGUAGES:
        entries = json.loads((LOCALES_DIR / f"{lang}.json").read_text(encoding="utf-8"))
        assert set(entries) == set(english), (lang, set(english) ^ set(entries))
        for key, source in english.items():
            if isinstance(source, str):
                assert set(FIELD.findall(entries[key])) == set(FIELD.findall(source)), (lang, key)
                assert entries[key].strip(), (lang, key)
            else:
                assert set(entries[key]) == set(source), (lang, key)
    assert sorted(p.stem for p in LOCALES_DIR.glob("*.json")) == sorted(LANGUAGES)


def test_every_template_takes_lang_and_is_called_here() -> None:
    templates = {name for name, fn in inspect.getmembers(R, inspect.isfunction) if fn.__module__ == R.__name__}
    helpers = {"money", "describe_options", "describe_address", "describe_item", "describe_payment", "yes_no", "_items", "_price_span", "_available"}
    assert templates - helpers == {name for name, _ in CALLS}
    for name in templates - {"money", "describe_options", "describe_address", "_items", "_available", "_price_span"}:
        parameter = inspect.signature(getattr(R, name)).parameters["lang"]
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default == "en"


@pytest.mark.parametrize("lang", OTHER_LANGUAGES)
def test_templates_state_the_same_facts_in_every_language(lang: str) -> None:
    for name, args in CALLS:
        english = getattr(R, name)(*args)
        translated = getattr(R, name)(*args, lang=lang)
        assert translated and translated != english, (lang, name)
        # No number or id that English does not state, none that it states left out.
        assert sorted(TOKENS.findall(translated)) == sorted(TOKENS.findall(english)), (lang, name, translated)
        for fact in FACTS:
            as_word = re.compile(rf"(?<![A-Za-z]){re.escape(fact)}(?![A-Za-z])")
            if as_word.search(english):
                assert as_word.search(translated), (lang, name, fact, translated)


def test_english_is_the_source_text() -> None:
    assert R.order_summary(order("pending")) == (
        "Order #W1234567 is pending. It contains: Water Bottle (item 6469567736: 1000ml, blue); "
        "Bluetooth Speaker (item 4716977452: red)."
    )
    assert R.confirm_cancel(order("pending"), "no longer needed").endswith("Shall I go ahead (yes/no)?")
    assert R.yes_no() == [{"title": "Yes", "payload": "yes"}, {"title": "No", "payload": "no"}]
    assert [q["payload"] for q in R.yes_no(lang="zh-CN")] == ["yes", "no"]


def test_an_english_policy_passage_is_labelled_for_other_languages() -> None:
    passages = [{"section": "Refund timing", "text": "Refunds take 5 to 7 business days.", "language": "en"}]
    assert "以下为英文原文" in R.policy_answer(passages, lang="zh-CN")
    assert "inglés" in R.policy_answer(passages, lang="es")
    spanish = [{"section": "Plazos de reembolso", "text": "Los reembolsos tardan de 5 a 7 días hábiles.", "language": "es"}]
    assert "inglés" not in R.policy_answer(spanish, lang="es")
    assert R.policy_answer(passages) == "From our store policy (Refund timing): Refunds take 5 to 7 business days."


def test_language_tags_map_to_our_codes() -> None:
    assert [normalize_language(t) for t in ("zh", "zh-Hans", "ZH-cn", "zh_CN", "pt-BR", "es-419", "fr-CA", "de", "ja-JP", "en-GB")] == [
        "zh-CN", "zh-CN", "zh-CN", "zh-CN", "pt", "es", "fr", "de", "ja", "en"]
    assert [normalize_language(t) for t in ("zh-TW", "zh-Hant", "ko", "", None)] == [None] * 5
    with pytest.raises(UnsupportedLanguage):
        text("greeting", "ko")
    assert word("status", "a status nobody knows", "zh-CN") == "a status nobody knows"
