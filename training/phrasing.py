"""How simulated shoppers word things: varied templates, typos, details given early.

All templates are our own. When the data directory holds public intent sets (Bitext, CLINC150,
Banking77), `Phrasing` also draws real shopper utterances from them for openings, requests for a
human, and out-of-scope questions; they are read at build time and never stored in the repo.
"""
from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from pathlib import Path
from typing import Any

ID_LIKE = re.compile(r"#W\d+|\d{5,}|[\w.+-]+@[\w.-]+|\w+_\w+_\d+")


def typo(text: str, rng: random.Random, rate: float = 0.04) -> str:
    """Swap, drop or double a letter in a few words; ids, emails and numbers stay intact."""
    words = text.split(" ")
    out = []
    for word in words:
        if len(word) > 3 and word.isalpha() and rng.random() < rate:
            i = rng.randrange(1, len(word) - 1)
            op = rng.choice(("swap", "drop", "double"))
            if op == "swap":
                word = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
            elif op == "drop":
                word = word[:i] + word[i + 1 :]
            else:
                word = word[:i] + word[i] + word[i:]
        out.append(word)
    return " ".join(out)


def casual(text: str, rng: random.Random) -> str:
    """Sometimes lower-case, drop the final period, or add a filler opener."""
    if rng.random() < 0.25:
        text = text[0].lower() + text[1:]
    if rng.random() < 0.25:
        text = text.rstrip(".")
    if rng.random() < 0.15:
        text = rng.choice(("hey, ", "hi, ", "ok so ", "um, ", "hello! ")) + text
    return text


def options_phrase(options: dict[str, Any], rng: random.Random, keys: bool | None = None) -> str:
    keys = rng.random() < 0.4 if keys is None else keys
    parts = [f"{k} {v}" if keys else str(v) for k, v in options.items()]
    rng.shuffle(parts)
    if len(parts) > 1 and rng.random() < 0.5:
        return ", ".join(parts[:-1]) + " and " + parts[-1]
    return ", ".join(parts) if rng.random() < 0.5 else " ".join(parts)


def held_out(text: str) -> bool:
    """One public utterance in five is kept for the dev sets (training/devsets.py), never trained on."""
    return int(hashlib.sha256(text.strip().lower().encode()).hexdigest()[:8], 16) % 5 == 0


