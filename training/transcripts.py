"""Transcripts: JSONL, one conversation per line, `{"id": ..., "messages": [...]}` (OpenAI chat format).

See docs/transcripts.md. `decision_points` turns a transcript into (context, gold step) pairs:
one per assistant message, the step being a tool call (name, arguments) or `respond`.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESPOND = "respond"


class TranscriptError(ValueError):
    """A line that is not a valid transcript."""


@dataclass
class Transcript:
    id: str
    messages: list[dict[str, Any]]

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "messages": self.messages}, ensure_ascii=False)


@dataclass
class Step:
    """The gold next step: a tool call or a reply."""

    action: str  # a tool name or RESPOND
    arguments: dict[str, Any] | None = None
    text: str | None = None


def validate(data: Any, where: str = "transcript") -> Transcript:
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise TranscriptError(f"{where}: expected an object with a 'messages' list")
    for n, m in enumerate(data["messages"]):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool"):
            raise TranscriptError(f"{where}: message {n} has no valid role")
        if m["role"] == "assistant" and m.get("tool_calls"):
            for call in m["tool_calls"]:
                fn = call.get("function") if isinstance(call, dict) else None
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                    raise TranscriptError(f"{where}: message {n} has a malformed tool call")
        if m["role"] == "tool" and "content" not in m:
            raise TranscriptError(f"{where}: message {n} (tool) has no content")
    return Transcript(id=str(data.get("id", where)), messages=data["messages"])


def read_jsonl(path: Path) -> list[Transcript]:
    out = []
    with Path(path).open(encoding="utf-8") as handle:
        for n, line in enumerate(handle, 1):
            if line.strip():
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise TranscriptError(f"{path}:{n}: invalid JSON: {exc.msg}") from None
                out.append(validate(data, f"{path}:{n}"))
    return out


def write_jsonl(path: Path, transcripts: list[Transcript]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for t in transcripts:
            handle.write(t.to_json() + "\n")


def parse_arguments(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None
    return None


def step_of(message: dict[str, Any]) -> Step:
    calls = message.get("tool_calls") or []
    if calls:
        fn = calls[0]["function"]
        return Step(fn["name"], parse_arguments(fn.get("arguments")))
    return Step(RESPOND, None, message.get("content") or "")


def decision_points(transcript: Transcript) -> Iterator[tuple[list[dict[str, Any]], Step]]:
    """(conversation before the assistant message, its step), for every assistant message."""
    for n, message in enumerate(transcript.messages):
        if message.get("role") == "assistant":
            yield transcript.messages[:n], step_of(message)
