"""A frustration signal from the shopper's own words, for the handoff rules.

Angry is not abusive (moderation handles abuse): "this is the third time I ask, just give me a
person!!" is a polite shopper at the end of their patience, and a human should step in. The score
adds up cues with weights and decays over the conversation, so one sharp word does not hand off
but a run of them does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

PHRASES: tuple[tuple[str, float], ...] = (
    (r"\b(third|3rd|fourth|again and again|how many times|keep asking|already (told|said|asked))\b", 0.6),
    (r"\b(useless|pointless|ridiculous|unacceptable|absurd|joke|waste of (my )?time|terrible service|worst)\b", 0.5),
    (r"\b(not helping|doesn'?t help|you don'?t understand|not what i (asked|said)|stupid bot|dumb bot)\b", 0.6),
    (r"\b(frustrat\w*|annoy\w*|fed up|sick of|tired of|angry|furious|upset|disappointed)\b", 0.4),
    (r"\b(cancel my account|never (shop|buy|order) (here|again)|report you|lawyer|chargeback)\b", 0.5),
)
_COMPILED = tuple((re.compile(p, re.IGNORECASE), w) for p, w in PHRASES)
DECAY = 0.6  # what is left of the score after each message
THRESHOLD = 1.0


@dataclass(frozen=True)
class Frustration:
    score: float
    cues: tuple[str, ...]

    @property
    def needs_human(self) -> bool:
        return self.score >= THRESHOLD


def message_score(text: str) -> tuple[float, list[str]]:
    """Cues in one message and their weight."""
    cues: list[str] = []
    score = 0.0
    for pattern, weight in _COMPILED:
        found = pattern.search(text)
        if found:
            score += weight
            cues.append(found.group(0).lower())
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.7:
        score += 0.4
        cues.append("shouting")
    if text.count("!") >= 3 or "?!" in text:
        score += 0.2
        cues.append("exclamations")
    return score, cues


def update(previous: float, text: str) -> Frustration:
    """The running score after one more shopper message."""
    score, cues = message_score(text)
    return Frustration(round(previous * DECAY + score, 3), tuple(cues))
