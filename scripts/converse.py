"""Play a conversation against a running shopbot server over its real sockets, and print it.

    python scripts/converse.py SCRIPT [--server http://127.0.0.1:8000] [--agent NAME --password-file F]

SCRIPT is a text file (scripts/conversations/ has the ones the docs quote), one step per line:

    shopper: do you have a bluetooth speaker under $200?
    agent: I'll swap your black mouse for the white one, charged to PayPal. OK?   (takes over first)
    release                                                                        (hands back)

Each shopper line is sent as the widget sends it (`user_uttered`); the bot's reply is read from
`bot_uttered` with the tools the server announced (`status` frames). An `agent:` line takes the
conversation over through the agent API (login, takeover) and speaks on the agent socket. The
output is Markdown, what docs/engine.md and docs/multilingual.md quote.
"""
from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import httpx
import websockets


async def recv(ws: websockets.WebSocketClientProtocol, timeout: float = 120) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def shopper_turn(ws: websockets.WebSocketClientProtocol, text: str) -> tuple[list[str], dict | None]:
    await ws.send(json.dumps({"type": "user_uttered", "text": text, "message_id": None, "payload": None}))
    tools: list[str] = []
    reply = None
    while True:
        frame = await recv(ws)
        if frame["type"] == "status" and frame.get("state") == "tool":
            tools.append(frame["tool"])
        elif frame["type"] == "bot_uttered":
            reply = frame
        elif frame["type"] == "status" and frame.get("state") == "idle":
            return tools, reply
        elif frame["type"] == "handoff" and frame.get("state") == "human":
            return tools, None


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("script", type=Path)
    parser.add_argument("--server", default="http://127.0.0.1:8000")
    parser.add_argument("--agent", default=None)
    parser.add_argument("--password-file", type=Path, default=None)
    args = parser.parse_args()
    ws_url = args.server.replace("http", "ws", 1) + "/ws"
    steps = [line.rstrip("\n") for line in args.script.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]
    async with websockets.connect(ws_url, origin=args.server) as ws:
        await ws.send(json.dumps({"type": "session_request", "session_id": None, "last_seq": None, "token": None}))
        confirm = await recv(ws)
        session = confirm["session_id"]
        agent_ws = None
        token = None
        for step in steps:
            kind, _, text = step.partition(":")
            text = text.strip()
            if kind == "shopper":
                print(f"**shopper:** {text}\n")
                tools, reply = await shopper_turn(ws, text)
                shown = f" *(tools: {', '.join(tools)})*" if tools else ""
                if reply is not None:
                    cards = "".join(f"\n  - card: {c['name']} ({c.get('price')})" for c in reply.get("cards") or [])
                    print(f"**bot**{shown}: {reply['text']}{cards}\n")
            elif kind == "agent":
                if agent_ws is None:
                    password = args.password_file.read_text().strip() if args.password_file else ""
                    async with httpx.AsyncClient(base_url=args.server) as http:
                        token = (await http.post("/api/agent/login", json={"name": args.agent, "password": password})).json()["token"]
                        (await http.post(f"/api/conversations/{session}/takeover", headers={"Authorization": f"Bearer {token}"})).raise_for_status()
                    agent_ws = await websockets.connect(args.server.replace("http", "ws", 1) + "/agent/ws", origin=args.server)
                    await agent_ws.send(json.dumps({"type": "agent_hello", "token": token}))
                    await recv(agent_ws)
                    print(f"*({args.agent} takes the conversation over)*\n")
                await agent_ws.send(json.dumps({"type": "agent_uttered", "conversation_id": session, "text": text}))
                while (await recv(ws))["type"] != "agent_uttered":
                    pass
                print(f"**agent {args.agent}:** {text}\n")
            elif step.strip() == "release" and token is not None:
                async with httpx.AsyncClient(base_url=args.server) as http:
                    (await http.post(f"/api/conversations/{session}/release", headers={"Authorization": f"Bearer {token}"})).raise_for_status()
                while (await recv(ws))["type"] != "handoff":
                    pass
                print(f"*({args.agent} hands the conversation back to the assistant)*\n")
        if agent_ws is not None:
            await agent_ws.close()


if __name__ == "__main__":
    asyncio.run(main())
