from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bot.store import queries
from tools.base import ToolContext, ToolError, tool


@tool(label="Looking up your account...")
async def find_user_id_by_email(
    ctx: ToolContext,
    email: Annotated[str, Field(max_length=320, description="The email address, such as 'something@example.com'.")],
) -> str:
    """Find a user's id from their email address. A successful match authenticates the user for this conversation."""
    async with ctx.db.read() as session:
        user_id = await queries.find_user_id_by_email(session, email)
    if user_id is None:
        raise ToolError("user not found")
    ctx.authenticate(user_id)
    return user_id
