"""A wording-shift check: re-word transcripts with phrasings the training data never uses.

`python -m training.shifted IN.jsonl OUT.jsonl` rewrites every agent reply and the shoppers'
confirmations with held-out paraphrases (none of them appears in the simulator or in
`training.phrasing`), keeping tool calls and results unchanged. Scoring the dev split before and
after (`shopbot evaluate`) shows how much the model depends on the exact template wording, a
rough proxy for conversations written by other agents.
"""
from __future__ import annotations

import random
import re
import sys
from pathlib import Path

from training.transcripts import Transcript, read_jsonl, write_jsonl

AGENT_REWRITES: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"I can help with that\. First I need to verify your identity:.*"),
     ("Before I can look into your account, I need to authenticate you. Please share your email address, or your first name, last name, and zip code.",
      "Of course. To locate your profile, may I have the email tied to your account? Your full name plus zip code works too.")),
    (re.compile(r"Shall I go ahead \(yes/no\)\?"),
     ("If everything looks correct, reply 'yes' and I will submit it.", "Is everything correct? Reply yes to continue.")),
    (re.compile(r"^To confirm: "), ("Please review the following action: ", "Here is what I'm about to do: ")),
    (re.compile(r"Which order would you like to ([^?]+)\? Your orders are:"),
     (r"Please tell me which order you'd like to \1. These are the orders on your profile:",)),
    (re.compile(r"Which payment method should be used"), ("Let me know which payment method to use",)),
    (re.compile(r"Anything else\?|Is there anything else I can help with\?|Anything else I can help with\?"),
     ("Can I assist with anything further?", "Let me know if there's more I can do.")),
    (re.compile(r"^Thanks, (\w+), you are verified\. How can I help you today\?"),
     (r"Thank you, \1. I've found your account. What can I do for you today?",)),
)
YES_REWRITES = ("Yes, that all looks right, please submit it.", "Correct, go for it.", "Yes. Please do that.", "yes that's what I want")
YES_LIKE = re.compile(r"^\s*(yes|yep|sure|ok|confirm)\b", re.I)


def reword(transcript: Transcript, rng: random.Random) -> Transcript:
    messages = []
    for m in transcript.messages:
        m = dict(m)
        if m["role"] == "assistant" and m.get("content"):
            text = m["content"]
            for pattern, options in AGENT_REWRITES:
                text = pattern.sub(rng.choice(options), text)
            m["content"] = text
        elif m["role"] == "user" and YES_LIKE.match(m.get("content") or "") and len(m["content"]) < 30:
            m["content"] = rng.choice(YES_REWRITES)
        messages.append(m)
    return Transcript(transcript.id, messages)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2:
        print("usage: python -m training.shifted IN.jsonl OUT.jsonl")
        return 2
    rng = random.Random(0)
    write_jsonl(Path(args[1]), [reword(t, rng) for t in read_jsonl(Path(args[0]))])
    return 0


if __name__ == "__main__":
    sys.exit(main())
