"""WebSocket protocol v1: one pydantic model per frame, discriminated by `type`.

Frame order on the shopper socket (`/ws`, JSON text frames; docs/protocol.md has the prose):

    client  session_request {session_id|null, last_seq|null, token|null}      -- must come first
    server  session_confirm {session_id, seq, head}      -- seq: the client's last_seq (0 if none)
    server  <every stored event with seq > last_seq, exactly once, in order>   -- the replay
    then, any number of times:
    client  user_uttered {text, message_id|null, payload|null}
    server  user_uttered {text, message_id}      -- the accepted (possibly redacted) message, stored
    server  [moderation {action, reason}]        -- the shopper's text was redacted / blocked / flagged
    server  status thinking
    server  ( status tool {tool, label} )*
    server  bot_delta {turn_id, text}*           -- chunks of the reply as they are produced
    server  bot_uttered {turn_id, text, cards, quick_replies}   -- stored; text == "".join(deltas)
    server  [handoff {state}]                    -- the conversation waits for a human
    server  status idle
    and at any time: agent_uttered {text, agent}, handoff {state}, error {code, message}.

Messages that arrive while a turn runs are queued and answered one after another. Every server
frame carries `seq`, per session, strictly increasing. Stored events (user_uttered,
bot_uttered, handoff, agent_uttered, moderation) are replayed on resume; transient ones (status,
bot_delta) are not: the bot_uttered that ends a turn carries the whole reply.
"""
from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PROTOCOL_VERSION = 1
MAX_TEXT = 4000  # characters in one shopper message


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore")


# ---------------------------------------------------------------- client -> server
class SessionRequest(_Frame):
    type: Literal["session_request"]
    session_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    last_seq: Annotated[int, Field(ge=0)] | None = None
    token: Annotated[str, Field(max_length=2048)] | None = None


class UserUttered(_Frame):
    type: Literal["user_uttered"]
    text: Annotated[str, Field(max_length=MAX_TEXT)]
    message_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    payload: Annotated[str, Field(max_length=256)] | None = None


ClientFrame = Annotated[SessionRequest | UserUttered, Field(discriminator="type")]
CLIENT_TYPES = ("session_request", "user_uttered")
_client_adapter: TypeAdapter[SessionRequest | UserUttered] = TypeAdapter(ClientFrame)


# ---------------------------------------------------------------- server -> client
class SessionConfirm(_Frame):
    type: Literal["session_confirm"] = "session_confirm"
    session_id: str
    seq: int  # the resume point: the replay that follows holds every stored event after it
    head: int  # the newest seq of the session when it was confirmed
    version: int = PROTOCOL_VERSION


class UserEcho(_Frame):
    type: Literal["user_uttered"] = "user_uttered"
    text: str
    message_id: str | None = None
    payload: str | None = None


class Status(_Frame):
    type: Literal["status"] = "status"
    state: Literal["thinking", "tool", "idle"]
    tool: str | None = None
    label: str | None = None


class BotDelta(_Frame):
    type: Literal["bot_delta"] = "bot_delta"
    turn_id: str
    text: str


class Card(_Frame):
    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    price: float | None = None
    image: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class QuickReply(_Frame):
    title: str
    payload: str


class BotUttered(_Frame):
    type: Literal["bot_uttered"] = "bot_uttered"
    turn_id: str
    text: str
    cards: list[Card] = Field(default_factory=list)
    quick_replies: list[QuickReply] = Field(default_factory=list)


class Handoff(_Frame):
    type: Literal["handoff"] = "handoff"
    state: Literal["bot", "handoff_requested", "human", "resolved"]
    agent: str | None = None  # the human's display name while state is "human"


class AgentUttered(_Frame):
    type: Literal["agent_uttered"] = "agent_uttered"
    text: str
    agent: str


class Moderation(_Frame):
    type: Literal["moderation"] = "moderation"
    action: Literal["redact", "block", "flag"]
    reason: str


class Error(_Frame):
    type: Literal["error"] = "error"
    code: str
    message: str


ServerFrame = SessionConfirm | UserEcho | Status | BotDelta | BotUttered | Handoff | AgentUttered | Moderation | Error
STORED_TYPES = frozenset({"user_uttered", "bot_uttered", "handoff", "agent_uttered", "moderation"})

# ---------------------------------------------------------------- errors
# code -> (generic message, whether the socket is closed after it). The only error texts that
# ever reach a client; details go to the log.
ERRORS: dict[str, tuple[str, bool]] = {
    "frame_too_large": ("The frame is larger than the server accepts.", False),
    "binary_not_supported": ("Only JSON text frames are accepted.", False),
    "malformed_json": ("The frame is not valid JSON.", False),
    "unknown_type": ("The frame type is not known.", False),
    "invalid_frame": ("The frame is missing fields or has fields of the wrong type.", False),
    "session_required": ("Send session_request first.", False),
    "session_already_started": ("This socket already has a session.", False),
    "unknown_session": ("The session does not exist; start a new one with session_id null.", False),
    "rate_limited": ("Too many messages; slow down.", False),
    "invalid_token": ("The shopper token is invalid or expired.", True),
    "token_required": ("This server requires a shopper token.", True),
    "origin_not_allowed": ("This origin may not open a chat.", True),
    "too_many_connections": ("Too many connections from this address.", True),
    "idle_timeout": ("The connection was idle for too long.", True),
    "engine_unavailable": ("The assistant is not available right now.", False),
    "storage_unavailable": ("The conversation cannot be saved right now; send the message again in a moment.", False),
    "internal_error": ("Something went wrong on our side.", False),
}


class ProtocolError(Exception):
    """A client-visible error: `code` is one of ERRORS; `detail` is for the log only."""

    def __init__(self, code: str, detail: str = "") -> None:
        if code not in ERRORS:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail

    @property
    def fatal(self) -> bool:
        return ERRORS[self.code][1]


def error_frame(code: str) -> dict[str, Any]:
    """The one way an error is put on the wire: a code and its generic message."""
    return Error(code=code, message=ERRORS[code][0]).model_dump()


def parse_client_frame(text: str, max_bytes: int) -> SessionRequest | UserUttered:
    """Decode one text frame or raise ProtocolError with the documented code."""
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise ProtocolError("frame_too_large", f"{len(text)} characters")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError("malformed_json", str(exc)) from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError("invalid_frame", "not an object with a string type")
    if data["type"] not in CLIENT_TYPES:
        raise ProtocolError("unknown_type", repr(data["type"])[:80])
    try:
        return _client_adapter.validate_python(data)
    except ValidationError as exc:
        raise ProtocolError("invalid_frame", "; ".join(f"{e['loc']}: {e['msg']}" for e in exc.errors())) from None


def frame(model: _Frame, seq: int) -> dict[str, Any]:
    """A server frame as sent: the model's fields plus `seq`."""
    data = model.model_dump()
    data["seq"] = seq
    return data
