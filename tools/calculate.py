from __future__ import annotations

import ast
import operator
from typing import Annotated

from pydantic import Field

from tools.base import ToolContext, ToolError, tool

_ALLOWED = set("0123456789+-*/(). ")
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def evaluate(expression: str) -> float:
    """Arithmetic on numbers with + - * / and parentheses; nothing else is evaluated."""

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        raise ToolError("invalid expression")

    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise ToolError("invalid syntax") from None
    try:
        return float(walk(tree))
    except ZeroDivisionError:
        raise ToolError("division by zero") from None


@tool(label="Calculating...")
async def calculate(
    ctx: ToolContext,
    expression: Annotated[
        str,
        Field(max_length=500, description="An arithmetic expression with numbers, + - * /, parentheses and spaces, such as '2 + 2'."),
    ],
) -> str:
    """Calculate the result of an arithmetic expression, rounded to 2 decimals."""
    if not all(char in _ALLOWED for char in expression):
        raise ToolError("invalid characters in expression")
    return str(round(evaluate(expression), 2))
