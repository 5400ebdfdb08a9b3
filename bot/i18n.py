"""The message catalog: what the bot says, in each language it speaks.

One JSON file per language in `bot/locales/` (`en.json` is the source text; the others are our
own translations of it). A key names the reply template it belongs to (`order_summary`,
`confirm_cancel`, ...) and holds a `str.format` pattern whose `{fields}` are filled with values
as the store's tools returned them: ids, names, prices and options are inserted unchanged.

A few keys hold word tables instead (`status`, `action`, `purpose`, ...): the English words the
templates' callers pass (an order's status, the action a shopper wants) and how each language
says them. A word not in a table is shown as it is.

Adding a language: copy `en.json` to `<code>.json`, translate every value (keep each `{field}`),
and add the code to `LANGUAGES`; `tests/test_i18n.py` checks that no key or field is missing.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DEFAULT_LANGUAGE = "en"
LANGUAGES: tuple[str, ...] = ("en", "zh-CN", "es", "fr", "de", "pt", "ja")
# Tags other than our codes that name one of our languages (lower case, as BCP 47 allows any case).
_ALIASES = {"zh": "zh-CN", "zh-hans": "zh-CN", "zh-cn": "zh-CN", "zh-sg": "zh-CN", "zh-hans-cn": "zh-CN", "cmn": "zh-CN"}


class UnsupportedLanguage(ValueError):
    """A language code that has no catalog (see `LANGUAGES`)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"no message catalog for language {code!r}; supported: {', '.join(LANGUAGES)}")
        self.code = code


def normalize_language(tag: str | None) -> str | None:
    """Our code for a BCP 47 tag ("zh-Hans" -> "zh-CN", "pt-BR" -> "pt", "ES" -> "es"), or None
    when we have no catalog for it (e.g. "ko", "zh-TW": traditional Chinese is not simplified)."""
    if not tag:
        return None
    lowered = tag.strip().replace("_", "-").lower()
    if lowered in _ALIASES:
        return _ALIASES[lowered]
    primary = lowered.split("-", 1)[0]
    if primary == "zh":
        return None  # zh-TW, zh-HK, zh-Hant: not simplified Chinese
    return primary if primary in LANGUAGES else None


@lru_cache(maxsize=len(LANGUAGES))
def catalog(language: str) -> dict[str, Any]:
    """The catalog of `language` (one of `LANGUAGES`), read once."""
    if language not in LANGUAGES:
        raise UnsupportedLanguage(language)
    return json.loads((LOCALES_DIR / f"{language}.json").read_text(encoding="utf-8"))


def text(key: str, language: str = DEFAULT_LANGUAGE, **fields: object) -> str:
    """The catalog entry `key` in `language`, its `{fields}` filled in."""
    pattern = catalog(language)[key]
    if not isinstance(pattern, str):
        raise TypeError(f"catalog key {key!r} is a word table, not a message")
    return pattern.format(**fields) if fields else pattern


def word(table: str, value: str, language: str = DEFAULT_LANGUAGE) -> str:
    """`value` (an English word such as an order status) as `language` says it; unchanged when
    the table does not know it."""
    entries = catalog(language)[table]
    return str(entries.get(value, value))
