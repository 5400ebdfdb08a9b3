"""Every transition of the handoff state machine, legal and illegal."""
from __future__ import annotations

import pytest

from bot.handoff import Action, HandoffError, Mode, Ownership, bot_may_speak, transition


def test_full_cycle() -> None:
    s = Ownership()
    assert bot_may_speak(s)
    s = transition(s, Action.request, reason="moderation: harassment", summary="angry shopper")
    assert s.mode is Mode.handoff_requested and s.reason == "moderation: harassment" and not bot_may_speak(s)
    s = transition(s, Action.takeover, agent="Alex")
    assert s.mode is Mode.human and s.agent == "Alex" and s.reason == "moderation: harassment" and not bot_may_speak(s)
    s = transition(s, Action.release, agent="Alex")
    assert s == Ownership(Mode.bot) and bot_may_speak(s)


def test_takeover_from_bot_and_resolve_then_reopen() -> None:
    s = transition(Ownership(), Action.takeover, agent="Sam")
    assert s.mode is Mode.human
    s = transition(s, Action.resolve, agent="Sam")
    assert s.mode is Mode.resolved and not bot_may_speak(s)
    assert transition(s, Action.reopen).mode is Mode.bot


def test_shopper_can_continue_with_the_bot() -> None:
    s = transition(Ownership(), Action.request, reason="asked for a person")
    assert transition(s, Action.continue_with_bot) == Ownership(Mode.bot)


@pytest.mark.parametrize(
    "state,action,agent,code",
    [
        (Ownership(Mode.human, "Alex"), Action.release, "Sam", "not_owner"),
        (Ownership(Mode.human, "Alex"), Action.resolve, "Sam", "not_owner"),
        (Ownership(Mode.human, "Alex"), Action.takeover, "Sam", "already_taken"),
        (Ownership(Mode.resolved), Action.takeover, "Sam", "resolved"),
        (Ownership(Mode.bot), Action.release, "Sam", "invalid_transition"),
        (Ownership(Mode.bot), Action.resolve, "Sam", "invalid_transition"),
        (Ownership(Mode.handoff_requested), Action.release, "Sam", "invalid_transition"),
        (Ownership(Mode.handoff_requested), Action.request, None, "invalid_transition"),
        (Ownership(Mode.human, "Alex"), Action.request, None, "invalid_transition"),
        (Ownership(Mode.bot), Action.continue_with_bot, None, "invalid_transition"),
        (Ownership(Mode.human, "Alex"), Action.continue_with_bot, None, "invalid_transition"),
        (Ownership(Mode.bot), Action.reopen, None, "invalid_transition"),
        (Ownership(Mode.bot), Action.takeover, None, "agent_required"),
    ],
)
def test_invalid_transitions(state: Ownership, action: Action, agent: str | None, code: str) -> None:
    with pytest.raises(HandoffError) as err:
        transition(state, action, agent=agent)
    assert err.value.code == code
