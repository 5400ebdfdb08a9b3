"""Signed shopper tokens: the store's backend vouches for who the shopper is.

The store's backend (which already knows its logged-in user) issues a token with the shared secret
(`SHOPBOT_SHOPPER_TOKEN_SECRET`) and puts it in the widget tag (`data-token`). The chat server
verifies it in `session_request`; a verified token pre-authenticates the conversation
(`ConversationState.user_id`), so the shopper is not asked for their email or zip code.

Format: `base64url(json{"sub", "iat", "exp"}) "." base64url(HMAC-SHA256(secret, first part))`.

    from bot.auth import issue_shopper_token
    token = issue_shopper_token(secret, "sara_doe_496", ttl_s=3600)
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time


class InvalidToken(Exception):
    """Bad signature, malformed, or expired. The reason is for the log, never for the client."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode("utf-8"), body.encode("ascii"), hashlib.sha256).digest())


def issue_shopper_token(secret: str, user_id: str, *, ttl_s: int = 3600, now: float | None = None) -> str:
    """A token saying "this shopper is `user_id`", valid for `ttl_s` seconds."""
    if not secret:
        raise ValueError("a shopper token secret is required")
    if not user_id:
        raise ValueError("user_id is required")
    issued = int(time.time() if now is None else now)
    body = _b64(json.dumps({"sub": user_id, "iat": issued, "exp": issued + int(ttl_s)}, separators=(",", ":")).encode("utf-8"))
    return f"{body}.{_sign(secret, body)}"


def verify_shopper_token(secret: str, token: str, *, now: float | None = None, leeway_s: int = 30) -> str:
    """The user id the token vouches for, or InvalidToken."""
    if not secret:
        raise InvalidToken("no secret configured")
    try:
        body, signature = token.split(".")
    except ValueError:
        raise InvalidToken("malformed token") from None
    try:
        expected = _sign(secret, body)
    except UnicodeEncodeError:
        raise InvalidToken("malformed token") from None
    if not hmac.compare_digest(expected, signature):
        raise InvalidToken("bad signature")
    try:
        claims = json.loads(_unb64(body))
        user_id, expires = claims["sub"], int(claims["exp"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidToken(f"malformed claims: {exc}") from None
    if not isinstance(user_id, str) or not user_id:
        raise InvalidToken("no subject")
    if (time.time() if now is None else now) > expires + leeway_s:
        raise InvalidToken("expired")
    return user_id
