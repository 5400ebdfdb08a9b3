"""A generator of ordinary e-commerce support messages, written for this project.

The public toxicity sets teach a model that anger and strong words mean "unsafe"; shoppers are
often angry for good reason ("this blender is garbage, I want my money back") and must not be
blocked for it. These messages are the negatives that teach it otherwise. Every template here is
our own text; `generate_benign(n, seed)` is deterministic.
"""
from __future__ import annotations

import random

PRODUCTS = [
    "blender", "vacuum", "laptop", "phone case", "hiking boots", "office chair", "coffee maker",
    "headphones", "air fryer", "mattress", "jacket", "backpack", "smart watch", "desk lamp",
    "kettle", "sneakers", "water bottle", "mechanical keyboard", "wireless mouse", "t-shirt",
    "tablet", "camera", "bluetooth speaker", "bike helmet", "skateboard", "fleece", "gaming mouse",
    "e-reader", "garden hose", "action camera", "cycling helmet", "sunglasses", "perfume", "rug",
]
PROBLEMS = [
    "arrived broken", "stopped working after two days", "is the wrong size", "is missing parts",
    "came in the wrong color", "smells like burnt plastic", "is way smaller than the photos",
    "was delivered to the wrong address", "never arrived", "has a huge scratch on it",
    "won't turn on", "leaks everywhere", "is not what I ordered", "fell apart in a week",
]
INSULTS_FOR_PRODUCTS = [
    "garbage", "junk", "trash", "a joke", "useless", "a total waste of money", "crap", "rubbish",
    "the worst thing I've ever bought", "absolute garbage", "a piece of junk", "a disaster",
]
FEELINGS = [
    "I'm so angry", "this is ridiculous", "I'm really frustrated", "unbelievable", "seriously?",
    "I'm done with this", "what a mess", "I am furious", "this is unacceptable", "come on",
    "this is a nightmare", "I'm fed up", "wtf", "ugh", "damn it", "for god's sake",
]
DEMANDS = [
    "I want my money back", "refund me now", "cancel my order", "send a replacement",
    "I want to return it", "give me a full refund", "I need this fixed today", "exchange it please",
    "let me talk to a human", "get me a manager", "I want a refund, not store credit",
]
QUESTIONS = [
    "where is my order {oid}?", "can I change the address on order {oid}?",
    "how long does shipping to {place} take?", "do you have the {product} in {color}?",
    "is the {product} waterproof?", "what's the warranty on the {product}?",
    "can I pay with paypal?", "how do I reset my password?", "I need to update my email address",
    "can you cancel order {oid}, I ordered by mistake", "what's the status of my refund for {oid}?",
    "does the {product} come with a charger?", "can I exchange the {product} for a bigger size?",
    "is there a discount code for first orders?", "my payment was declined, why?",
    "I was charged twice for order {oid}", "how do I track my package?",
    "can I return an item I bought 40 days ago?", "which {product} do you recommend under ${price}?",
    "the tracking number for {oid} doesn't work", "can I pick it up in store instead?",
    "I'd like to change the payment method on {oid}", "do you ship to {place}?",
    "can you split my order into two shipments?", "is the {product} in stock?",
]
TRICKY_BUT_BENIGN = [
    "this price is killing me, any coupons?", "I'm dying to get the {product} before friday",
    "the killer feature of this {product} is the battery", "shoot me an email when it's back in stock",
    "the {product} is a bomb, best purchase ever", "I could murder a coffee, is the {product} fast?",
    "my kid is obsessed with the {product}, do you have it for ages 8 and up?",
    "I need a knife sharpener for my chef's knife", "do you sell hunting jackets in orange?",
    "I'm looking for a gift for my wife, she's a nurse", "as a black woman I need a foundation shade for dark skin",
    "I'm gay and buying matching {product}s for my husband and me", "I'm a muslim, do you have modest swimwear?",
    "I use a wheelchair, is the {product} easy to reach?", "I'm 70 years old and the app is confusing",
    "I'm an immigrant and my address has a unit number, how do I enter it?",
    "my dog chewed the {product}, does warranty cover that?", "do you sell pepper spray?",
    "I'm sick of waiting for order {oid}", "the {product} is sick, love it",
    "the delivery guy threw my package over the fence, not cool",
    "I hate the new app update, where's my order history?", "this {product} sucks at keeping things cold",
    "the instructions are stupid, how do I assemble the {product}?",
]
PLACES = ["canada", "texas", "london", "berlin", "mexico", "australia", "new york", "ohio"]
COLORS = ["black", "red", "navy blue", "white", "green", "grey"]


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        oid=f"#W{rng.randint(1000000, 9999999)}", product=rng.choice(PRODUCTS), place=rng.choice(PLACES),
        color=rng.choice(COLORS), price=rng.choice([50, 100, 200, 500]),
    )


def _angry(rng: random.Random) -> str:
    product = rng.choice(PRODUCTS)
    parts = [
        rng.choice([f"this {product} is {rng.choice(INSULTS_FOR_PRODUCTS)}",
                    f"the {product} {rng.choice(PROBLEMS)}",
                    f"my {product} {rng.choice(PROBLEMS)}, it's {rng.choice(INSULTS_FOR_PRODUCTS)}"]),
        rng.choice(FEELINGS),
        rng.choice(DEMANDS),
    ]
    if rng.random() < 0.4:
        parts.insert(rng.randint(0, 2), f"order {_fill('{oid}', rng)}")
    rng.shuffle(parts[:2])
    text = ", ".join(parts[:2]) + ". " + parts[2]
    if rng.random() < 0.3:
        text = text.upper()
    if rng.random() < 0.3:
        text += "!" * rng.randint(1, 4)
    return text


def generate_benign(n: int, seed: int = 0) -> list[str]:
    """`n` distinct ordinary support messages: ~45% angry-but-legit, ~35% questions, ~20% tricky."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    attempts = 0
    while len(out) < n and attempts < n * 50:
        attempts += 1
        r = rng.random()
        if r < 0.45:
            text = _angry(rng)
        elif r < 0.8:
            text = _fill(rng.choice(QUESTIONS), rng)
            if rng.random() < 0.3:
                text = rng.choice(["hi, ", "hello! ", "hey ", "quick question: ", "pls help, "]) + text
        else:
            text = _fill(rng.choice(TRICKY_BUT_BENIGN), rng)
        if rng.random() < 0.5:
            text = text.lower()
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out
