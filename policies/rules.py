"""Policy rules the engine enforces whatever the models propose.

- Account tools need an authenticated shopper (a successful find_user_id_* call).
- One shopper per conversation: no second find_user_id_* once someone is authenticated, and no
  call naming another user's id.
- A consequential tool runs only right after the agent listed the action and the shopper said yes
  (policies/affirm.py decides "yes"). In the live engine the listing is the engine's own `confirm`
  command, kept as the pending action, and the call uses exactly its arguments; in an imported
  transcript the listing is whatever the agent wrote right before the shopper's yes.
- One tool call per step (the engine never runs two at once).
- A shopper who is authenticated is not asked to authenticate again (`reply ask_auth`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.conversation import Command, ConversationView

AUTH_FREE = frozenset(
    {
        "find_user_id_by_email",
        "find_user_id_by_name_zip",
        "list_all_product_types",
        "get_product_details",
        "calculate",
        "transfer_to_human_agents",
        "search_policy",
        "search_products",
        "recommend_products",
        "describe_product",
    }
)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""


def agent_spoke_last(view: ConversationView) -> bool:
    """The shopper's message answers a reply of the agent's (not a tool result): the listing."""
    msgs = view.messages
    return len(msgs) >= 2 and msgs[-1].get("role") == "user" and msgs[-2].get("role") == "assistant" and not msgs[-2].get("tool_calls")


def check(command: Command, view: ConversationView, consequential: frozenset[str] | set[str], *, affirmed: bool, pending: dict[str, Any] | None = None) -> Verdict:
    """May the engine take this step now? `affirmed`: the shopper's last message says yes."""
    name, args = command.name, command.arguments
    if command.verb == "reply":
        if name == "ask_auth" and view.user_id is not None:
            return Verdict(False, "already authenticated: the shopper is not asked again")
        return Verdict(True)
    if name.startswith("find_user_id") and view.user_id is not None:
        return Verdict(False, "one shopper per conversation: already authenticated")
    if name not in AUTH_FREE and view.user_id is None:
        return Verdict(False, "authenticate before account tools")
    if view.user_id is not None and args.get("user_id") not in (None, view.user_id):
        return Verdict(False, "one shopper per conversation: another user's id")
    if command.verb == "confirm" or name not in consequential:
        return Verdict(True)
    if not affirmed:
        return Verdict(False, "no explicit yes from the shopper")
    if pending is not None:
        if pending.get("name") != name:
            return Verdict(False, "the shopper confirmed a different action")
        return Verdict(True)
    if not agent_spoke_last(view):
        return Verdict(False, "the action was not listed for the shopper's yes")
    return Verdict(True)
