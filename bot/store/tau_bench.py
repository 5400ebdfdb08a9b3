"""Read tau-bench's retail store (users.json, orders.json, products.json; MIT) from a directory."""
from __future__ import annotations

import json
from pathlib import Path

from bot.store.data import StoreData

FILES = ("users.json", "orders.json", "products.json")


class StoreFormatError(ValueError):
    """The directory does not hold a readable tau-bench retail store."""


def read_tau_bench(directory: Path) -> StoreData:
    directory = Path(directory)
    loaded = {}
    for name in FILES:
        path = directory / name
        if not path.is_file():
            raise StoreFormatError(f"{path} is missing (expected tau-bench retail {', '.join(FILES)})")
        try:
            loaded[name] = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise StoreFormatError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
        if not isinstance(loaded[name], dict):
            raise StoreFormatError(f"{path}: expected a JSON object keyed by id")
    return StoreData(users=loaded["users.json"], orders=loaded["orders.json"], products=loaded["products.json"])
