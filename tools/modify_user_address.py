from __future__ import annotations

from bot.store import queries
from bot.store.records import UserRecord
from tools.base import ToolContext, ToolError, tool
from tools.fields import Address1, Address2, City, Country, State, UserId, Zip


@tool(requires_auth=True, consequential=True, label="Updating your address...")
async def modify_user_address(
    ctx: ToolContext,
    user_id: UserId,
    address1: Address1,
    address2: Address2,
    city: City,
    state: State,
    country: Country,
    zip: Zip,
) -> UserRecord:
    """Change the authenticated user's default address. List the details and get the user's explicit yes first."""
    ctx.require_user(user_id)
    async with ctx.db.write() as session:
        user = await queries.get_user(session, user_id, for_update=True)
        if user is None:
            raise ToolError("user not found")
        user.address = {
            "address1": address1,
            "address2": address2,
            "city": city,
            "state": state,
            "country": country,
            "zip": zip,
        }
        await queries.save_user_address(session, user)
    return user
