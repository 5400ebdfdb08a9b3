"""Shopbot's own demo store: a deterministic generator (seed, size) in tau-bench's retail shape.

Same id formats as tau-bench (user ids `first_last_1234`, orders `#W1234567`, 10-digit product
and item ids, `credit_card_1234567` / `gift_card_1234567` / `paypal_1234567`), orders in every
status with items, fulfillments and payment history. Products carry brand and category for search.
All names, places and products below are our own.
"""
from __future__ import annotations

import random
from typing import Any

from bot.store.data import StoreData

# name, category path, brands, option dimensions, price range
PRODUCT_TYPES: list[tuple[str, str, list[str], dict[str, list[str]], tuple[float, float]]] = [
    ("Dog Bed", "Pets > Dogs > Beds", ["Pawsome", "Snoozer"], {"size": ["small", "medium", "large"], "color": ["grey", "brown", "navy"], "fill": ["memory foam", "polyfill"]}, (29, 129)),
    ("Cat Tree", "Pets > Cats > Furniture", ["Whisker Works"], {"height": ["90cm", "140cm", "180cm"], "color": ["beige", "grey"]}, (49, 189)),
    ("Pet Water Fountain", "Pets > Feeding", ["AquaPaw"], {"capacity": ["1.5L", "2.5L"], "material": ["plastic", "stainless steel"]}, (24, 69)),
    ("Running Shoes", "Apparel > Shoes > Running", ["Stride", "Northpeak"], {"size": ["7", "8", "9", "10", "11", "12"], "color": ["black", "white", "red", "blue"], "width": ["regular", "wide"]}, (59, 179)),
    ("Hiking Boots", "Apparel > Shoes > Outdoor", ["Northpeak", "Ridgeline"], {"size": ["7", "8", "9", "10", "11"], "material": ["leather", "synthetic"], "waterproof": ["yes", "no"]}, (89, 249)),
    ("Rain Jacket", "Apparel > Outerwear", ["Ridgeline", "Drizzle"], {"size": ["S", "M", "L", "XL"], "color": ["yellow", "green", "black", "red"]}, (49, 159)),
    ("Hoodie", "Apparel > Tops", ["Cozy Co", "Urbanite"], {"size": ["S", "M", "L", "XL", "XXL"], "color": ["grey", "black", "navy", "green"], "fit": ["regular", "oversized"]}, (29, 89)),
    ("Wool Socks", "Apparel > Accessories", ["Cozy Co"], {"size": ["S", "M", "L"], "color": ["grey", "red", "navy"], "pack": ["3-pack", "6-pack"]}, (12, 39)),
    ("Yoga Mat", "Sports > Fitness", ["Zenflow", "Stride"], {"thickness": ["4mm", "6mm", "8mm"], "color": ["purple", "blue", "black", "green"], "material": ["TPE", "natural rubber"]}, (19, 99)),
    ("Adjustable Dumbbells", "Sports > Fitness > Weights", ["IronForge"], {"weight": ["20 lb", "40 lb", "50 lb"], "set": ["single", "pair"]}, (79, 399)),
    ("Camping Tent", "Sports > Outdoor > Camping", ["Ridgeline", "Basecamp"], {"capacity": ["2-person", "4-person", "6-person"], "season": ["3-season", "4-season"], "color": ["green", "orange"]}, (89, 449)),
    ("Sleeping Bag", "Sports > Outdoor > Camping", ["Basecamp"], {"temperature": ["0F", "20F", "40F"], "shape": ["mummy", "rectangular"]}, (49, 249)),
    ("Insulated Water Bottle", "Kitchen > Drinkware", ["HydroKeep", "AquaPaw"], {"capacity": ["500ml", "750ml", "1000ml"], "color": ["black", "white", "teal", "red"]}, (15, 45)),
    ("Blender", "Kitchen > Appliances", ["Whirlix", "KitchenPro"], {"capacity": ["1L", "1.5L", "2L"], "power": ["600W", "1000W", "1500W"], "color": ["black", "silver", "red"]}, (39, 249)),
    ("Coffee Maker", "Kitchen > Appliances > Coffee", ["Brewmaster", "KitchenPro"], {"type": ["drip", "pour-over", "espresso"], "capacity": ["4 cups", "8 cups", "12 cups"], "color": ["black", "stainless steel"]}, (29, 399)),
    ("Coffee Beans", "Grocery > Coffee", ["Brewmaster"], {"roast": ["light", "medium", "dark"], "bag size": ["250g", "500g", "1kg"]}, (9, 39)),
    ("Electric Kettle", "Kitchen > Appliances", ["Whirlix"], {"capacity": ["1L", "1.7L"], "material": ["glass", "stainless steel", "plastic"]}, (19, 89)),
    ("Cast Iron Skillet", "Kitchen > Cookware", ["Forgewell"], {"diameter": ["8 inch", "10 inch", "12 inch"], "pre-seasoned": ["yes", "no"]}, (19, 79)),
    ("Chef Knife", "Kitchen > Cutlery", ["Forgewell", "Edgecraft"], {"blade length": ["6 inch", "8 inch", "10 inch"], "steel": ["German", "Japanese"]}, (25, 180)),
    ("Air Fryer", "Kitchen > Appliances", ["KitchenPro", "Crispit"], {"capacity": ["3 qt", "5 qt", "8 qt"], "color": ["black", "white"]}, (49, 199)),
    ("Wireless Earbuds", "Electronics > Audio > Headphones", ["Sonara", "Pulse"], {"color": ["black", "white", "blue"], "noise cancelling": ["yes", "no"], "battery": ["6h", "8h", "10h"]}, (29, 249)),
    ("Over-Ear Headphones", "Electronics > Audio > Headphones", ["Sonara"], {"color": ["black", "silver", "beige"], "connectivity": ["wired", "wireless"], "noise cancelling": ["yes", "no"]}, (49, 399)),
    ("Bluetooth Speaker", "Electronics > Audio > Speakers", ["Pulse", "Boomcraft"], {"color": ["black", "red", "blue", "green"], "waterproof": ["yes", "no"], "battery": ["10h", "20h"]}, (25, 199)),
    ("Mechanical Keyboard", "Electronics > Computers > Accessories", ["Keyforge", "Typewise"], {"switch type": ["clicky", "tactile", "linear"], "layout": ["full size", "tenkeyless", "60%"], "backlight": ["RGB", "white", "none"]}, (49, 229)),
    ("Wireless Mouse", "Electronics > Computers > Accessories", ["Typewise"], {"color": ["black", "white", "grey"], "sensor": ["optical", "laser"], "hand": ["right", "left"]}, (15, 99)),
    ("Laptop Stand", "Electronics > Computers > Accessories", ["Deskmate"], {"material": ["aluminum", "wood"], "adjustable": ["yes", "no"]}, (19, 89)),
    ("USB-C Charger", "Electronics > Phones > Chargers", ["Voltix", "Pulse"], {"power": ["20W", "45W", "65W", "100W"], "ports": ["1", "2", "3"]}, (12, 79)),
    ("Phone Case", "Electronics > Phones > Cases", ["Shellguard", "Armorly"], {"model": ["Phone 12", "Phone 13", "Phone 14", "Phone 15"], "color": ["black", "clear", "red", "blue"], "style": ["slim", "rugged", "wallet"]}, (9, 59)),
    ("Smart Watch", "Electronics > Wearables", ["Pulse", "Tempo"], {"size": ["40mm", "44mm"], "color": ["black", "silver", "gold"], "gps": ["yes", "no"]}, (99, 449)),
    ("Fitness Tracker", "Electronics > Wearables", ["Tempo"], {"color": ["black", "pink", "blue"], "heart rate monitor": ["yes", "no"]}, (29, 149)),
    ("E-Reader", "Electronics > Tablets", ["Pageturn"], {"storage": ["8GB", "16GB", "32GB"], "screen": ["6 inch", "7 inch"], "backlight": ["yes", "no"]}, (79, 249)),
    ("Action Camera", "Electronics > Cameras", ["Snapline"], {"resolution": ["1080p", "4K"], "waterproof": ["yes", "no"], "color": ["black", "silver"]}, (79, 399)),
    ("Desk Lamp", "Home > Lighting", ["Lumen & Co", "Deskmate"], {"color": ["black", "white", "brass"], "brightness": ["400 lumens", "800 lumens"], "power source": ["plug-in", "USB"]}, (19, 119)),
    ("Office Chair", "Home > Furniture > Office", ["Deskmate", "Ergonova"], {"material": ["mesh", "leather", "fabric"], "color": ["black", "grey", "blue"], "armrest": ["fixed", "adjustable"]}, (99, 599)),
    ("Standing Desk", "Home > Furniture > Office", ["Ergonova"], {"width": ["48 inch", "60 inch", "72 inch"], "color": ["black", "white", "walnut"]}, (199, 799)),
    ("Throw Blanket", "Home > Bedding", ["Cozy Co", "Hearth"], {"material": ["fleece", "wool", "cotton"], "color": ["cream", "grey", "rust", "green"], "size": ["50x60", "60x80"]}, (19, 119)),
    ("Pillow", "Home > Bedding", ["Hearth", "Snoozer"], {"firmness": ["soft", "medium", "firm"], "fill": ["down", "memory foam", "polyester"], "size": ["standard", "queen", "king"]}, (15, 99)),
    ("Scented Candle", "Home > Decor", ["Hearth"], {"scent": ["lavender", "vanilla", "cedar", "citrus"], "size": ["small", "large"]}, (9, 45)),
    ("Wall Clock", "Home > Decor", ["Tempo", "Lumen & Co"], {"diameter": ["10 inch", "14 inch"], "color": ["black", "white", "wood"], "style": ["modern", "rustic"]}, (15, 89)),
    ("Vacuum Cleaner", "Home > Appliances > Cleaning", ["Dustout", "Whirlix"], {"type": ["upright", "stick", "robot"], "bagged": ["yes", "no"], "color": ["red", "grey", "black"]}, (89, 599)),
    ("Air Purifier", "Home > Appliances", ["Breezely"], {"room size": ["small", "medium", "large"], "filter": ["HEPA", "carbon"]}, (69, 349)),
    ("Garden Hose", "Garden > Watering", ["Greenway"], {"length": ["25 ft", "50 ft", "100 ft"], "material": ["rubber", "vinyl"]}, (19, 89)),
    ("Plant Pot Set", "Garden > Planters", ["Greenway"], {"material": ["ceramic", "terracotta", "plastic"], "pieces": ["3", "5"], "color": ["white", "terracotta", "black"]}, (15, 69)),
    ("Board Game", "Toys > Games", ["Meeple Works", "Playwise"], {"players": ["2-4", "2-6", "3-8"], "age": ["8+", "12+"]}, (15, 79)),
    ("Building Blocks Set", "Toys > Construction", ["Brickly"], {"pieces": ["250", "500", "1000"], "theme": ["city", "space", "castle"]}, (19, 149)),
    ("Backpack", "Bags > Backpacks", ["Urbanite", "Basecamp"], {"capacity": ["20L", "30L", "40L"], "color": ["black", "grey", "green", "blue"], "laptop sleeve": ["yes", "no"]}, (29, 179)),
    ("Sunscreen", "Beauty > Sun Care", ["Solbright"], {"spf": ["30", "50"], "size": ["100ml", "200ml"]}, (7, 29)),
    ("Shampoo", "Beauty > Hair Care", ["Solbright", "Purelle"], {"hair type": ["normal", "dry", "oily"], "size": ["250ml", "500ml"]}, (6, 25)),
]
FIRST_NAMES = [
    "Ava", "Liam", "Maya", "Noah", "Zoe", "Ethan", "Chloe", "Lucas", "Isla", "Mateo", "Aria", "Owen", "Nora", "Caleb",
    "Leah", "Elias", "Ruby", "Jonah", "Hazel", "Felix", "Ivy", "Miles", "Clara", "Theo", "Ada", "Rowan", "Priya", "Omar",
    "Yuki", "Sofia", "Diego", "Amara", "Kenji", "Lena", "Tariq", "Nina", "Hugo", "Mei", "Arjun", "Freya",
]
LAST_NAMES = [
    "Okafor", "Lindqvist", "Moreno", "Castellanos", "Whitfield", "Nakamura", "Brennan", "Adeyemi", "Kowalski", "Haddad",
    "Fischer", "Delacroix", "Ramirez", "Thornton", "Sato", "Mbeki", "Larsen", "Quintero", "Holloway", "Petrov",
    "Chandra", "Osei", "Vasquez", "Underwood", "Ishikawa", "Duarte", "Abernathy", "Novak", "Calloway", "Reyes",
]
PLACES = [  # city, state, zip prefix
    ("Portland", "OR", "972"), ("Austin", "TX", "787"), ("Columbus", "OH", "432"), ("Denver", "CO", "802"),
    ("Raleigh", "NC", "276"), ("Madison", "WI", "537"), ("Tucson", "AZ", "857"), ("Boise", "ID", "837"),
    ("Albany", "NY", "122"), ("Savannah", "GA", "314"), ("Spokane", "WA", "992"), ("Omaha", "NE", "681"),
]
STREETS = ["Maple Avenue", "Cedar Lane", "Harbor Road", "Willow Street", "Summit Drive", "Orchard Way", "Lakeview Terrace", "Birch Court"]
CARD_BRANDS = ["visa", "mastercard", "amex", "discover"]
# Share of orders in each status; the last three appear only after a change through the tools.
STATUS_WEIGHTS = {
    "pending": 0.36,
    "processed": 0.12,
    "delivered": 0.32,
    "cancelled": 0.10,
    "pending (item modified)": 0.04,
    "return requested": 0.03,
    "exchange requested": 0.03,
}


