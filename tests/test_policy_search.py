"""`search_policy` over the shipped store policy: questions land on the section that answers them,
and the reply gives that section's rules."""
from __future__ import annotations

from bot.engine_replies import policy_answer
from tools.search_policy import POLICY_PATH, PolicyIndex, split_passages, stem


def sections(index: PolicyIndex, question: str) -> list[str]:
    return [hit["section"] for hit in index.search(question)]


def test_questions_land_on_the_section_that_answers_them() -> None:
    index = PolicyIndex.from_file()
    assert sections(index, "what's your return policy?")[0] == "Returning a delivered order"
    assert sections(index, "can I cancel my order")[0] == "Cancelling a pending order"
    assert sections(index, "can I exchange it for a different product?")[0] == "Exchanging a delivered order"
    assert sections(index, "how long does a refund take")[0] == "Refund timing"


def test_the_documents_introduction_answers_nothing() -> None:
    """The text under the title is about the document ("This is the policy the assistant
    follows..."); it was the answer to "what's your return policy?" because it says "policy"."""
    passages = split_passages(POLICY_PATH.read_text(encoding="utf-8"))
    assert all(p.section != "Store policy" for p in passages)
    flat = split_passages("# Our rules\n\nReturns are accepted within 30 days.\n")  # no sections: the text is the policy
    assert [p.text for p in flat] == ["Returns are accepted within 30 days."]


def test_stemming_meets_inflected_forms() -> None:
    assert stem("exchange") == stem("exchanged") == stem("exchanging") == stem("exchanges")
    assert stem("cancel") == stem("cancelled") == stem("cancelling")
    assert stem("refund") == stem("refunds") == stem("refunded")
    assert stem("case") == stem("cases") and stem("price") == stem("prices") and stem("address") == stem("addresses")


def test_the_answer_gives_the_best_sections_passages() -> None:
    answer = policy_answer([
        {"section": "Refund timing", "text": "Refunds to a gift card arrive immediately."},
        {"section": "Refund timing", "text": "Refunds to a card take 5 to 7 business days."},
        {"section": "Other", "text": "Something else."},
    ])
    assert answer == ("From our store policy (Refund timing): Refunds to a gift card arrive immediately. "
                      "Refunds to a card take 5 to 7 business days.")

