"""Every tool the engine can call, by name."""
from __future__ import annotations

import importlib

from tools.base import Tool

# The store tools (tau-bench retail names and semantics), then shopbot's own.
STORE_TOOLS: tuple[str, ...] = (
    "find_user_id_by_email",
    "find_user_id_by_name_zip",
    "get_user_details",
    "get_order_details",
    "get_product_details",
    "list_all_product_types",
    "cancel_pending_order",
    "modify_pending_order_address",
    "modify_pending_order_payment",
    "modify_pending_order_items",
    "return_delivered_order_items",
    "exchange_delivered_order_items",
    "modify_user_address",
    "calculate",
    "transfer_to_human_agents",
)
# Tools added by later features; each module `tools.<name>` defines a `Tool` called `<name>`.
EXTRA_TOOLS: tuple[str, ...] = ("search_policy", "search_products", "recommend_products", "describe_product")


def load_tool(name: str) -> Tool:
    module = importlib.import_module(f"tools.{name}")
    found = getattr(module, name)
    if not isinstance(found, Tool):
        raise TypeError(f"tools.{name}.{name} is not a Tool")
    return found


def default_tools() -> dict[str, Tool]:
    return {name: load_tool(name) for name in STORE_TOOLS + EXTRA_TOOLS}


def tool_schemas(tools: dict[str, Tool] | None = None) -> list[dict]:
    return [t.schema() for t in (tools or default_tools()).values()]
