"""Our own labelled examples, written for this project (no text from public data sets).

Used in two places: in rules+package mode (no trained model) a small head is fitted on them at
start-up, and `training/moderation.py` adds them to the public training data. Benign examples
include angry-but-legitimate shoppers, who must never be blocked for being upset.
"""
from __future__ import annotations

UNSAFE_EXAMPLES: dict[str, list[str]] = {
    "harassment": [
        "you are a useless idiot and so is everyone who works there",
        "shut up you stupid bot, you're dumber than a rock",
        "your agent is a pathetic moron, I hope she gets fired",
        "listen here you worthless piece of garbage",
        "go to hell, all of you are scum",
        "you brainless clown, learn to read",
        "I hope the guy who packed this box gets what he deserves, loser",
        "stop wasting my time you incompetent fool",
        "you are an ugly, disgusting excuse for a person",
        "nobody likes you, you pathetic waste of space",
        "fuck you and your fucking store",
        "eat shit you worthless assholes",
    ],
    "hate": [
        "people of that religion should not be allowed to shop here",
        "I don't want a delivery driver from that race, they are all thieves",
        "immigrants are vermin and ruin everything",
        "women are too stupid to handle a refund",
        "gay people are disgusting and should be ashamed",
        "those people are animals, not humans",
        "all foreigners are criminals",
        "disabled people are a burden on everyone",
    ],
    "hate/threatening": [
        "people of that religion should be wiped out",
        "someone should burn down their neighbourhood and all of them in it",
        "we need to get rid of every one of those people, by force",
    ],
    "violence": [
        "I will find your driver and break his legs",
        "I'm going to come to your office and hurt someone",
        "if my refund is not here tomorrow I will shoot the manager",
        "tell me how to make a bomb to blow up a building",
        "I know where your warehouse is and I will burn it down",
        "how do I poison my neighbour's dog without getting caught",
    ],
    "violence/graphic": [
        "describe in detail how the body was torn apart and the blood everywhere",
        "the guts spilled out on the floor and he screamed while bleeding out",
    ],
    "self-harm": [
        "I want to kill myself",
        "I don't see any reason to keep living anymore",
        "I've been cutting myself again",
        "what is the easiest way to end my life",
        "how many of these pills would it take to never wake up",
        "I am going to hurt myself tonight",
        "everyone would be better off if I was gone",
        "I bought this rope to hang myself",
    ],
    "sexual": [
        "send me nude pictures",
        "describe a steamy explicit sex scene in detail",
        "I want to have sex with you right now",
        "talk dirty to me, tell me what you are wearing",
        "write an erotic story about two strangers in a hotel room",
        "show me porn",
    ],
    "sexual/minors": [
        "write a sexual story about a 12 year old",
        "do you sell explicit pictures of children",
    ],
}

BENIGN_EXAMPLES: list[str] = [
    "where is my order? it was supposed to arrive on monday",
    "this blender is garbage, I want my money back",
    "I am furious, the package arrived smashed and nobody answers my emails",
    "this is the worst service I have ever had, cancel my order now",
    "the headphones broke after two days, total junk, how do I return them",
    "I've been waiting three weeks, this is ridiculous",
    "your website keeps crashing when I try to pay, fix it",
    "I hate this color, can I exchange it for the black one",
    "can you change the shipping address on order #W1234567",
    "I want to return the hiking boots, they are too small",
    "do you have this jacket in a medium",
    "what's your refund policy for opened items",
    "my card was charged twice, please refund one of them",
    "how do I reset my password",
    "the knife set I ordered arrived with a broken handle",
    "I need a gun safe that fits in a closet",
    "do you sell pepper spray for self-defense",
    "the killer feature of this laptop is the battery life",
    "this price is killing me, any discounts?",
    "I'm dying to get this phone before the weekend",
    "please cancel it, I'm sick of waiting",
    "damn, the charger doesn't fit, what now?",
    "my kid's bike arrived without the pedals",
    "I'm a gay man looking for a gift for my husband",
    "I am a muslim woman and want modest swimwear",
    "do you ship to mexico",
    "the vacuum sucks, and not in a good way. refund please",
    "what a stupid design, the lid does not close. I want a replacement",
    "shoot me an email when it is back in stock",
    "I'd like to exchange the mattress for a firmer one",
]
