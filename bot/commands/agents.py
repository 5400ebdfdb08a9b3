"""`shopbot agents add NAME --password-stdin [--role agent|admin]` and `shopbot agents list`."""
from __future__ import annotations

import argparse
import asyncio
import sys

from bot.settings import Settings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    agents = subparsers.add_parser("agents", help="manage support agent accounts")
    actions = agents.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="create an agent account")
    add.add_argument("name")
    add.add_argument("--password-stdin", action="store_true", required=True, help="read the password from stdin")
    add.add_argument("--role", choices=["agent", "admin"], default="agent")
    add.set_defaults(func=run_add)
    lst = actions.add_parser("list", help="list agent accounts")
    lst.set_defaults(func=run_list)


async def _add(settings: Settings, name: str, password: str, role: str) -> str:
    from bot.agents import AgentError, Role, add_agent
    from bot.db import Database
    from bot.migrate import upgrade_async

    await upgrade_async(settings.database_url)
    db = Database(settings.database_url)
    try:
        agent = await add_agent(db, name, password, Role(role))
        return f"added {agent.role.value} {agent.name!r}"
    except AgentError as exc:
        return f"error: {exc.message}"
    finally:
        await db.dispose()


def run_add(args: argparse.Namespace, settings: Settings) -> int:
    password = sys.stdin.readline().rstrip("\n")
    message = asyncio.run(_add(settings, args.name, password, args.role))
    print(message)
    return 2 if message.startswith("error") else 0


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.agents import list_agents
    from bot.db import Database

    async def _list() -> None:
        db = Database(settings.database_url)
        try:
            for agent in await list_agents(db):
                print(f"{agent.name}\t{agent.role.value}")
        finally:
            await db.dispose()

    asyncio.run(_list())
    return 0
