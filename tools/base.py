"""The tool contract: one typed async function, its description, and what it may touch.

A tool is written once:

    @tool(requires_auth=True, consequential=True)
    async def cancel_pending_order(ctx: ToolContext, order_id: OrderId, reason: CancelReason) -> OrderRecord:
        '''Cancel a pending order ...'''

From that one definition come its JSON schema (OpenAI function calling), argument validation,
its LangChain and Rasa faces (`tools.adapters`), and `Tool.invoke`, which always returns a
`ToolResult` whose `text` is what tau-bench's tool would return: the JSON of the record, or
`Error: ...` for a refusal. Policy rules that a tool can check are checked inside the tool;
authorization (whose data this is) and confirmation (did the shopper say yes) are checked here,
before the tool body runs, whatever the model asked for.
"""
from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from bot.db import Database
from bot.store.queries import ConcurrentUpdate
from bot.store.records import to_json

log = logging.getLogger(__name__)

MAX_STRING = 2000
# Shared argument types: descriptions the model sees, limits that keep bad input out.
Text = Annotated[str, Field(max_length=MAX_STRING)]


class ToolError(Exception):
    """A refusal the shopper can be told about. `str(error)` is the text after `Error: `."""

    code = "refused"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArguments(ToolError):
    code = "invalid_arguments"


class NotAuthenticated(ToolError):
    code = "not_authenticated"


class NotAuthorized(ToolError):
    code = "not_authorized"


class ConfirmationRequired(ToolError):
    code = "confirmation_required"


class UnknownTool(ToolError):
    code = "unknown_tool"


def _bad_text(value: Any) -> bool:
    """NUL: PostgreSQL cannot store it and it is never part of a real id or name.

    (Lone surrogates, the other unstorable text, are already refused by pydantic.)
    """
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_bad_text(v) for v in value.values())
    if isinstance(value, list):
        return any(_bad_text(v) for v in value)
    return False


def confirmation_key(name: str, arguments: dict[str, Any]) -> str:
    return name + ":" + json.dumps(arguments, sort_keys=True, separators=(",", ":"))


@dataclass
class ToolContext:
    """What a tool call may act on: the store, and who the conversation has proven to be.

    `user_id` is set only by a successful `find_user_id_*` call or a verified shopper token.
    `confirmations` holds the consequential actions the shopper explicitly said yes to; each is
    used once.
    """

    db: Database
    conversation_id: str | None = None
    user_id: str | None = None
    confirmations: set[str] = field(default_factory=set)
    # Services other tools need (search index, description model, policy passages), by name.
    services: dict[str, Any] = field(default_factory=dict)
    # The conversation's language (bot.i18n.LANGUAGES) once a message has decided it, else None.
    language: str | None = None

    def authenticate(self, user_id: str) -> None:
        if self.user_id is not None and self.user_id != user_id:
            raise NotAuthorized(
                "this conversation is already authenticated as another user; "
                "only one user can be helped per conversation"
            )
        self.user_id = user_id

    def require_user(self, user_id: str) -> None:
        if self.user_id is None:
            raise NotAuthenticated(
                "the user is not authenticated; locate the user id by email, or by name and zip code, first"
            )
        if user_id != self.user_id:
            raise NotAuthorized("the user id does not belong to the authenticated user")

    def require_order_owner(self, owner_id: str) -> None:
        if self.user_id is None:
            raise NotAuthenticated(
                "the user is not authenticated; locate the user id by email, or by name and zip code, first"
            )
        if owner_id != self.user_id:
            raise NotAuthorized("the order does not belong to the authenticated user")

    def confirm(self, name: str, arguments: dict[str, Any]) -> None:
        """Record the shopper's explicit yes to exactly this action."""
        self.confirmations.add(confirmation_key(name, arguments))

    def take_confirmation(self, name: str, arguments: dict[str, Any]) -> bool:
        key = confirmation_key(name, arguments)
        if key in self.confirmations:
            self.confirmations.discard(key)
            return True
        return False


@dataclass(frozen=True)
class ToolResult:
    name: str
    text: str
    value: Any = None
    error: ToolError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    fn: Callable[..., Awaitable[Any]]
    args_model: type[BaseModel]
    requires_auth: bool = False
    consequential: bool = False
    label: str = ""  # what the widget shows while it runs, e.g. "Looking up your order..."

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-calling schema."""
        params = self.args_model.model_json_schema()
        params.pop("title", None)
        for prop in params.get("properties", {}).values():
            prop.pop("title", None)
        params.setdefault("required", [])
        return {"type": "function", "function": {"name": self.name, "description": self.description, "parameters": params}}

    def validate(self, arguments: Any) -> dict[str, Any]:
        if not isinstance(arguments, dict):
            raise InvalidArguments("arguments must be a JSON object")
        try:
            model = self.args_model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}" for err in exc.errors()
            )
            raise InvalidArguments(f"invalid arguments for {self.name}: {problems}") from None
        values = model.model_dump()
        if _bad_text(values):
            raise InvalidArguments(f"invalid arguments for {self.name}: text must not contain NUL characters")
        return values

    async def invoke(self, ctx: ToolContext, arguments: Any) -> ToolResult:
        """Validate, check confirmation, run. Never raises for a refusal: it returns one."""
        try:
            args = self.validate(arguments)
            if self.consequential and not ctx.take_confirmation(self.name, args):
                raise ConfirmationRequired(
                    f"{self.name} changes the order or account; list the details and get the user's explicit yes first"
                )
            for attempt in range(3):
                try:
                    value = await self.fn(ctx, **args)
                    break
                except ConcurrentUpdate:
                    if attempt == 2:
                        raise ToolError("the record is being changed by another request; try again") from None
        except ToolError as exc:
            return ToolResult(self.name, f"Error: {exc.message}", None, exc)
        return ToolResult(self.name, to_json(value), value, None)


def tool(
    *, requires_auth: bool = False, consequential: bool = False, label: str = ""
) -> Callable[[Callable[..., Awaitable[Any]]], Tool]:
    """Make a `Tool` from `async def name(ctx: ToolContext, arg: Type, ...) -> Result`.

    The docstring is the description; parameters become the schema (use `Annotated[..., Field(
    description=...)]` for per-argument text).
    """

    def wrap(fn: Callable[..., Awaitable[Any]]) -> Tool:
        hints = get_type_hints(fn, include_extras=True)
        fields: dict[str, Any] = {}
        for name, param in inspect.signature(fn).parameters.items():
            if name == "ctx":
                continue
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[name] = (hints[name], default)
        args_model = create_model(
            f"{fn.__name__}_args",
            __config__=ConfigDict(extra="forbid", strict=True),
            **fields,
        )
        return Tool(
            name=fn.__name__,
            description=inspect.cleandoc(fn.__doc__ or "").replace("\n", " "),
            fn=fn,
            args_model=args_model,
            requires_auth=requires_auth,
            consequential=consequential,
            label=label,
        )

    return wrap