def _digits(rng: random.Random, n: int, used: set[str]) -> str:
    while True:
        value = str(rng.randint(10 ** (n - 1), 10**n - 1))
        if value not in used:
            used.add(value)
            return value


def _products(rng: random.Random, used: set[str]) -> dict[str, dict[str, Any]]:
    products: dict[str, dict[str, Any]] = {}
    for name, category, brands, dims, (low, high) in PRODUCT_TYPES:
        product_id = _digits(rng, 10, used)
        brand = rng.choice(brands)
        combos: list[dict[str, str]] = [{}]
        for dim, values in dims.items():
            combos = [{**c, dim: v} for c in combos for v in values]
        rng.shuffle(combos)
        chosen = combos[: rng.randint(min(4, len(combos)), min(14, len(combos)))]
        base = rng.uniform(low, high)
        variants = {}
        for options in chosen:
            item_id = _digits(rng, 10, used)
            price = round(max(low, min(high, base * rng.uniform(0.85, 1.2))), 2)
            variants[item_id] = {"item_id": item_id, "options": options, "available": rng.random() < 0.8, "price": price}
        products[product_id] = {
            "name": name,
            "product_id": product_id,
            "variants": variants,
            "brand": brand,
            "category": category,
        }
    return products


def _address(rng: random.Random) -> dict[str, str]:
    city, state, prefix = rng.choice(PLACES)
    return {
        "address1": f"{rng.randint(10, 9999)} {rng.choice(STREETS)}",
        "address2": rng.choice(["", f"Suite {rng.randint(100, 999)}", f"Apt {rng.randint(1, 40)}"]),
        "city": city,
        "country": "USA",
        "state": state,
        "zip": f"{prefix}{rng.randint(0, 99):02d}",
    }