class Phrasing:
    """Utterance generator; `sources` records which external sets contributed. `split`: "train"
    draws public utterances from four in five of them, "dev" from the fifth that training never sees."""

    def __init__(self, rng: random.Random, data_dir: Path | None = None, split: str = "train") -> None:
        self.rng = rng
        self.sources: list[str] = ["shopbot templates"]
        self.pools: dict[str, list[str]] = {}
        self.split = split
        if data_dir is not None:
            self._load_public(Path(data_dir))
            for name, pool in self.pools.items():
                self.pools[name] = [t for t in pool if held_out(t) == (split == "dev")]

    # -- public intent sets ---------------------------------------------------------------------
    def _load_public(self, root: Path) -> None:
        bitext = root / "bitext-customer-support" / "bitext_cs_intents_21534_utterances.csv"
        if bitext.is_file():
            wanted = {
                "contact_human_agent": "human",
                "cancel_order": "open_cancel",
                "get_refund": "open_return",
                "track_order": "open_status",
                "change_shipping_address": "open_address",
                "recover_password": "unsupported",
                "delete_account": "unsupported",
                "create_account": "unsupported",
                "get_invoice": "unsupported",
                "newsletter_subscription": "unsupported",
                "review": "unsupported",
                "complaint": "unsupported",
            }
            with bitext.open(encoding="utf-8-sig") as handle:
                for row in csv.DictReader(handle):
                    pool = wanted.get(row.get("intent", ""))
                    text = (row.get("utterance") or "").strip()
                    if pool and text and "{{" not in text and len(text) < 200:
                        self.pools.setdefault(pool, []).append(text)
            self.sources.append("Bitext customer support intents")
        clinc = root / "clinc150" / "data_full.json"
        if clinc.is_file():
            data = json.loads(clinc.read_text(encoding="utf-8"))
            self.pools["oos"] = [t for t, _ in data.get("oos_train", [])]
            self.pools["smalltalk"] = [
                t for t, label in data.get("train", []) if label in ("greeting", "goodbye", "thank_you", "are_you_a_bot", "how_old_are_you", "what_is_your_name", "tell_joke")
            ]
            self.pools["oos"] += [t for t, label in data.get("train", []) if label in ("weather", "recipe", "translate", "flight_status", "calories", "book_hotel")]
            self.sources.append("CLINC150")
        banking = root / "banking77" / "train.csv"
        if banking.is_file():
            with banking.open(encoding="utf-8") as handle:
                rows = [r["text"] for r in csv.DictReader(handle)]
            self.pools.setdefault("oos", []).extend(self.rng.sample(rows, min(400, len(rows))))
            self.sources.append("Banking77")

    def pool(self, name: str, fallback: list[str], p_public: float = 0.6) -> str:
        items = self.pools.get(name)
        if items and self.rng.random() < p_public:
            return self.rng.choice(items)
        return self.rng.choice(fallback)

    def finish(self, text: str) -> str:
        return typo(casual(text, self.rng), self.rng)

    # -- authentication --------------------------------------------------------------------------
    def email(self, email: str) -> str:
        return self.rng.choice(
            (
                "my email is {e}",
                "{e}",
                "sure, it's {e}",
                "You can use {e}.",
                "email: {e}",
                "The email on the account is {e}",
                "it should be {e}",
            )
        ).format(e=email)

    def name_zip(self, first: str, last: str, zip_code: str) -> str:
        return self.rng.choice(
            (
                "I'm {f} {l}, zip code {z}",
                "{f} {l}, {z}",
                "My name is {f} {l} and my zip code is {z}.",
                "name's {f} {l}, zip {z}",
                "It's {f} {l}. I live in {z}.",
                "{f} {l} - zip is {z}",
                "sure: {f} {l}, postal code {z}",
            )
        ).format(f=first, l=last, z=zip_code)

    def wrong_email(self, email: str) -> str:
        local, _, domain = email.partition("@")
        variants = [local[:-1] + "@" + domain, local + "@gmail.com", local.replace(".", "") + "@" + domain]
        return self.rng.choice(variants)

    # -- general ---------------------------------------------------------------------------------
    def yes(self) -> str:
        return self.rng.choice(
            ("yes", "Yes, please.", "yes go ahead", "Yes, that's right.", "yep", "Sure, proceed.", "Confirm, yes.", "yes please do it", "Yes, I confirm.", "ok yes")
        )

    def no(self) -> str:
        return self.rng.choice(("no, wait", "No, don't do that.", "nope, not yet", "No, let me think about it."))

    def thanks(self) -> str:
        return self.rng.choice(
            ("That's all, thanks!", "thanks, bye", "No, that's everything. Thank you.", "great, thank you", "nothing else, thanks", "Perfect, thanks for the help.")
        )

    def greeting(self) -> str:
        return self.pool("smalltalk_greeting", ["hi", "Hello!", "hey there", "Good morning", "hi, I need some help"], 0.0)

    def smalltalk(self) -> str:
        return self.pool("smalltalk", ["are you a bot?", "how are you today?", "tell me a joke", "what's your name?"])

    def out_of_scope(self) -> str:
        return self.pool(
            "oos",
            ["what's the weather tomorrow?", "can you book me a flight to Denver?", "how do I make pancakes?", "what's the capital of Peru?", "help me with my taxes"],
        )

    def human(self) -> str:
        return self.pool(
            "human",
            ["I want to talk to a real person.", "can I speak to a human agent please", "get me a representative", "transfer me to customer service", "I'd rather talk to someone"],
        )

    def unsupported(self) -> str:
        return self.pool(
            "unsupported",
            ["I want to delete my account.", "can you send me an invoice for my last order?", "I forgot my password", "I'd like to file a complaint about a delivery driver", "please unsubscribe me from the newsletter"],
        )


# The agent's side also varies, so the model does not key on one template's exact words (agents
# written by others phrase the same step differently). Pairs of (pattern, alternatives).
AGENT_VARIANTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Shall I go ahead (yes/no)?", ("Do you want me to proceed? Please confirm (yes/no).", "Can you confirm you'd like me to proceed (yes)?", "Please reply yes to confirm, and I'll take care of it.", "Would you like me to go ahead with this?")),
    ("To confirm: ", ("Here are the details: ", "Just to be sure, I'm going to ", "Before I proceed, please review: ", "")),
    ("I can help with that. First I need to verify your identity: please give me the email on your account, or your first name, last name and zip code.",
     ("Sure! To get started, could you please provide your email address, or your first and last name along with your zip code?",
      "I'd be happy to help. Can you please authenticate yourself with your email, or with your name and zip code?",
      "Happy to help! First, I need to locate your account. What's your email address (or full name and zip code)?")),
    ("Which order would you like to", ("Could you tell me the order id you want to", "Can you share the order id of the order you'd like to")),
    ("Anything else?", ("Is there anything else I can help you with?", "Let me know if you need anything else!", "")),
    ("Which payment method should be used", ("Which payment method would you like to use", "Please choose the payment method to use")),
    ("Thanks, ", ("Thank you, ", "Great, ", "Got it, ")),
    ("Done: ", ("All set! ", "Your request went through: ", "")),
)


def restyle(text: str, rng: random.Random, p: float = 0.5) -> str:
    """Swap template phrases for alternatives, each with probability p."""
    for pattern, alternatives in AGENT_VARIANTS:
        if pattern in text and rng.random() < p:
            text = text.replace(pattern, rng.choice(alternatives))
    if rng.random() < 0.15:
        text = rng.choice(("Sure. ", "Okay! ", "Of course. ")) + text
    return text
