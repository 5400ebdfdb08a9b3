"""Undo the usual tricks people use to slip text past a filter, before any rule or model looks at it.

`normalize(text)` is for *detection only*: the rules and the classifier read its output, while the
message that is passed on keeps the shopper's own spelling (`clean(text)` only drops invisible
characters and folds compatibility forms, which is safe to store).

Tricks handled, in order:
1. invisible characters (zero-width spaces/joiners, soft hyphens, BOM, bidi controls);
2. Unicode compatibility forms (full-width letters, mathematical alphabets, ligatures) via NFKC,
   and combining marks ("zalgo" text, accents) via NFKD + dropping marks;
3. homoglyphs: Cyrillic and Greek letters that look like Latin ones;
4. letters spelled out with separators ("k.i.l.l", "s u i c i d e");
5. leetspeak inside words ("k1ll", "h@te", "$hit") -- never inside order ids like "W2378156";
6. characters repeated three or more times ("fuuuuck" -> "fuuck", "!!!!!!" -> "!!").
"""
from __future__ import annotations

import re
import unicodedata

# Zero-width and other invisible format characters (category Cf covers most; listed for clarity).
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)

# Look-alike letters from Cyrillic and Greek (lower case; the text is lower-cased before mapping).
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
        "ɡ": "g", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ь": "b", "п": "n", "г": "r", "ш": "w",
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
        "τ": "t", "υ": "u", "χ": "x", "ω": "w", "γ": "y", "μ": "u", "ѵ": "v", "ɩ": "i", "ı": "i",
        "ℓ": "l", "∪": "u", "×": "x",
    }
)

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i", "|": "l", "+": "t"})
_LEET_CHARS = set("013457 8@$!|+".replace(" ", ""))
_WORDISH = re.compile(r"[\w@$!|+]+")
# Four or more single characters separated by one separator: "k i l l", "k.i.l.l", "k-i-l-l".
_SPACED = re.compile(r"(?<!\w)\w(?P<sep>[ .\-_*·])\w(?:(?P=sep)\w){2,}(?!\w)")  # one separator kind per run
_REPEATS = re.compile(r"(.)\1{2,}", re.DOTALL)

# Han, kana and Hangul are word characters to `re`, and Chinese and Japanese put no space between
# words: in "我的CVV是123" there is no `\b` before "CVV" nor after it, so a rule written for English
# never fired inside such text. For rules, these scripts count as a boundary beside a Latin word.
CJK = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\uac00-\ud7af"
_NOT_LATIN_WORD = rf"[^\W{CJK}]"  # a word character that is not Han, kana or Hangul
_BOUNDARY = rf"(?:(?<!{_NOT_LATIN_WORD})|(?!{_NOT_LATIN_WORD}))"


def cjk_boundaries(pattern: str) -> str:
    """`pattern` with each `\\b` also matching between a Latin word and Han, kana or Hangul.

    Every `\\b` in our rules sits at one end of a literal word, so "no Latin word character before
    it, or none after it" is the same test as `\\b` there, plus the CJK neighbours."""
    return pattern.replace(r"\b", _BOUNDARY)


def clean(text: str) -> str:
    """Drop invisible characters and apply NFKC. Safe for text that will be stored or shown."""
    return unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _deleet_token(match: re.Match[str]) -> str:
    token = match.group(0)
    core = token.rstrip("!")  # a trailing "!" is punctuation, not an "i"
    suffix = token[len(core):]
    letters = sum(ch.isalpha() for ch in core)
    leet = sum(ch in _LEET_CHARS for ch in core)
    # Words with at least two real letters and some leet characters ("k1ll", "h@te", "$hit").
    # Order and item ids ("w2378156") have a single letter and stay as they are.
    if leet == 0 or letters < 2 or len(core) > 24:
        return token
    converted = core.translate(_LEET)
    return (converted if converted.isalpha() else core) + suffix


def normalize(text: str) -> str:
    """Return a lower-case canonical form of `text` for rules and classifiers."""
    text = clean(text)
    text = _strip_marks(text).lower().translate(_HOMOGLYPHS)
    text = _SPACED.sub(lambda m: m.group(0).replace(m.group("sep"), ""), text)
    text = _WORDISH.sub(_deleet_token, text)
    text = _REPEATS.sub(r"\1\1", text)
    return re.sub(r"\s+", " ", text).strip()
