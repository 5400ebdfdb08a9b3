"""Tools the dialogue engine calls: one module per tool, each a typed function with a JSON schema.

`tools.registry.default_tools()` returns them all; `tools.base` defines the contract.
"""
