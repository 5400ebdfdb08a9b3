"""Our own labelled examples, written for this project (no text from public data sets).

Used in two places: in rules+package mode (no trained model) a small head is fitted on them at
start-up, and `training/moderation.py` adds them to the public training data. Benign examples
include angry-but-legitimate shoppers, who must never be blocked for being upset.
`LIST_REPLIES` are extra benign examples for the fallback head only; `CATEGORY_PROTOTYPES` (at the
end) describe each category for the trained classifier's similarity column.
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

# Short replies that point at something the bot listed. With no content words, the fallback head
# (rules+package mode) put "the second one", "number 2" and "that one" above its threshold: they
# were blocked as harassment. Only the fallback head trains on these; the trained classifier does
# not need them (it allows them) and its measured recipe stays as it was.
LIST_REPLIES: list[str] = [
    "the second one", "that one", "number 2", "the first one please", "this one", "the last one",
    "the other one", "option 3", "the third one", "that one please", "the first", "number 1 please",
]

# Ordinary shopper messages in our other languages, for the fallback head only (like LIST_REPLIES).
# English MiniLM reads German "die" ("the") as the English verb: without these the head blocked
# 6 of 28 ordinary German messages as harassment (docs/multilingual.md). Not the dev set
# (benchmarks/data/language_id.jsonl): different sentences, written for training.
OTHER_LANGUAGE_BENIGN: list[str] = [
    "die Lieferung ist noch nicht angekommen", "die Größe passt nicht, ich möchte sie umtauschen",
    "wo bleibt die Rücksendung", "die Farbe ist anders als auf dem Foto", "die Rechnung fehlt im Paket",
    "ich möchte die Bestellung stornieren", "wann kommt die Erstattung", "die Schuhe sind zu klein",
    "können Sie die Adresse ändern", "die Batterie hält nicht lange", "ist die Jacke wasserdicht",
    "die Lampe funktioniert nicht", "der Artikel ist beschädigt angekommen", "das Paket ist verloren gegangen",
    "ich brauche die Rechnung für meine Firma", "haben Sie die Tasche auch in Schwarz", "bitte prüfen Sie die Lieferzeit",
    "die Kopfhörer sind kaputt, was nun", "wie funktioniert die Rückgabe", "die Bestellnummer steht in der E-Mail",
    "el paquete no ha llegado todavía", "quiero cambiar la talla", "¿cuándo llega el reembolso?",
    "la caja llegó abierta", "no me gusta el color, quiero devolverlo",
    "le colis n'est pas encore arrivé", "je veux changer la taille", "quand vais-je être remboursé",
    "a entrega está atrasada", "quero trocar o tamanho", "quando recebo o reembolso",
    "快递还没到", "尺码不合适想换一下", "退款什么时候到账", "颜色和图片不一样", "可以开发票吗",
    "荷物がまだ届きません", "サイズを交換したいです", "返金はいつになりますか", "色が写真と違います",
]

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

# Short descriptions of each OpenAI category, written for this project. The trained classifier's
# `prototype` stack column is a text's highest cosine similarity to any of them (MiniLM is trained
# for sentence similarity, so this brings in what the encoder already knows about each kind of
# content, beyond the few hundred labelled rows). Dev AUPRC +0.004 to +0.005 on each of three fold
# seeds, the same with the first half of this list alone (docs/moderation.md).
CATEGORY_PROTOTYPES: dict[str, list[str]] = {
    "sexual": [
        "explicit sexual content describing sex acts",
        "a pornographic story with graphic sexual detail",
        "erotic roleplay, describe how you undress and touch me",
        "write a steamy adult sex scene",
        "describe her naked body in explicit detail",
        "sexting and requests for nude photos",
        "a fetish scenario written to arouse the reader",
    ],
    "hate": [
        "hateful statement that an ethnic group is inferior",
        "those immigrants are subhuman and ruin our country",
        "slurs and contempt aimed at people because of their religion or race",
        "women are stupid and should not have rights",
        "dehumanizing language about gay people",
        "jokes mocking a disability or a minority group",
        "calling a nationality vermin or animals",
    ],
    "violence": [
        "describing how to hurt, attack or kill someone",
        "I am going to beat him until he bleeds",
        "instructions for making a weapon to attack people",
        "a story where soldiers massacre villagers",
        "threatening to shoot or stab someone",
        "torturing an animal for fun",
        "planning a terrorist bombing",
    ],
    "harassment": [
        "insulting and demeaning a person directly",
        "you are a pathetic worthless loser and everyone hates you",
        "bullying someone and calling them names",
        "shut up you disgusting idiot",
        "telling someone to go die",
        "mocking a person's looks and intelligence",
        "repeated threats and intimidation of a specific person",
    ],
    "self-harm": [
        "wanting to hurt myself or end my life",
        "I cut myself to feel something",
        "how many pills does it take to die",
        "I feel hopeless and want to kill myself",
        "tips for starving myself and hiding an eating disorder",
        "I want to jump off a bridge",
        "encouraging someone to commit suicide",
    ],
    "sexual/minors": [
        "sexual content involving a child",
        "an adult describing sexual acts with a young teenager",
        "grooming a minor for sex",
        "sexualizing a twelve year old",
    ],
    "hate/threatening": [
        "threatening violence against a group because of who they are",
        "we should kill all of them, that race deserves to die",
        "a call to attack people of a religion",
        "burn down their places of worship and drive them out",
    ],
    "violence/graphic": [
        "graphic gore, blood and mutilated bodies described in detail",
        "his guts spilled out and the flesh was torn apart",
        "a detailed description of a bloody dismemberment",
        "the crash left bodies crushed and burned beyond recognition",
    ],
}
