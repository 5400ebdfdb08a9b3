"""Support agents: accounts (argon2 password hashes), roles, and expiring bearer tokens.

Tokens are signed (HMAC-SHA256) with the server's secret and carry their kind: an agent token is
`kind="agent"`, so it can never open a shopper socket, and a shopper token can never reach an
agent endpoint (`verify_agent_token` refuses any other kind).
"""
from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import DateTime, String, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base, Database

TOKEN_TTL_S = 8 * 3600
_hasher = PasswordHasher()


class Role(str, enum.Enum):
    agent = "agent"
    admin = "admin"


class AgentRow(Base):
    __tablename__ = "agents"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.agent.value)
    created_at = mapped_column(DateTime(timezone=True), server_default=func.now())


class AgentError(Exception):
    """Account or token problem; `code` is what the API reports."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Agent:
    name: str
    role: Role


def load_secret(home: Path) -> bytes:
    """The server's signing secret: `SHOPBOT_HOME/secret.key`, created once with 32 random bytes."""
    path = home / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(secret: bytes, claims: dict[str, object]) -> str:
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    signature = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
    return f"{body}.{signature}"


def verify_token(secret: bytes, token: str, *, kind: str, now: float | None = None) -> dict[str, object]:
    """The token's claims if it is well formed, correctly signed, unexpired and of `kind`."""
    try:
        body, signature = token.split(".", 1)
        expected = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(signature, expected):
            raise AgentError("bad_token", "invalid token")
        claims = json.loads(_unb64(body))
    except (ValueError, json.JSONDecodeError, UnicodeDecodeError):
        raise AgentError("bad_token", "invalid token") from None
    if not isinstance(claims, dict) or claims.get("kind") != kind:
        raise AgentError("bad_token", "invalid token")
    if float(claims.get("exp", 0)) < (now if now is not None else time.time()):
        raise AgentError("token_expired", "token expired")
    return claims


def issue_agent_token(secret: bytes, agent: Agent, ttl_s: int = TOKEN_TTL_S) -> str:
    return sign_token(secret, {"kind": "agent", "sub": agent.name, "role": agent.role.value, "exp": int(time.time()) + ttl_s})


def verify_agent_token(secret: bytes, token: str) -> Agent:
    claims = verify_token(secret, token, kind="agent")
    return Agent(name=str(claims["sub"]), role=Role(str(claims.get("role", "agent"))))


def _check_name(name: str) -> str:
    name = name.strip()
    if not (1 <= len(name) <= 64) or not all(ch.isalnum() or ch in "._- " for ch in name):
        raise AgentError("bad_name", "agent names are 1-64 letters, digits, spaces, '.', '_' or '-'")
    return name


async def add_agent(db: Database, name: str, password: str, role: Role = Role.agent) -> Agent:
    name = _check_name(name)
    if len(password) < 8:
        raise AgentError("weak_password", "passwords need at least 8 characters")
    try:
        async with db.write() as session:
            session.add(AgentRow(name=name, password_hash=_hasher.hash(password), role=role.value))
    except IntegrityError:
        raise AgentError("exists", f"agent {name!r} already exists") from None
    return Agent(name=name, role=role)


async def authenticate_agent(db: Database, name: str, password: str) -> Agent:
    """The agent if the password matches; the same error whether the name or the password is wrong."""
    async with db.read() as session:
        found = (await session.execute(select(AgentRow.name, AgentRow.password_hash, AgentRow.role).where(AgentRow.name == name))).first()
    if found is None:
        _hasher.hash(password)  # spend the same time as a real check
        raise AgentError("bad_credentials", "wrong name or password")
    try:
        _hasher.verify(found.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise AgentError("bad_credentials", "wrong name or password") from None
    return Agent(name=found.name, role=Role(found.role))


async def list_agents(db: Database) -> list[Agent]:
    async with db.read() as session:
        rows = (await session.execute(select(AgentRow.name, AgentRow.role).order_by(AgentRow.name))).all()
    return [Agent(name, Role(role)) for name, role in rows]
