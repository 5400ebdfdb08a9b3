"""Constrained decoding: the model writes a command, and can only write a valid one.

The decoder walks the command's pieces (policies/llm/command.py) with the model:

- a choice (verb and name, an enum value, an id, the next key or the end of the object) is a choice
  between fixed token sequences: at each token where they differ the model's most likely
  continuation among them wins; where they agree the tokens are forced and fed to the model in one
  batch (no decoding step per forced token);
- an id can only be one the conversation holds (`grammar.Candidates`);
- copied text (an email, a name, a zip code, an address) must be a piece of the shopper's words;
- free text (a search query) and numbers are generated token by token under a mask (no quote or
  newline in text, digits in numbers).

`Runtime` is the model: `prefill(ids)` sets the context (reusing its cache for a shared prefix),
`feed(ids)` appends, both return the logits of the next token.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from policies.llm.command import ACTS, SAY, Command, key_piece
from policies.llm.grammar import Candidates, Slot

Dict = dict[str, Any]
NEG = -1e30


class Runtime(Protocol):
    n_vocab: int

    def tokenize(self, text: str) -> list[int]: ...

    def token_bytes(self, token: int) -> bytes: ...

    def prefill(self, ids: list[int]) -> np.ndarray: ...

    def feed(self, ids: list[int]) -> np.ndarray: ...


class Vocabulary:
    """Token strings and the masks free text is generated under (built once per model)."""

    def __init__(self, runtime: Runtime) -> None:
        n = runtime.n_vocab
        self.bytes = [runtime.token_bytes(t) for t in range(n)]
        self.quote = _single(runtime.tokenize('"'), '"')
        printable = np.array([bool(b) and b"\n" not in b and b'"' not in b and b"\\" not in b and b"\r" not in b for b in self.bytes])
        self.text = printable
        self.digits = np.array([bool(b) and all(ch in b"0123456789" for ch in b) for b in self.bytes])
        self.decimal_point = [t for t, b in enumerate(self.bytes) if b == b"."]
        self.expression = np.array([bool(b) and all(ch in b"0123456789+-*/(). " for ch in b) for b in self.bytes])
        # The model's own words: no digits, ids or prices (those come only from grounded templates).
        self.words = printable & np.array([not any(ch in b"0123456789#$@_" for ch in b) for b in self.bytes])
        self.newline_tokens = np.array([b.endswith(b"\n") and b.count(b"\n") == 1 for b in self.bytes])


def _single(ids: list[int], what: str) -> int:
    if len(ids) != 1:
        raise ValueError(f"the tokenizer splits {what!r} into {len(ids)} tokens; the decoder needs one")
    return ids[0]


@dataclass
class Decoded:
    command: Command
    confidence: float  # probability of the chosen verb and name among the allowed ones
    alternatives: list[tuple[str, str, float]] = field(default_factory=list)  # (verb, name, p) at the first choice


class Decoder:
    def __init__(self, runtime: Runtime, vocabulary: Vocabulary | None = None) -> None:
        self.rt = runtime
        self.vocab = vocabulary or Vocabulary(runtime)
        self._piece_ids: dict[str, list[int]] = {}
        self.pending: list[int] = []
        self._logits: np.ndarray | None = None

    # -- plumbing --------------------------------------------------------------------------------
    def ids(self, piece: str) -> list[int]:
        found = self._piece_ids.get(piece)
        if found is None:
            found = self._piece_ids[piece] = self.rt.tokenize(piece)
        return found

    def logits(self) -> np.ndarray:
        if self.pending or self._logits is None:
            self._logits = self.rt.feed(self.pending)
            self.pending = []
        return self._logits

    def push(self, token: int) -> None:
        self.pending.append(token)
        self._logits = None

    # -- choices ---------------------------------------------------------------------------------
    def choose(self, options: dict[Any, list[int]], first: int | None = None) -> tuple[Any, float]:
        """The option the model prefers; `first`: its first token was already chosen (and pushed).
        Returns (label, probability of the choice among the options)."""
        alive = {k: v for k, v in options.items() if v}
        if not alive:
            raise ValueError("nothing to choose from")
        depth, p = 0, 1.0
        if first is not None:
            alive = {k: v for k, v in alive.items() if v[0] == first}
            depth = 1
        while True:
            done = [k for k, v in alive.items() if len(v) == depth]
            if done:
                return done[0], p
            if len(alive) == 1:
                (label, seq), = alive.items()
                for t in seq[depth:]:
                    self.push(t)
                return label, p
            nexts = sorted({v[depth] for v in alive.values()})
            if len(nexts) == 1:
                t = nexts[0]
            else:
                logits = self.logits()
                scores = logits[nexts]
                best = int(np.argmax(scores))
                t = nexts[best]
                shifted = np.exp(scores - scores.max())
                p *= float(shifted[best] / shifted.sum())
            self.push(t)
            alive = {k: v for k, v in alive.items() if v[depth] == t}
            depth += 1

    def option_ids(self, pieces: Sequence[str]) -> list[int]:
        return [t for piece in pieces for t in self.ids(piece)]

    # -- values ----------------------------------------------------------------------------------
    def free(self, mask: np.ndarray, max_tokens: int, source: bytes | None = None) -> str:
        """Text up to the closing quote (pushed). `source`: the text must be a piece of it."""
        out = b""
        quote = self.vocab.quote
        for _ in range(max_tokens):
            logits = self.logits()
            if source is not None:
                t = self._copy_token(logits, out, source)
            else:
                masked = np.where(mask, logits, NEG)
                if out:
                    masked[quote] = logits[quote]
                t = int(np.argmax(masked))
            self.push(t)
            if t == quote:
                return out.decode("utf-8", "replace")
            out += self.vocab.bytes[t]
        self.push(quote)
        return out.decode("utf-8", "replace")

    def _copy_token(self, logits: np.ndarray, out: bytes, source: bytes) -> int:
        quote = self.vocab.quote
        order = np.argsort(-logits)[:400]
        for t in order:
            t = int(t)
            if t == quote:
                if out:
                    return t
                continue
            b = self.vocab.bytes[t]
            if b and self.vocab.text[t] and (out + b) in source:
                return t
        return quote

    def number(self, integer: bool, after: dict[Any, list[int]], max_tokens: int) -> tuple[float | None, Any]:
        """Digits, then the choice that follows the number (its label is returned too)."""
        text = b""
        firsts = sorted({v[0] for v in after.values() if v})
        for _ in range(max_tokens):
            logits = self.logits()
            masked = np.where(self.vocab.digits, logits, NEG)
            if not integer and b"." not in text and text:
                for t in self.vocab.decimal_point:
                    masked[t] = logits[t]
            if text:
                for t in firsts:
                    masked[t] = logits[t]
            t = int(np.argmax(masked))
            if t in firsts and text:
                self.push(t)
                label, _p = self.choose(after, first=t)
                return _to_number(text, integer), label
            self.push(t)
            text += self.vocab.bytes[t]
        label, _p = self.choose(after)
        return _to_number(text, integer), label

    def quoted(self, values: Sequence[str]) -> dict[str, list[int]]:
        return {v: self.option_ids(['"', v, '"']) for v in values}

    def value(self, slot: Slot, cands: Candidates, after: dict[Any, list[int]]) -> tuple[Any, Any]:
        """One argument's value, then the choice after it (the next key or the end)."""
        kind = slot.kind
        if kind in ("number", "integer"):
            return self.number(kind == "integer", after, slot.max_tokens)
        if kind == "id":
            value, _p = self.choose(self.quoted(cands.pool(slot.values[0])))
        elif kind == "id_list":
            value = self.id_list(cands.pool(slot.values[0]))
        elif kind == "enum":
            value, _p = self.choose(self.quoted(slot.values))
        elif kind == "boolean":
            choice, _p = self.choose({"true": self.ids("true"), "false": self.ids("false")})
            value = choice == "true"
        elif kind == "options":
            value = self.options(cands)
        else:
            for t in self.ids('"'):
                self.push(t)
            if kind == "copy":
                source = (cands.shopper_text + "\n" + cands.shopper_text.title()).encode()
                value = self.free(self.vocab.text, slot.max_tokens, source)
            elif kind == "expression":
                value = self.free(self.vocab.expression, slot.max_tokens)
            else:
                value = self.free(self.vocab.text, slot.max_tokens)
        label, _p = self.choose(after)
        return value, label

    def id_list(self, pool: Sequence[str]) -> list[str]:
        for t in self.ids("["):
            self.push(t)
        out: list[str] = []
        options = self.quoted(pool)
        more = {"more": self.ids(", "), "end": self.ids("]")}
        while True:
            value, _p = self.choose(options)
            out.append(value)
            if len(out) >= 20:
                for t in self.ids("]"):
                    self.push(t)
                return out
            label, _p = self.choose(more)
            if label == "end":
                return out

    def options(self, cands: Candidates) -> dict[str, str]:
        """`{"color": "blue", ...}`: option names from the catalog, values as free text."""
        names = list(dict.fromkeys(cands.option_names))
        first = {("key", n): self.option_ids(["{", key_piece(n, True)]) for n in names}
        label, _p = self.choose(first)
        out: dict[str, str] = {}
        while True:
            name = label[1]
            for t in self.ids('"'):
                self.push(t)
            out[name] = self.free(self.vocab.text, 12)
            rest = [n for n in names if n not in out]
            after = {("key", n): self.ids(key_piece(n, False)) for n in rest}
            after[("end",)] = self.ids("}")
            label, _p = self.choose(after)
            if label == ("end",):
                return out

    def arguments(self, slots: Sequence[Slot], cands: Candidates) -> Dict:
        """` {...}` for these slots, in their order; optional slots the model leaves out."""
        usable = [s for s in slots if s.kind not in ("id", "id_list") or cands.pool(s.values[0])]
        for t in self.ids(" "):
            self.push(t)
        required = {s.name for s in usable if s.required}
        first: dict[Any, list[int]] = {}
        if not required:
            first[("end",)] = self.ids("{}")
        for n, s in enumerate(usable):
            first[("key", n)] = self.option_ids(["{", key_piece(s.name, True)])
            if s.required:
                break  # keys come in slot order: none after the first required one can be first
        out: Dict = {}
        label, _p = self.choose(first)
        while label != ("end",):
            n = label[1]
            slot = usable[n]
            later = usable[n + 1 :]
            after: dict[Any, list[int]] = {}
            missing = required - set(out) - {slot.name}
            if not missing:
                after[("end",)] = self.ids("}")
            for k, s in enumerate(later, start=n + 1):
                after[("key", k)] = self.ids(key_piece(s.name, False))
                if s.required:
                    break
            value, label = self.value(slot, cands, after)
            out[slot.name] = value
        return out

    # -- commands --------------------------------------------------------------------------------
    def command(
        self,
        prompt: list[int],
        cands: Candidates,
        tool_slots: dict[str, list[Slot]],
        consequential: set[str],
        act_slots: dict[str, list[Slot]],
        exclude: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
        on_token: Callable[[str], bool] | None = None,
        force: tuple[str, str] | None = None,
    ) -> Decoded:
        """Decode one command after `prompt` (which ends with `agent>`). `force`: the verb and
        name are given (the fast model chose them); the model writes the arguments. `(verb, "*")`:
        the verb is given, the model chooses the name (a reply act, never its own words)."""
        self.pending = []
        self._logits = self.rt.prefill(prompt)
        options: dict[Any, list[int]] = {}
        for name, slots in tool_slots.items():
            if not _fillable(slots, cands):
                continue
            if ("call", name) not in exclude:
                options[("call", name)] = self.option_ids([" call", " " + name])
            if name in consequential and ("confirm", name) not in exclude:
                options[("confirm", name)] = self.option_ids([" confirm", " " + name])
        for act, slots in act_slots.items():
            if _fillable(slots, cands) and ("reply", act) not in exclude:
                options[("reply", act)] = self.option_ids([" reply", " " + act])
        if force is not None and force[1] == "*":  # the verb is given: the model picks the name
            options = {k: v for k, v in options.items() if k[0] == force[0] and k[1] != SAY}
            if not options:
                raise ValueError(f"no {force[0]} can be written here")
        elif force is not None:
            if force not in options:
                raise ValueError(f"{force} cannot be written here (unknown, excluded or missing its ids)")
            options = {force: options[force]}
        alternatives = self._first_choice_alternatives(options)
        (verb, name), confidence = self.choose(options)
        if verb == "reply" and not act_slots[name]:
            arguments: Dict = {}
        else:
            slots = act_slots[name] if verb == "reply" else tool_slots[name]
            arguments = self.arguments(slots, cands)
        for t in self.ids("\n"):
            self.push(t)
        text = None
        if verb == "reply" and name == SAY:
            text = self.say(on_token)
        elif self.pending:
            self.logits()  # the cache holds the whole line: the next decision reuses it
        return Decoded(Command(verb, name, arguments, text), confidence, alternatives)

    def _first_choice_alternatives(self, options: dict[Any, list[int]]) -> list[tuple[str, str, float]]:
        """The options' probabilities by their first differing token (for logs and the cascade)."""
        firsts: dict[int, list[Any]] = {}
        for label, seq in options.items():
            firsts.setdefault(seq[0], []).append(label)
        if len(firsts) < 2:
            return []
        logits = self.logits()
        tokens = sorted(firsts)
        scores = logits[tokens]
        probs = np.exp(scores - scores.max())
        probs /= probs.sum()
        out = [(label[0], label[1], float(p) / len(firsts[t])) for t, p in zip(tokens, probs) for label in firsts[t]]
        return sorted(out, key=lambda x: -x[2])[:5]

    def say(self, on_token: Callable[[str], bool] | None = None, max_tokens: int = 80) -> str:
        """The agent's own words after `reply say`: up to the end of the line."""
        for t in self.ids("agent:"):
            self.push(t)
        out = b""
        mask = self.vocab.words | self.vocab.newline_tokens
        for _ in range(max_tokens):
            logits = self.logits()
            t = int(np.argmax(np.where(mask, logits, NEG)))
            self.push(t)
            piece = self.vocab.bytes[t]
            if piece.endswith(b"\n"):
                out += piece[:-1]
                break
            if on_token is not None and not on_token(piece.decode("utf-8", "ignore")):
                for t in self.ids("\n"):
                    self.push(t)
                break  # the guard stopped the model: the words so far are the reply
            out += piece
        else:
            for t in self.ids("\n"):
                self.push(t)
        self.logits()
        return out.decode("utf-8", "replace").strip()


def _fillable(slots: Sequence[Slot], cands: Candidates) -> bool:
    return all(cands.pool(s.values[0]) for s in slots if s.required and s.kind in ("id", "id_list"))


def _to_number(text: bytes, integer: bool) -> float | None:
    try:
        value = float(text.decode())
    except ValueError:
        return None
    if integer or (value.is_integer() and math.isfinite(value)):
        return int(value)
    return value


def act_slot_table() -> dict[str, list[Slot]]:
    from policies.llm.grammar import act_slots

    return {act: act_slots(act) for act in ACTS}
