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
# Every question put to this search is about the policy: "policy" itself ranks nothing.
STOP |= frozenset("policy policies rule rules".split())


def tokenize(text: str) -> list[str]:
    out = []
    for t in TOKEN.findall(text.lower()):
        if t in STOP or len(t) < 2:  # "what's" leaves an "s"
            continue
        out.append(stem(t))
    return out


def stem(word: str) -> str:
    """Crude stemming so that 'refunds'/'refunded' meet 'refund', 'exchanged'/'exchange' meet
    'exchanging' and 'cancelled' meets 'cancel'."""
    for suffix in ("ing", "ed", "s"):
        if len(word) > 4 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word.endswith("e"):  # "exchanges" -> "exchange" -> "exchang"; "case(s)" -> "cas"
        word = word[:-1]
    if len(word) > 4 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]
    return word


@dataclass(frozen=True)
class Passage:
    section: str
    text: str


def split_passages(markdown: str) -> list[Passage]:
    """One passage per bullet or paragraph, tagged with its heading. When the document has
    sections (`##`), the text under its title (`#`) is the document's introduction, about the
    document itself, and answers nothing."""
    passages: list[Passage] = []
    section = "Policy"
    buffer: list[str] = []
    intro = False
    has_sections = any(line.startswith("## ") for line in markdown.splitlines())

    def flush() -> None:
        text = " ".join(" ".join(buffer).split())
        if text and not intro:
            passages.append(Passage(section, text))
        buffer.clear()

    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            flush()
            section = stripped.lstrip("#").strip()
            intro = has_sections and not stripped.startswith("##")
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

    def search(self, query: str, k: int = 3) -> list[dict[str, Any]]:
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
