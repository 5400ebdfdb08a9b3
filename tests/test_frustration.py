"""The frustration signal: ordinary (even unhappy) messages stay below the line, a run of
exasperated ones crosses it."""
from __future__ import annotations

from policies.frustration import update


def run(messages: list[str]) -> list[bool]:
    score, out = 0.0, []
    for text in messages:
        result = update(score, text)
        score = result.score
        out.append(result.needs_human)
    return out


def test_ordinary_messages_do_not_hand_off() -> None:
    calm = [
        "hi, where is my order #W1234567?",
        "my blender arrived broken, I want to return it",
        "thanks! that's great",
        "can you check the price of the red hoodie in size M?",
        "I'm a bit disappointed with the color, can I exchange it?",
    ]
    assert not any(run(calm))


def test_a_run_of_exasperation_hands_off() -> None:
    angry = [
        "this is the third time I ask about my refund",
        "you don't understand, this is ridiculous",
        "I'M SO FED UP WITH THIS USELESS SERVICE!!!",
    ]
    assert run(angry)[-1] is True


def test_score_decays() -> None:
    first = update(0.0, "this is ridiculous")
    later = first.score
    for _ in range(5):
        later = update(later, "ok, what are the options for the lamp?").score
    assert later < first.score / 5
