from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bot.store import queries
from tools.base import ToolContext, ToolError, tool
from tools.fields import Zip


@tool(label="Looking up your account...")
async def find_user_id_by_name_zip(
    ctx: ToolContext,
    first_name: Annotated[str, Field(max_length=100, description="The first name, such as 'John'.")],
    last_name: Annotated[str, Field(max_length=100, description="The last name, such as 'Doe'.")],
    zip: Zip,
) -> str:
    """Find a user's id from first name, last name and zip code. Use it when the email is unknown or not found. A successful match authenticates the user for this conversation."""
    async with ctx.db.read() as session:
        user_id = await queries.find_user_id_by_name_zip(session, first_name, last_name, zip)
    if user_id is None:
        raise ToolError("user not found")
    ctx.authenticate(user_id)
    return user_id
