"""Personal data is masked: Luhn-valid card numbers (not invalid ones), CVVs, passwords, id numbers."""
from __future__ import annotations

import pytest

from policies.moderation import ShopModerator
from policies.moderation.pii import luhn_valid, redact

# Standard test numbers published by the card networks (they pass Luhn, charge nothing).
VALID_CARDS = ["4111 1111 1111 1111", "4111-1111-1111-1111", "5555555555554444", "3782 822463 10005", "6011 1111 1111 1117"]


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("41111111x1111111")


@pytest.mark.parametrize("card", VALID_CARDS)
def test_valid_card_numbers_are_masked(card: str) -> None:
    text, kinds = redact(f"please charge {card} for the order")
    assert kinds == ["card_number"]
    digits = card.replace(" ", "").replace("-", "")
    assert card not in text and digits not in text
    assert f"[card ****{digits[-4:]}]" in text


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # fails Luhn
        "cancel purchase 113542617735902",  # a 15-digit order number, no card prefix
        "order #W2378156 and item 1008292230",
        "call me on 555-123-4567",
        "zip 12345-6789",
        "I forgot my password",
        "my password is not working",
        "I need a new passport photo",
    ],
)
def test_ordinary_numbers_and_words_are_left_alone(text: str) -> None:
    assert redact(text) == (text, [])


def test_card_with_zero_width_characters_is_still_masked() -> None:
    text, kinds = redact("4111\u200b1111\u200b1111\u200b1111")
    assert kinds == ["card_number"] and "1111 1111" not in text and "41111111" not in text


@pytest.mark.parametrize(
    ("text", "secret", "kind"),
    [
        ("my cvv is 123", "123", "cvv"),
        ("security code: 9876", "9876", "cvv"),
        ("4111 1111 1111 1111 exp 12/27 456", "456", "cvv"),
        ("my password is hunter22!", "hunter22", "password"),
        ("password: Tr0ub4dor&3", "Tr0ub4dor&3", "password"),
        ("pin = 4321", "4321", "password"),
        ("my SSN is 123-45-6789", "123-45-6789", "gov_id"),
        ("ssn 123456789", "123456789", "gov_id"),
        ("passport number X1234567", "X1234567", "gov_id"),
        ("NI number AB 12 34 56 C", "AB 12 34 56 C", "gov_id"),
    ],
)
def test_secrets_are_masked(text: str, secret: str, kind: str) -> None:
    redacted, kinds = redact(text)
    assert kind in kinds
    assert secret not in redacted


def test_invalid_ssn_area_is_not_an_ssn() -> None:
    assert redact("ref 000-12-3456") == ("ref 000-12-3456", [])


def test_moderator_redacts_and_reports_reasons() -> None:
    result = ShopModerator(None).check("card 4111 1111 1111 1111 cvv 123, password is s3cret!!")
    assert result.action == "redact"
    assert result.reasons == ["pii/card_number", "pii/cvv", "pii/password"]
    assert "4111" not in result.text and "123" not in result.text and "s3cret" not in result.text
