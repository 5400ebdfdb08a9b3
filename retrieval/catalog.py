"""The catalog's interchange form, its validation, and the readers for JSON, JSONL and CSV.

One product is a `CatalogProduct` with its variant items. Every reader yields `(line, product)`
pairs and `RowError(line, message)` for the rows it could not use, so a caller can report bad rows
by line number and import the rest (see `retrieval.ingest`). The format is documented in
docs/catalog.md.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_ID = 64
MAX_NAME = 255
CSV_OPTION_PREFIX = "option:"


class CatalogFormatError(ValueError):
    """The file as a whole cannot be read (unknown format, not JSON at all)."""


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class CatalogVariant:
    item_id: str
    options: dict[str, str]
    price: float
    available: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "options": self.options, "available": self.available, "price": self.price}


@dataclass
class CatalogProduct:
    product_id: str
    name: str
    variants: list[CatalogVariant]
    brand: str | None = None
    category: str | None = None  # "A > B > C"
    description: str | None = None
    image: str | None = None
    popularity: float = 0.0
    attributes: dict[str, Any] = field(default_factory=dict)
    source: str = "catalog"

    @property
    def category_path(self) -> list[str]:
        return [part.strip() for part in (self.category or "").split(">") if part.strip()]

    def content_hash(self) -> str:
        """A hash of everything a shopper can see; a changed product gets a new hash."""
        blob = json.dumps(
            [
                self.name,
                self.brand,
                self.category,
                self.description,
                self.image,
                self.attributes,
                round(self.popularity, 6),
                [v.as_dict() for v in self.variants],
            ],
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class RowInvalid(ValueError):
    """One row is unusable; the message says why (the caller adds the line number)."""


def _text(value: Any, what: str, *, required: bool = False, limit: int | None = None) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise RowInvalid(f"{what} is required")
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise RowInvalid(f"{what} must be text, not {type(value).__name__}")
    value = value.strip()
    if "\x00" in value:
        raise RowInvalid(f"{what} contains a NUL character")
    if limit is not None and len(value) > limit:
        raise RowInvalid(f"{what} is longer than {limit} characters")
    return value


def _price(value: Any, what: str) -> float:
    if isinstance(value, bool) or value is None or value == "":
        raise RowInvalid(f"{what} is required and must be a number")
    try:
        price = float(str(value).strip().lstrip("$")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise RowInvalid(f"{what} must be a number, not {value!r}") from None
    if not math.isfinite(price) or price < 0:
        raise RowInvalid(f"{what} must be a finite number >= 0, not {value!r}")
    return round(price, 2)


def _bool(value: Any, what: str) -> bool:
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "in stock", "y"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "0", "out of stock", "n"):
        return False
    raise RowInvalid(f"{what} must be true or false, not {value!r}")


def _options(value: Any, what: str) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise RowInvalid(f"{what} must be a JSON object of option name to value") from None
    if not isinstance(value, dict):
        raise RowInvalid(f"{what} must be an object of option name to value")
    out: dict[str, str] = {}
    for key, val in value.items():
        name = _text(key, f"{what} name", required=True, limit=64)
        if isinstance(val, (dict, list)) or val is None or isinstance(val, bool):
            raise RowInvalid(f"{what} {name!r} must be text or a number")
        out[name] = _text(val, f"{what} {name!r}", required=True, limit=255)  # type: ignore[assignment]
    return out


def _category(value: Any) -> str | None:
    if isinstance(value, list):
        parts = [_text(v, "category part", limit=200) for v in value]
        joined = " > ".join(p for p in parts if p)
        return joined or None
    return _text(value, "category", limit=512)


def product_from_dict(raw: Any, source: str) -> CatalogProduct:
    """Validate one product object of the documented schema (docs/catalog.md)."""
    if not isinstance(raw, dict):
        raise RowInvalid("a product must be a JSON object")
    product_id = _text(raw.get("product_id", raw.get("id")), "product_id", required=True, limit=MAX_ID)
    name = _text(raw.get("name"), "name", required=True, limit=MAX_NAME)
    popularity = raw.get("popularity", 0.0)
    if isinstance(popularity, bool) or not isinstance(popularity, (int, float, str)):
        raise RowInvalid("popularity must be a number")
    try:
        popularity = float(popularity or 0.0)
    except ValueError:
        raise RowInvalid(f"popularity must be a number, not {popularity!r}") from None
    attributes = raw.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise RowInvalid("attributes must be an object")
    raw_variants = raw.get("variants")
    variants: list[CatalogVariant] = []
    if raw_variants is None:
        # A product without variants is one item: its own price and availability.
        variants.append(
            CatalogVariant(
                item_id=_text(raw.get("item_id"), "item_id", limit=MAX_ID) or f"{product_id}-1",  # type: ignore[arg-type]
                options=_options(raw.get("options"), "options"),
                price=_price(raw.get("price"), "price"),
                available=_bool(raw.get("available"), "available"),
            )
        )
    else:
        if isinstance(raw_variants, dict):
            raw_variants = [{"item_id": k, **v} if isinstance(v, dict) else v for k, v in raw_variants.items()]
        if not isinstance(raw_variants, list) or not raw_variants:
            raise RowInvalid("variants must be a non-empty list (or object keyed by item_id)")
        for n, rv in enumerate(raw_variants, 1):
            if not isinstance(rv, dict):
                raise RowInvalid(f"variant {n} must be an object")
            variants.append(
                CatalogVariant(
                    item_id=_text(rv.get("item_id"), f"variant {n} item_id", required=True, limit=MAX_ID),  # type: ignore[arg-type]
                    options=_options(rv.get("options"), f"variant {n} options"),
                    price=_price(rv.get("price"), f"variant {n} price"),
                    available=_bool(rv.get("available"), f"variant {n} available"),
                )
            )
    seen: set[str] = set()
    for v in variants:
        if v.item_id in seen:
            raise RowInvalid(f"item_id {v.item_id} appears twice")
        seen.add(v.item_id)
    return CatalogProduct(
        product_id=product_id,  # type: ignore[arg-type]
        name=name,  # type: ignore[arg-type]
        variants=variants,
        brand=_text(raw.get("brand"), "brand", limit=255),
        category=_category(raw.get("category")),
        description=_text(raw.get("description"), "description", limit=20_000),
        image=_text(raw.get("image"), "image", limit=1024),
        popularity=popularity,
        attributes=attributes,
        source=_text(raw.get("source"), "source", limit=32) or source,  # type: ignore[arg-type]
    )


# --- file readers: yield (line, raw object) or RowError -------------------------------------------------


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def iter_json_values(text: str) -> Iterator[tuple[int, Any] | RowError]:
    """The elements of a top-level JSON array (or the values of an object keyed by id), each with
    the line it starts on. A syntax error stops the file there, reported with its line."""
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip())
    if pos >= len(text):
        return
    opener = text[pos]
    if opener not in "[{":
        yield RowError(_line_of(text, pos), "expected a JSON array of products or an object keyed by product_id")
        return
    closer = "]" if opener == "[" else "}"
    pos += 1
    index = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            yield RowError(_line_of(text, pos), f"unexpected end of file: missing {closer!r}")
            return
        if text[pos] == closer:
            return
        line = _line_of(text, pos)
        key = None
        try:
            if opener == "{":
                key, pos = decoder.raw_decode(text, pos)
                while text[pos] in " \t\r\n":
                    pos += 1
                if text[pos] != ":":
                    raise json.JSONDecodeError("expected ':'", text, pos)
                pos += 1
                while text[pos] in " \t\r\n":
                    pos += 1
                line = _line_of(text, pos)
            value, pos = decoder.raw_decode(text, pos)
        except (json.JSONDecodeError, IndexError) as exc:
            where = exc.lineno if isinstance(exc, json.JSONDecodeError) else line
            yield RowError(where, f"invalid JSON: {getattr(exc, 'msg', exc)}; the rest of the file was not read")
            return
        index += 1
        if key is not None and isinstance(value, dict):
            value = {"product_id": key, **value} if "product_id" not in value else value
        yield (line, value)


def iter_jsonl_values(text: str) -> Iterator[tuple[int, Any] | RowError]:
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield (line_no, json.loads(line))
        except json.JSONDecodeError as exc:
            yield RowError(line_no, f"invalid JSON: {exc.msg}")


def iter_csv_values(text: str) -> Iterator[tuple[int, Any] | RowError]:
    """CSV: one row per variant item; rows with the same product_id form one product."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "product_id" not in reader.fieldnames or "name" not in reader.fieldnames:
        yield RowError(1, "the CSV header must name at least product_id, name and price")
        return
    grouped: dict[str, tuple[int, dict[str, Any]]] = {}
    order: list[str] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            yield RowError(reader.line_num, f"invalid CSV: {exc}")
            return
        line = reader.line_num
        if None in row:
            yield RowError(line, "more fields than the header names")
            continue
        pid = (row.get("product_id") or "").strip()
        if not pid:
            yield RowError(line, "product_id is required")
            continue
        options: dict[str, Any] = {}
        if row.get("options"):
            options_raw = row["options"]
            try:
                parsed = json.loads(options_raw)
            except json.JSONDecodeError:
                yield RowError(line, "options must be a JSON object")
                continue
            options = parsed if isinstance(parsed, dict) else {"__bad__": parsed}
        for key, val in row.items():
            if key and key.startswith(CSV_OPTION_PREFIX) and val not in (None, ""):
                options[key[len(CSV_OPTION_PREFIX) :].strip()] = val
        variant = {
            "item_id": (row.get("item_id") or "").strip() or None,
            "options": options,
            "price": row.get("price"),
            "available": row.get("available"),
        }
        if pid not in grouped:
            product = {
                k: row.get(k)
                for k in ("product_id", "name", "brand", "category", "description", "image", "popularity")
                if row.get(k) not in (None, "")
            }
            product["variants"] = []
            grouped[pid] = (line, product)
            order.append(pid)
        grouped[pid][1]["variants"].append(variant)
    for pid in order:
        line, product = grouped[pid]
        for n, variant in enumerate(product["variants"], 1):
            if variant["item_id"] is None:
                variant["item_id"] = pid if len(product["variants"]) == 1 else f"{pid}-{n}"
        yield (line, product)


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        return "json"
    if suffix == ".csv":
        return "csv"
    raise CatalogFormatError(f"{path}: unknown catalog format {suffix!r} (use .json, .jsonl or .csv)")


