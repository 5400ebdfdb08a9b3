"""Who owns a conversation: the bot or a human. One state machine, owned by the server.

    bot --request--> handoff_requested --takeover--> human(agent) --release--> bot
     |                   |   ^                         |
     |                   |   +-- (an agent may also take over straight from bot)
     |                   +--continue_with_bot--> bot   +--resolve--> resolved --reopen--> bot

While the state is `human` the engine never runs and no bot text is sent. `transition` is the
only function that changes the state; an illegal move raises `HandoffError` with an exact reason.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, replace


class Mode(str, enum.Enum):
    bot = "bot"
    handoff_requested = "handoff_requested"
    human = "human"
    resolved = "resolved"


class Action(str, enum.Enum):
    request = "request"  # moderation flag, transfer tool, shopper asks for a person, repeated failures
    takeover = "takeover"  # an agent takes the conversation
    release = "release"  # the owning agent hands it back to the bot
    resolve = "resolve"  # the owning agent closes it
    continue_with_bot = "continue_with_bot"  # the shopper stops waiting for an agent
    reopen = "reopen"  # the shopper writes again after it was resolved


class HandoffError(Exception):
    """An illegal transition; `code` goes to the API as is."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Ownership:
    mode: Mode = Mode.bot
    agent: str | None = None  # set while mode is human
    reason: str | None = None  # why a human is needed (set by request)
    summary: str | None = None


_ALLOWED: dict[Action, tuple[Mode, ...]] = {
    Action.request: (Mode.bot,),
    Action.takeover: (Mode.bot, Mode.handoff_requested),
    Action.release: (Mode.human,),
    Action.resolve: (Mode.human,),
    Action.continue_with_bot: (Mode.handoff_requested,),
    Action.reopen: (Mode.resolved,),
}


def transition(
    current: Ownership, action: Action, *, agent: str | None = None, reason: str | None = None, summary: str | None = None
) -> Ownership:
    """The state after `action`, or `HandoffError` if the action is not allowed now."""
    if current.mode not in _ALLOWED[action]:
        if action is Action.takeover and current.mode is Mode.human:
            raise HandoffError("already_taken", f"the conversation is already handled by {current.agent}")
        if action is Action.takeover and current.mode is Mode.resolved:
            raise HandoffError("resolved", "a resolved conversation cannot be taken over")
        raise HandoffError("invalid_transition", f"cannot {action.value} a conversation in state {current.mode.value}")
    if action in (Action.takeover, Action.release, Action.resolve) and not agent:
        raise HandoffError("agent_required", f"{action.value} needs an agent")
    if action in (Action.release, Action.resolve) and agent != current.agent:
        raise HandoffError("not_owner", f"the conversation is handled by {current.agent}, not {agent}")
    if action is Action.request:
        return Ownership(Mode.handoff_requested, None, reason or "handoff requested", summary)
    if action is Action.takeover:
        return replace(current, mode=Mode.human, agent=agent)
    if action is Action.resolve:
        return Ownership(Mode.resolved, None, current.reason, current.summary)
    return Ownership(Mode.bot)  # release, continue_with_bot, reopen


def bot_may_speak(ownership: Ownership) -> bool:
    """The engine runs only when the bot owns the conversation."""
    return ownership.mode is Mode.bot
