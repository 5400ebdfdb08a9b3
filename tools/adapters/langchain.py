"""Our tools as LangChain `StructuredTool`s (langchain-core), bound to one conversation's context.

    lc_tools = to_langchain_tools(default_tools(), ToolContext(db))
    await lc_tools[0].ainvoke({"email": "ann@example.com"})

The argument schema is the tool's own pydantic model, so LangChain's OpenAI conversion gives the
same function schema as `Tool.schema()`. Results are the tau-bench text (JSON or `Error: ...`).
"""
from __future__ import annotations

from typing import Any

from langchain_core.tools import StructuredTool

from tools.base import Tool, ToolContext


def to_langchain_tool(tool: Tool, ctx: ToolContext) -> StructuredTool:
    async def run(**arguments: Any) -> str:
        return (await tool.invoke(ctx, arguments)).text

    def run_sync(**arguments: Any) -> str:
        raise NotImplementedError(f"{tool.name} is async: use ainvoke")

    return StructuredTool.from_function(
        func=run_sync,
        coroutine=run,
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_model,
        infer_schema=False,
    )


def to_langchain_tools(tools: dict[str, Tool], ctx: ToolContext) -> list[StructuredTool]:
    return [to_langchain_tool(t, ctx) for t in tools.values()]
