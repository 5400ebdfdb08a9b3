"""Agent accounts and tokens: argon2 hashes, roles, expiry, and token kinds that never cross."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.agents import (
    Agent,
    AgentError,
    Role,
    add_agent,
    authenticate_agent,
    issue_agent_token,
    load_secret,
    sign_token,
    verify_agent_token,
    verify_token,
)
from bot.db import Database
from bot.migrate import upgrade_async


@pytest.fixture
async def db(database_url: str):
    url = database_url
    await upgrade_async(url)
    database = Database(url)
    yield database
    await database.dispose()


async def test_add_and_login(db: Database) -> None:
    agent = await add_agent(db, "Alex", "correct horse", Role.admin)
    assert agent == Agent("Alex", Role.admin)
    assert await authenticate_agent(db, "Alex", "correct horse") == agent
    for name, password in (("Alex", "wrong password"), ("Nobody", "correct horse")):
        with pytest.raises(AgentError) as err:
            await authenticate_agent(db, name, password)
        assert err.value.code == "bad_credentials"


async def test_password_is_hashed_with_argon2(db: Database) -> None:
    await add_agent(db, "Sam", "s3cret-pass")
    async with db.read() as session:
        stored = (await session.execute(__import__("sqlalchemy").text("select password_hash from agents"))).scalar_one()
    assert stored.startswith("$argon2") and "s3cret-pass" not in stored


async def test_bad_accounts_refused(db: Database) -> None:
    await add_agent(db, "Sam", "long enough")
    for name, password, code in (("Sam", "long enough", "exists"), ("Kim", "short", "weak_password"), ("<script>", "long enough", "bad_name"), ("", "long enough", "bad_name")):
        with pytest.raises(AgentError) as err:
            await add_agent(db, name, password)
        assert err.value.code == code


def test_tokens_expire_and_never_cross_kinds(tmp_path: Path) -> None:
    secret = load_secret(tmp_path)
    assert load_secret(tmp_path) == secret  # stable once created
    token = issue_agent_token(secret, Agent("Alex", Role.agent))
    assert verify_agent_token(secret, token) == Agent("Alex", Role.agent)
    shopper = sign_token(secret, {"kind": "shopper", "sub": "ann_lee_1111", "exp": time.time() + 60})
    with pytest.raises(AgentError):
        verify_agent_token(secret, shopper)
    with pytest.raises(AgentError):
        verify_token(secret, token, kind="shopper")
    expired = sign_token(secret, {"kind": "agent", "sub": "Alex", "role": "agent", "exp": time.time() - 1})
    with pytest.raises(AgentError) as err:
        verify_agent_token(secret, expired)
    assert err.value.code == "token_expired"
    body, signature = token.split(".")
    for forged in (body + ".AAAA", "garbage", "", token + "x", body[:-2] + "." + signature):
        with pytest.raises(AgentError):
            verify_agent_token(secret, forged)
    with pytest.raises(AgentError):
        verify_agent_token(b"another secret", token)


def test_cli_adds_agent_from_stdin(tmp_path: Path, database_url: str) -> None:
    env = {**os.environ, "SHOPBOT_HOME": str(tmp_path), "SHOPBOT_DATABASE_URL": database_url}
    cmd = [sys.executable, "-m", "bot.cli", "agents", "add", "Alex", "--password-stdin", "--role", "admin"]
    done = subprocess.run(cmd, input="a good password\n", env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "added admin 'Alex'" in done.stdout and "a good password" not in done.stdout + done.stderr
    listed = subprocess.run([sys.executable, "-m", "bot.cli", "agents", "list"], env=env, capture_output=True, text=True, timeout=120)
    assert "Alex\tadmin" in listed.stdout