def read_catalog_text(text: str, fmt: str, source: str) -> tuple[list[tuple[int, CatalogProduct]], list[RowError]]:
    """Parse and validate a whole file: the good products with their lines, and the bad rows."""
    readers = {"json": iter_json_values, "jsonl": iter_jsonl_values, "csv": iter_csv_values}
    if fmt not in readers:
        raise CatalogFormatError(f"unknown catalog format {fmt!r}")
    good: list[tuple[int, CatalogProduct]] = []
    errors: list[RowError] = []
    seen_products: dict[str, int] = {}
    seen_items: dict[str, int] = {}
    for entry in readers[fmt](text):
        if isinstance(entry, RowError):
            errors.append(entry)
            continue
        line, raw = entry
        try:
            product = product_from_dict(raw, source)
        except RowInvalid as exc:
            errors.append(RowError(line, str(exc)))
            continue
        if product.product_id in seen_products:
            errors.append(RowError(line, f"product_id {product.product_id} already given on line {seen_products[product.product_id]}"))
            continue
        clash = next((v.item_id for v in product.variants if v.item_id in seen_items), None)
        if clash is not None:
            errors.append(RowError(line, f"item_id {clash} already given on line {seen_items[clash]}"))
            continue
        seen_products[product.product_id] = line
        for v in product.variants:
            seen_items[v.item_id] = line
        good.append((line, product))
    return good, errors


def read_catalog_file(path: Path, source: str = "catalog", fmt: str | None = None) -> tuple[list[tuple[int, CatalogProduct]], list[RowError]]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogFormatError(f"{path}: not UTF-8 text ({exc.reason})") from None
    return read_catalog_text(text, fmt or detect_format(path), source)
