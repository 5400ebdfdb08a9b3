from __future__ import annotations

from bot.store import queries
from bot.store.records import UserRecord
from tools.base import ToolContext, ToolError, tool
from tools.fields import UserId


@tool(requires_auth=True, label="Looking up your account...")
async def get_user_details(ctx: ToolContext, user_id: UserId) -> UserRecord:
    """Get the authenticated user's profile: name, address, email, payment methods (with gift card balances) and order ids."""
    ctx.require_user(user_id)
    async with ctx.db.read() as session:
        user = await queries.get_user(session, user_id)
    if user is None:
        raise ToolError("user not found")
    return user
