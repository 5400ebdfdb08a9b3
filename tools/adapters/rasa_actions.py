"""Our tools as Rasa SDK actions, so an existing Rasa assistant can call them:

    SHOPBOT_HOME=... python -m rasa_sdk --actions tools.adapters.rasa_actions

Each tool is an `Action` whose `name()` is the tool name. Arguments come from slots of the same
names (`order_id`, `item_ids`, ...). The conversation's context lives in slots too:
- `shopbot_user_id`: the authenticated user, set (SlotSet) by a successful `find_user_id_*`;
- `shopbot_confirmed`: true when the assistant's own flow got the shopper's explicit yes to the
  consequential action it is about to run (reset after the action runs).
The result goes to the `shopbot_result` slot (tau-bench text) and, as a custom (json_message) payload, to the
dispatcher: `{"tool": name, "ok": bool, "result": text}`.
"""
from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.db import Database
from bot.settings import Settings
from tools.base import InvalidArguments, Tool, ToolContext
from tools.registry import default_tools

USER_SLOT = "shopbot_user_id"
CONFIRMED_SLOT = "shopbot_confirmed"
RESULT_SLOT = "shopbot_result"


class _Runtime:
    """The database and tools, created on first use in the action server's process."""

    db: Database | None = None
    tools: dict[str, Tool] | None = None
    lock = asyncio.Lock()

    @classmethod
    async def get(cls) -> tuple[Database, dict[str, Tool]]:
        async with cls.lock:
            if cls.db is None or cls.tools is None:
                cls.db = Database(Settings.from_env().database_url)
                cls.tools = default_tools()
        return cls.db, cls.tools


class ToolAction(Action):
    """A shopbot tool run by the Rasa action server."""

    tool_name: str = ""

    def name(self) -> str:
        return self.tool_name

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        db, tools = await _Runtime.get()
        tool = tools[self.tool_name]
        ctx = ToolContext(db, conversation_id=tracker.sender_id, user_id=tracker.get_slot(USER_SLOT))
        fields = tool.args_model.model_fields
        arguments = {name: tracker.get_slot(name) for name in fields if tracker.get_slot(name) is not None}
        if tool.consequential and tracker.get_slot(CONFIRMED_SLOT) is True:
            try:
                ctx.confirm(tool.name, tool.validate(arguments))
            except InvalidArguments:
                pass  # invoke below reports the invalid arguments to the assistant
        result = await tool.invoke(ctx, arguments)
        dispatcher.utter_message(json_message={"tool": tool.name, "ok": result.ok, "result": result.text})
        events: list[dict[str, Any]] = [SlotSet(RESULT_SLOT, result.text)]
        if ctx.user_id != tracker.get_slot(USER_SLOT):
            events.append(SlotSet(USER_SLOT, ctx.user_id))
        if tool.consequential:
            events.append(SlotSet(CONFIRMED_SLOT, None))
        return events


# The action server finds actions as subclasses of `Action` defined in this module.
for _name in default_tools():
    globals()[f"Action_{_name}"] = type(f"Action_{_name}", (ToolAction,), {"tool_name": _name, "__module__": __name__})
