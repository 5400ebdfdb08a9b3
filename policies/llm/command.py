"""What the language model writes: one command per decision, as a line of text.

    call <tool> {json arguments}        run a tool (one at a time)
    confirm <tool> {json arguments}     list a consequential action for the shopper's yes
    reply <act> {json arguments}        answer with a grounded reply template (bot/replies.py)
    reply say                           answer in the model's own words (the next line, `agent: ...`)

The line is cut into *pieces* (the verb, the name, each key, each value, the punctuation) and each
piece is tokenised on its own, in training and in decoding alike. That makes constrained decoding
exact: a choice between ids or tool names is a choice between fixed token sequences, never a
question of how a tokenizer would merge characters across a boundary.
"""
from __future__ import annotations

import json
from typing import Any

from bot.conversation import ACTS, PURPOSES, SAY, VERBS, Command, Verb  # noqa: F401  (re-exported)


def value_pieces(value: Any) -> list[str]:
    """A JSON value as pieces: strings as quote, content, quote; lists and objects element-wise."""
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, (int, float)):
        return [number_text(value)]
    if isinstance(value, str):
        inner = json.dumps(value, ensure_ascii=False)[1:-1]
        return ['"', inner, '"'] if inner else ['"', '"']
    if isinstance(value, list):
        out = ["["]
        for n, item in enumerate(value):
            if n:
                out.append(", ")
            out += value_pieces(item)
        return out + ["]"]
    if isinstance(value, dict):
        return object_pieces(value)
    if value is None:
        return ["null"]
    raise TypeError(f"not a JSON value: {value!r}")


def object_pieces(obj: dict[str, Any]) -> list[str]:
    if not obj:
        return ["{}"]
    out = ["{"]
    for n, (key, value) in enumerate(obj.items()):
        out.append(key_piece(key, first=n == 0))
        out += value_pieces(value)
    return out + ["}"]


def key_piece(key: str, first: bool) -> str:
    return ("" if first else ", ") + json.dumps(key, ensure_ascii=False) + ": "


def number_text(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def pieces(command: Command) -> list[str]:
    """The command line (after `agent>`), piece by piece, ending with a newline."""
    out = [" " + command.verb, " " + command.name]
    if command.verb == "reply" and not command.arguments:
        return out + ["\n"]
    out.append(" ")
    out += object_pieces(command.arguments)
    return out + ["\n"]


def clean_arguments(arguments: dict[str, Any] | None) -> dict[str, Any]:
    """Arguments as the model writes them: no nulls, no empty optional lists or objects."""
    out = {}
    for key, value in (arguments or {}).items():
        if value is None or value == {} or (value == [] and key not in ("item_ids", "new_item_ids")):
            continue
        out[key] = value
    return out


def parse_line(line: str) -> Command:
    """A command line (as `Command.line()` writes it, without `agent>`) back into a Command.
    Raises ValueError on anything else."""
    text = line.strip()
    verb, _, rest = text.partition(" ")
    if verb not in VERBS:
        raise ValueError(f"not a command: {line!r}")
    name, _, raw = rest.partition(" ")
    if not name:
        raise ValueError(f"no name in command: {line!r}")
    arguments: dict[str, Any] = {}
    if raw.strip():
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise ValueError(f"arguments are not an object: {line!r}")
        arguments = value
    return Command(verb, name, arguments)  # type: ignore[arg-type]
