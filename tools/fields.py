"""Argument types shared by the store tools (names and meanings as in tau-bench's retail tools)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from tools.base import MAX_STRING

OrderId = Annotated[str, Field(max_length=64, description="The order id, such as '#W0000000', with the leading '#'.")]
UserId = Annotated[str, Field(max_length=128, description="The user id, such as 'sara_doe_496'.")]
ProductId = Annotated[str, Field(max_length=64, description="The product id, such as '6086499569'. Not an item id.")]
PaymentMethodId = Annotated[
    str,
    Field(
        max_length=64,
        description="A payment method id from the user's profile, such as 'gift_card_0000000' or 'credit_card_0000000'.",
    ),
]
ItemIds = Annotated[
    list[Annotated[str, Field(max_length=64)]],
    Field(max_length=100, description="Item ids, each such as '1008292230'; an id may repeat."),
]
NewItemIds = Annotated[
    list[Annotated[str, Field(max_length=64)]],
    Field(
        max_length=100,
        description="The new item ids, one per item id at the same position, each a different option of the same product.",
    ),
]
CancelReason = Literal["no longer needed", "ordered by mistake"]
Address1 = Annotated[str, Field(max_length=200, description="First address line, such as '123 Main St'.")]
Address2 = Annotated[str, Field(max_length=200, description="Second address line, such as 'Apt 1', or ''.")]
City = Annotated[str, Field(max_length=100, description="The city, such as 'San Francisco'.")]
State = Annotated[str, Field(max_length=100, description="The state or province, such as 'CA'.")]
Country = Annotated[str, Field(max_length=100, description="The country, such as 'USA'.")]
Zip = Annotated[str, Field(max_length=20, description="The zip code, such as '12345'.")]
FreeText = Annotated[str, Field(max_length=MAX_STRING)]
