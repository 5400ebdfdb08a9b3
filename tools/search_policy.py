"""`search_policy`: passages of the store policy document that answer a question (BM25).

The policy is `policies/store_policy.md` (operators replace it). It is split into passages, one
per bullet or paragraph, each tagged with its section heading. The index is small and built
lazily; the engine passes one in `ctx.services["policy"]` so it is built once per process.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from tools.base import ToolContext, ToolError, tool

POLICY_PATH = Path(__file__).resolve().parent.parent / "policies" / "store_policy.md"
TOKEN = re.compile(r"[a-z0-9]+")
STOP = frozenset("a an the to of and or in on for is are be it i my me can do does how what when with you your if".split())


def tokenize(text: str) -> list[str]:
    out = []
    for t in TOKEN.findall(text.lower()):
        if t in STOP:
            continue
        # crude stemming so 'refunds'/'refunded' meet 'refund'
        for suffix in ("ing", "ed", "s"):
            if len(t) > 4 and t.endswith(suffix):
                t = t[: -len(suffix)]
                break
        out.append(t)
    return out


@dataclass(frozen=True)
class Passage:
    section: str
    text: str


def split_passages(markdown: str) -> list[Passage]:
    passages: list[Passage] = []
    section = "Policy"
    buffer: list[str] = []

    def flush() -> None:
        text = " ".join(" ".join(buffer).split())
        if text:
            passages.append(Passage(section, text))
        buffer.clear()

    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            flush()
            section = stripped.lstrip("#").strip()
        elif not stripped:
            flush()
        elif stripped.startswith(("- ", "* ")):
            flush()
            buffer.append(stripped[2:])
        else:
            buffer.append(stripped)
    flush()
    return passages


class PolicyIndex:
    """BM25 over the policy passages."""

    def __init__(self, passages: list[Passage]) -> None:
        from rank_bm25 import BM25Okapi

        if not passages:
            raise ValueError("the policy document has no passages")
        self.passages = passages
        self.bm25 = BM25Okapi([tokenize(p.section + " " + p.text) for p in passages])

    @classmethod
    def from_file(cls, path: Path = POLICY_PATH) -> "PolicyIndex":
        return cls(split_passages(Path(path).read_text(encoding="utf-8")))

    def search(self, query: str, k: int = 2) -> list[dict[str, Any]]:
        tokens = tokenize(query)
        if not tokens:
            return []
        scores = self.bm25.get_scores(tokens)
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i])[:k]
        return [
            {"section": self.passages[i].section, "text": self.passages[i].text, "score": round(float(scores[i]), 3)}
            for i in ranked
            if scores[i] > 0
        ]


@lru_cache(maxsize=4)
def default_index(path: str = str(POLICY_PATH)) -> PolicyIndex:
    return PolicyIndex.from_file(Path(path))


@tool(label="Checking our policy...")
async def search_policy(
    ctx: ToolContext,
    query: Annotated[str, Field(max_length=500, description="The shopper's policy question, such as 'how long does a refund take?'.")],
) -> list[dict[str, Any]]:
    """Find the passages of the store policy that answer a question about refunds, returns, exchanges, cancellations, payment or what the assistant can do."""
    index = ctx.services.get("policy")
    if index is None:
        try:
            index = default_index()
        except (OSError, ValueError) as exc:
            raise ToolError("the store policy is not available") from exc
    return index.search(query)
