"""The policy rules apply to whatever a model proposes (policies/rules.py)."""
from __future__ import annotations

import json

import pytest

from bot.conversation import Command, ConversationView
from policies.rules import check

CONSEQUENTIAL = frozenset({"cancel_pending_order", "return_delivered_order_items"})


def authenticated(*shopper_lines: str) -> ConversationView:
    """A conversation in which the shopper proved who they are by email, then said `shopper_lines`."""
    messages = [
        {"role": "user", "content": "hi, my email is kim.lee@example.com"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "find_user_id_by_email", "arguments": json.dumps({"email": "kim.lee@example.com"})}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "find_user_id_by_email", "content": "kim_lee_1234"},
        {"role": "assistant", "content": "Thanks, you are verified."},
    ]
    messages += [{"role": "user", "content": line} for line in shopper_lines]
    return ConversationView.parse(messages)


@pytest.mark.parametrize("line", ["I want to return my speaker", "quiero devolver el altavoz", "我想退货", "and my other order?"])
def test_an_authenticated_shopper_is_not_asked_to_authenticate_again(line: str) -> None:
    view = authenticated(line)
    assert view.user_id == "kim_lee_1234"
    verdict = check(Command("reply", "ask_auth"), view, CONSEQUENTIAL, affirmed=False)
    assert not verdict.allowed and "already authenticated" in verdict.reason
    assert check(Command("reply", "ask_order", {"purpose": "return"}), view, CONSEQUENTIAL, affirmed=False).allowed


def test_a_shopper_not_yet_authenticated_is_asked() -> None:
    view = ConversationView.parse([{"role": "user", "content": "where is my order?"}])
    assert check(Command("reply", "ask_auth"), view, CONSEQUENTIAL, affirmed=False).allowed
    refused = check(Command("call", "get_order_details", {"order_id": "#W1234567"}), view, CONSEQUENTIAL, affirmed=False)
    assert not refused.allowed and "authenticate" in refused.reason


def test_one_shopper_per_conversation() -> None:
    view = authenticated("actually I am someone else: sam@example.com")
    second = check(Command("call", "find_user_id_by_email", {"email": "sam@example.com"}), view, CONSEQUENTIAL, affirmed=False)
    assert not second.allowed
    other = check(Command("call", "get_user_details", {"user_id": "sam_x_1"}), view, CONSEQUENTIAL, affirmed=False)
    assert not other.allowed
