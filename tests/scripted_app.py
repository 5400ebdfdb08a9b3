"""`uvicorn tests.scripted_app:app --factory`: the real server with the scripted test engine, for
tests that need separate server processes (settings from the environment, as in production)."""
from __future__ import annotations

from fastapi import FastAPI

from bot.settings import Settings
from bot.shopper_socket import ChatLimits
from policies.moderation_api import AllowAll
from server import create_app
from tests.scripted_engine import ScriptedEngine


def app() -> FastAPI:
    limits = ChatLimits(ip_rate=1000, ip_burst=1000, connect_rate=1000, connect_burst=1000, session_rate=1000, session_burst=1000)
    return create_app(Settings.from_env(), engine=ScriptedEngine(delay=0.01), moderator=AllowAll(), limits=limits)
