from __future__ import annotations

from typing import Annotated

from pydantic import Field

from tools.base import ToolContext, tool


@tool(label="Connecting you with a person...")
async def transfer_to_human_agents(
    ctx: ToolContext,
    summary: Annotated[str, Field(max_length=2000, description="A short summary of the user's issue for the human agent.")],
) -> str:
    """Hand the conversation to a human agent, with a summary. Use it only when the user asks for a human or the request cannot be handled with the other tools."""
    handoff = ctx.services.get("handoff")
    if handoff is not None:
        await handoff(ctx.conversation_id, summary)
    return "Transfer successful"