def _payment_methods(rng: random.Random, used: set[str]) -> dict[str, dict[str, Any]]:
    methods: dict[str, dict[str, Any]] = {}
    kinds = rng.sample(["credit_card", "gift_card", "paypal"], k=rng.randint(1, 3))
    if rng.random() < 0.2:
        kinds.append("credit_card")
    for kind in kinds:
        method_id = f"{kind}_{_digits(rng, 7, used)}"
        if kind == "credit_card":
            methods[method_id] = {"source": "credit_card", "brand": rng.choice(CARD_BRANDS), "last_four": f"{rng.randint(0, 9999):04d}", "id": method_id}
        elif kind == "gift_card":
            methods[method_id] = {"source": "gift_card", "balance": float(rng.randint(0, 300)), "id": method_id}
        else:
            methods[method_id] = {"source": "paypal", "id": method_id}
    return methods


def _order(
    rng: random.Random, used: set[str], user_id: str, user: dict[str, Any], products: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    order_id = f"#W{_digits(rng, 7, used)}"
    status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
    items = []
    for product in rng.sample(list(products.values()), k=rng.randint(1, 4)):
        variant = rng.choice(list(product["variants"].values()))
        items.append(
            {
                "name": product["name"],
                "product_id": product["product_id"],
                "item_id": variant["item_id"],
                "price": variant["price"],
                "options": variant["options"],
            }
        )
    total = round(sum(i["price"] for i in items), 2)
    method_id = rng.choice(list(user["payment_methods"]))
    history = [{"transaction_type": "payment", "amount": total, "payment_method_id": method_id}]
    fulfillments = []
    if status not in ("pending", "pending (item modified)", "cancelled"):
        fulfillments = [{"tracking_id": [_digits(rng, 12, used)], "item_ids": [i["item_id"] for i in items]}]
    order: dict[str, Any] = {
        "order_id": order_id,
        "user_id": user_id,
        "address": dict(user["address"]) if rng.random() < 0.85 else _address(rng),
        "items": items,
        "fulfillments": fulfillments,
        "status": status,
        "payment_history": history,
    }
    if status == "cancelled":
        history.append({"transaction_type": "refund", "amount": total, "payment_method_id": method_id})
    elif status == "return requested":
        order["return_items"] = sorted(i["item_id"] for i in items[:1])
        order["return_payment_method_id"] = method_id
    elif status == "exchange requested":
        item = items[0]
        others = [v for v in products[item["product_id"]]["variants"].values() if v["item_id"] != item["item_id"]]
        new = rng.choice(others) if others else products[item["product_id"]]["variants"][item["item_id"]]
        order["exchange_items"] = [item["item_id"]]
        order["exchange_new_items"] = [new["item_id"]]
        order["exchange_payment_method_id"] = method_id
        order["exchange_price_difference"] = round(new["price"] - item["price"], 2)
    return order


def generate_store(seed: int = 7, n_users: int = 200) -> StoreData:
    """A store with `n_users` users (about two orders each) and the demo catalog; same seed, same store."""
    if n_users < 1:
        raise ValueError("n_users must be at least 1")
    rng = random.Random(seed)
    used: set[str] = set()
    products = _products(rng, used)
    users: dict[str, dict[str, Any]] = {}
    orders: dict[str, dict[str, Any]] = {}
    while len(users) < n_users:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        user_id = f"{first.lower()}_{last.lower()}_{_digits(rng, 4, used)}"
        user = {
            "name": {"first_name": first, "last_name": last},
            "address": _address(rng),
            "email": f"{first.lower()}.{last.lower()}{rng.randint(1000, 9999)}@example.com",
            "payment_methods": _payment_methods(rng, used),
            "orders": [],
        }
        users[user_id] = user
        for _ in range(rng.choices([0, 1, 2, 3, 4], weights=[1, 4, 4, 2, 1])[0]):
            order = _order(rng, used, user_id, user, products)
            orders[order["order_id"]] = order
            user["orders"].append(order["order_id"])
    return StoreData(users=users, orders=orders, products=products)
