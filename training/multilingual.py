"""Shoppers who write in other languages: the same flows, their words, replies in their language.

A share of the simulated conversations is written in Simplified Chinese, Spanish, French, German,
Portuguese or Japanese: product requests with budgets and follow-ups, order look-ups with
authentication, cancellations and returns. The shopper's words are our own translations of our
templates; the agent replies through the engine's renderer in the shopper's language (bot/locales);
product names, ids and prices stay as the catalog has them, and a search query is the product as
the shopper named it, in their language (retrieval searches across languages).
"""
from __future__ import annotations

import json
import random
from typing import Any

from training.simulator import Conversation

Dict = dict[str, Any]

# The share of our generated tasks played in each language (the rest, and every tau-bench task, in English).
SHARES = {"zh-CN": 0.18, "es": 0.15, "fr": 0.02, "de": 0.02, "pt": 0.02, "ja": 0.02}

_EN = [
    "Action Camera", "Adjustable Dumbbells", "Air Fryer", "Air Purifier", "Backpack", "Bicycle", "Blender", "Bluetooth Speaker",
    "Board Game", "Bookshelf", "Building Blocks Set", "Camping Tent", "Cast Iron Skillet", "Cat Tree", "Chef Knife", "Coffee Beans",
    "Coffee Maker", "Cycling Helmet", "Desk Lamp", "Digital Camera", "Dog Bed", "Dumbbell Set", "E-Reader", "Electric Kettle",
    "Electric Toothbrush", "Espresso Machine", "Fitness Tracker", "Fleece Jacket", "Gaming Mouse", "Garden Hose", "Grill", "Headphones",
    "Hiking Boots", "Hoodie", "Indoor Security Camera", "Insulated Water Bottle", "Jigsaw Puzzle", "LED Light Bulb", "Laptop",
    "Laptop Stand", "Luggage Set", "Makeup Kit", "Mechanical Keyboard", "Notebook", "Office Chair", "Over-Ear Headphones",
    "Patio Umbrella", "Perfume", "Pet Bed", "Pet Water Fountain", "Phone Case", "Pillow", "Plant Pot Set", "Portable Charger",
    "Rain Jacket", "Running Shoes", "Scented Candle", "Shampoo", "Skateboard", "Sleeping Bag", "Smart Thermostat", "Smart Watch",
    "Smartphone", "Sneakers", "Standing Desk", "Sunglasses", "Sunscreen", "T-Shirt", "Tablet", "Tea Kettle", "Throw Blanket",
    "USB-C Charger", "Vacuum Cleaner", "Wall Clock", "Water Bottle", "Wireless Earbuds", "Wireless Mouse", "Wool Socks", "Wristwatch",
    "Yoga Mat",
]
_NAMES = {
    "zh-CN": "运动相机 可调哑铃 空气炸锅 空气净化器 双肩包 自行车 搅拌机 蓝牙音箱 桌游 书架 积木套装 露营帐篷 铸铁煎锅 猫爬架 主厨刀 咖啡豆 咖啡机 骑行头盔 台灯 数码相机 狗窝 哑铃套装 电子书阅读器 电热水壶 电动牙刷 意式咖啡机 健身手环 抓绒夹克 游戏鼠标 花园水管 烤架 耳机 登山靴 连帽衫 室内监控摄像头 保温水杯 拼图 LED灯泡 笔记本电脑 笔记本支架 行李箱套装 化妆套装 机械键盘 笔记本 办公椅 头戴式耳机 庭院遮阳伞 香水 宠物床 宠物饮水机 手机壳 枕头 花盆套装 充电宝 雨衣 跑鞋 香薰蜡烛 洗发水 滑板 睡袋 智能温控器 智能手表 智能手机 运动鞋 升降桌 太阳镜 防晒霜 T恤 平板电脑 茶壶 毯子 USB-C充电器 吸尘器 挂钟 水杯 无线耳机 无线鼠标 羊毛袜 腕表 瑜伽垫",
    "es": "cámara deportiva|mancuernas ajustables|freidora de aire|purificador de aire|mochila|bicicleta|licuadora|altavoz bluetooth|juego de mesa|estantería|set de bloques de construcción|tienda de campaña|sartén de hierro fundido|rascador para gatos|cuchillo de chef|café en grano|cafetera|casco de ciclismo|lámpara de escritorio|cámara digital|cama para perro|set de mancuernas|lector de libros electrónicos|hervidor eléctrico|cepillo de dientes eléctrico|máquina de espresso|pulsera de actividad|chaqueta polar|ratón gaming|manguera de jardín|parrilla|auriculares|botas de montaña|sudadera con capucha|cámara de seguridad interior|botella térmica|rompecabezas|bombilla LED|portátil|soporte para portátil|juego de maletas|kit de maquillaje|teclado mecánico|cuaderno|silla de oficina|auriculares de diadema|sombrilla de patio|perfume|cama para mascotas|fuente de agua para mascotas|funda de móvil|almohada|set de macetas|batería externa|chubasquero|zapatillas para correr|vela aromática|champú|monopatín|saco de dormir|termostato inteligente|reloj inteligente|teléfono inteligente|zapatillas|escritorio elevable|gafas de sol|protector solar|camiseta|tableta|tetera|manta|cargador USB-C|aspiradora|reloj de pared|botella de agua|auriculares inalámbricos|ratón inalámbrico|calcetines de lana|reloj de pulsera|esterilla de yoga",
    "fr": "caméra d'action|haltères réglables|friteuse à air|purificateur d'air|sac à dos|vélo|blender|enceinte bluetooth|jeu de société|bibliothèque|jeu de construction|tente de camping|poêle en fonte|arbre à chat|couteau de chef|café en grains|cafetière|casque de vélo|lampe de bureau|appareil photo numérique|lit pour chien|set d'haltères|liseuse|bouilloire électrique|brosse à dents électrique|machine à expresso|bracelet d'activité|veste polaire|souris gamer|tuyau d'arrosage|barbecue|casque audio|chaussures de randonnée|sweat à capuche|caméra de sécurité intérieure|gourde isotherme|puzzle|ampoule LED|ordinateur portable|support d'ordinateur|set de valises|kit de maquillage|clavier mécanique|carnet|chaise de bureau|casque circum-auriculaire|parasol de jardin|parfum|lit pour animal|fontaine à eau pour animaux|coque de téléphone|oreiller|set de pots de fleurs|batterie externe|veste de pluie|chaussures de course|bougie parfumée|shampooing|skateboard|sac de couchage|thermostat connecté|montre connectée|smartphone|baskets|bureau assis-debout|lunettes de soleil|crème solaire|t-shirt|tablette|théière|plaid|chargeur USB-C|aspirateur|horloge murale|bouteille d'eau|écouteurs sans fil|souris sans fil|chaussettes en laine|montre|tapis de yoga",
    "de": "Actionkamera|verstellbare Hanteln|Heißluftfritteuse|Luftreiniger|Rucksack|Fahrrad|Mixer|Bluetooth-Lautsprecher|Brettspiel|Bücherregal|Bausteinset|Campingzelt|gusseiserne Pfanne|Kratzbaum|Kochmesser|Kaffeebohnen|Kaffeemaschine|Fahrradhelm|Schreibtischlampe|Digitalkamera|Hundebett|Hantelset|E-Reader|Wasserkocher|elektrische Zahnbürste|Espressomaschine|Fitnesstracker|Fleecejacke|Gaming-Maus|Gartenschlauch|Grill|Kopfhörer|Wanderschuhe|Kapuzenpullover|Innen-Überwachungskamera|Thermoflasche|Puzzle|LED-Glühbirne|Laptop|Laptopständer|Kofferset|Schminkset|mechanische Tastatur|Notizbuch|Bürostuhl|Over-Ear-Kopfhörer|Sonnenschirm|Parfüm|Haustierbett|Trinkbrunnen für Haustiere|Handyhülle|Kissen|Blumentopf-Set|Powerbank|Regenjacke|Laufschuhe|Duftkerze|Shampoo|Skateboard|Schlafsack|smartes Thermostat|Smartwatch|Smartphone|Sneaker|Steh-Schreibtisch|Sonnenbrille|Sonnencreme|T-Shirt|Tablet|Teekessel|Kuscheldecke|USB-C-Ladegerät|Staubsauger|Wanduhr|Wasserflasche|kabellose Ohrhörer|kabellose Maus|Wollsocken|Armbanduhr|Yogamatte",
    "pt": "câmera de ação|halteres ajustáveis|air fryer|purificador de ar|mochila|bicicleta|liquidificador|caixa de som bluetooth|jogo de tabuleiro|estante|kit de blocos de montar|barraca de camping|frigideira de ferro fundido|arranhador para gatos|faca de chef|café em grãos|cafeteira|capacete de ciclismo|luminária de mesa|câmera digital|cama de cachorro|kit de halteres|leitor de e-books|chaleira elétrica|escova de dentes elétrica|máquina de espresso|pulseira fitness|jaqueta de fleece|mouse gamer|mangueira de jardim|churrasqueira|fones de ouvido|botas de trilha|moletom com capuz|câmera de segurança interna|garrafa térmica|quebra-cabeça|lâmpada LED|notebook|suporte para notebook|conjunto de malas|kit de maquiagem|teclado mecânico|caderno|cadeira de escritório|headphone over-ear|guarda-sol|perfume|cama para pet|bebedouro para pets|capinha de celular|travesseiro|kit de vasos|carregador portátil|capa de chuva|tênis de corrida|vela aromática|xampu|skate|saco de dormir|termostato inteligente|relógio inteligente|smartphone|tênis|mesa com regulagem de altura|óculos de sol|protetor solar|camiseta|tablet|chaleira|manta|carregador USB-C|aspirador de pó|relógio de parede|garrafa de água|fones sem fio|mouse sem fio|meias de lã|relógio de pulso|tapete de yoga",
    "ja": "アクションカメラ|可変式ダンベル|エアフライヤー|空気清浄機|リュック|自転車|ミキサー|Bluetoothスピーカー|ボードゲーム|本棚|ブロックセット|キャンプテント|鋳鉄スキレット|キャットタワー|牛刀|コーヒー豆|コーヒーメーカー|サイクルヘルメット|デスクライト|デジタルカメラ|犬用ベッド|ダンベルセット|電子書籍リーダー|電気ケトル|電動歯ブラシ|エスプレッソマシン|活動量計|フリースジャケット|ゲーミングマウス|ガーデンホース|グリル|ヘッドホン|登山靴|パーカー|屋内防犯カメラ|保温ボトル|ジグソーパズル|LED電球|ノートパソコン|ノートパソコンスタンド|スーツケースセット|メイクセット|メカニカルキーボード|ノート|オフィスチェア|オーバーイヤーヘッドホン|パラソル|香水|ペットベッド|ペット用給水器|スマホケース|枕|植木鉢セット|モバイルバッテリー|レインジャケット|ランニングシューズ|アロマキャンドル|シャンプー|スケートボード|寝袋|スマートサーモスタット|スマートウォッチ|スマートフォン|スニーカー|スタンディングデスク|サングラス|日焼け止め|Tシャツ|タブレット|やかん|ブランケット|USB-C充電器|掃除機|掛け時計|水筒|ワイヤレスイヤホン|ワイヤレスマウス|ウールソックス|腕時計|ヨガマット",
}
NAMES = {lang: dict(zip(_EN, (text.split(" ") if lang == "zh-CN" else text.split("|")))) for lang, text in _NAMES.items()}
COLORS = {
    "zh-CN": {"black": "黑色", "white": "白色", "blue": "蓝色", "red": "红色", "green": "绿色", "grey": "灰色", "pink": "粉色", "silver": "银色"},
    "es": {"black": "negro", "white": "blanco", "blue": "azul", "red": "rojo", "green": "verde", "grey": "gris", "pink": "rosa", "silver": "plateado"},
    "fr": {"black": "noir", "white": "blanc", "blue": "bleu", "red": "rouge", "green": "vert", "grey": "gris"},
    "de": {"black": "schwarz", "white": "weiß", "blue": "blau", "red": "rot", "green": "grün", "grey": "grau"},
    "pt": {"black": "preto", "white": "branco", "blue": "azul", "red": "vermelho", "green": "verde", "grey": "cinza"},
    "ja": {"black": "黒", "white": "白", "blue": "青", "red": "赤", "green": "緑", "grey": "グレー"},
}
# {q}: the product as the shopper names it; {hi}/{lo}: prices; {c}: a colour; {o}: an order id;
# {n}: an ordinal; {e}: an email; {f} {l} {z}: name and zip code; {i}: items.
T: dict[str, dict[str, tuple[str, ...]]] = {
    "zh-CN": {
        "request": ("我想买一个{q}", "有没有{q}？", "你们卖{q}吗", "帮我找一下{q}", "我需要{q}", "推荐一款{q}", "{q}有吗？", "看看{q}"),
        "max": ("{q}，{hi}元以下的", "预算{hi}块钱，想买{q}", "有没有{hi}美元以内的{q}", "{q}，不超过{hi}块"),
        "range": ("{lo}到{hi}美元之间的{q}", "想要{q}，价格在{lo}-{hi}之间"),
        "cheapest": ("最便宜的{q}是哪个？", "{q}，按价格从低到高"),
        "cheaper": ("有更便宜的吗？", "太贵了，有便宜点的吗", "还有更便宜的吗"),
        "color": ("有{c}的吗？", "这些里面有{c}的吗", "要{c}的"),
        "under": ("哪些在{hi}元以下？", "只看{hi}美元以内的"),
        "more": ("介绍一下{n}", "{n}怎么样？", "说说{n}的详情"),
        "ordinals": ("第一个", "第二个", "第三个"),
        "price": ("多少钱？", "这个价格是多少", "{n}多少钱"),
        "options": ("有哪些颜色？", "有什么尺寸", "{n}有哪些款式"),
        "stock": ("{q}有货吗？", "{q}现在有库存吗"),
        "compare": ("比较一下{a}和{b}", "{a}和{b}哪个好？"),
        "greet": ("你好", "您好", "在吗？"), "thanks": ("谢谢", "好的，谢谢", "没有了，谢谢你"),
        "human": ("我要找人工客服", "转人工", "能让真人跟我说吗"), "oos": ("明天天气怎么样？", "帮我订一张去北京的机票"),
        "yes": ("是的", "好的", "确认", "可以", "对，就这样"), "no": ("不用了", "不，先别", "算了"),
        "email": ("我的邮箱是{e}", "{e}", "邮箱：{e}"), "name_zip": ("我叫{f} {l}，邮编{z}", "{f} {l}，邮编是{z}"),
        "status": ("我的订单到哪了？", "查一下订单{o}", "订单{o}发货了吗？", "我想查订单状态"),
        "cancel": ("我想取消订单{o}", "帮我取消一个订单", "取消订单{o}"),
        "return": ("我想退货，订单{o}里的{i}", "我要退{i}", "想退掉订单{o}里的{i}"),
        "order_id": ("{o}", "订单号是{o}", "是{o}"),
        "reason_not_needed": ("不需要了", "我不需要了"), "reason_mistake": ("买错了", "下错单了"),
        "pm_card": ("退到信用卡", "用我的信用卡"), "pm_gift": ("退到礼品卡", "礼品卡"), "pm_paypal": ("退到PayPal", "PayPal"),
        "and": ("和",),
    },
    "es": {
        "request": ("quiero comprar {q}", "¿tienen {q}?", "busco {q}", "¿venden {q}?", "necesito {q}", "me recomiendas {q}", "hola, ¿hay {q}?"),
        "max": ("{q} por menos de {hi} dólares", "busco {q}, mi presupuesto es {hi}", "¿tienen {q} de menos de ${hi}?", "{q} que no pase de {hi}"),
        "range": ("{q} entre {lo} y {hi} dólares", "{q} de ${lo} a ${hi}"),
        "cheapest": ("¿cuál es el {q} más barato?", "{q}, el más económico"),
        "cheaper": ("¿hay algo más barato?", "es muy caro, ¿algo más económico?", "¿más barato?"),
        "color": ("¿hay alguno en {c}?", "¿lo tienen en {c}?", "en {c}, por favor"),
        "under": ("¿cuáles cuestan menos de ${hi}?", "solo los de menos de {hi} dólares"),
        "more": ("cuéntame más del {n}", "¿qué tal el {n}?", "más detalles del {n}"),
        "ordinals": ("primero", "segundo", "tercero"),
        "price": ("¿cuánto cuesta?", "¿qué precio tiene?", "¿cuánto cuesta el {n}?"),
        "options": ("¿en qué colores viene?", "¿qué tallas tiene?", "¿qué opciones tiene el {n}?"),
        "stock": ("¿el {q} está disponible?", "¿tienen {q} en stock?"),
        "compare": ("compara {a} y {b}", "¿qué es mejor, {a} o {b}?"),
        "greet": ("hola", "buenas tardes", "hola, ¿me ayudas?"), "thanks": ("gracias", "eso es todo, gracias", "perfecto, muchas gracias"),
        "human": ("quiero hablar con una persona", "pásame con un agente humano"), "oos": ("¿qué tiempo hará mañana?", "resérvame un vuelo a Madrid"),
        "yes": ("sí", "sí, adelante", "claro", "confirmo", "de acuerdo"), "no": ("no", "no, espera", "mejor no"),
        "email": ("mi correo es {e}", "{e}", "es {e}"), "name_zip": ("soy {f} {l}, código postal {z}", "{f} {l}, {z}"),
        "status": ("¿dónde está mi pedido?", "¿me dices el estado del pedido {o}?", "¿ya se envió el pedido {o}?"),
        "cancel": ("quiero cancelar el pedido {o}", "cancela mi pedido, por favor", "necesito cancelar el pedido {o}"),
        "return": ("hola, quiero devolver {i} del pedido {o}", "quiero devolver {i}", "me gustaría devolver {i}"),
        "order_id": ("{o}", "el pedido es {o}", "es el {o}"),
        "reason_not_needed": ("ya no lo necesito",), "reason_mistake": ("lo pedí por error",),
        "pm_card": ("a mi tarjeta de crédito", "la tarjeta"), "pm_gift": ("a la tarjeta regalo",), "pm_paypal": ("a PayPal",),
        "and": (" y ",),
    },
    "fr": {
        "request": ("je cherche {q}", "vous avez {q} ?", "je voudrais acheter {q}"), "max": ("{q} à moins de {hi} dollars", "{q}, budget {hi} $"),
        "range": ("{q} entre {lo} et {hi} dollars",), "cheaper": ("moins cher ?", "vous avez moins cher ?"),
        "greet": ("bonjour",), "thanks": ("merci", "merci beaucoup"), "yes": ("oui", "oui, allez-y"), "no": ("non",),
        "email": ("mon e-mail est {e}",), "name_zip": ("je suis {f} {l}, code postal {z}",),
        "status": ("où en est ma commande {o} ?", "je voudrais suivre ma commande"), "order_id": ("{o}", "c'est la commande {o}"),
        "ordinals": ("premier", "deuxième", "troisième"), "more": ("dites-m'en plus sur le {n}",),
    },
    "de": {
        "request": ("ich suche {q}", "habt ihr {q}?", "ich möchte {q} kaufen"), "max": ("{q} unter {hi} Dollar", "{q}, Budget {hi} $"),
        "range": ("{q} zwischen {lo} und {hi} Dollar",), "cheaper": ("gibt es was Günstigeres?", "billiger?"),
        "greet": ("hallo", "guten Tag"), "thanks": ("danke", "vielen Dank"), "yes": ("ja", "ja, bitte"), "no": ("nein",),
        "email": ("meine E-Mail ist {e}",), "name_zip": ("ich bin {f} {l}, Postleitzahl {z}",),
        "status": ("wo ist meine Bestellung {o}?", "wie ist der Status meiner Bestellung?"), "order_id": ("{o}", "die Bestellung {o}"),
        "ordinals": ("ersten", "zweiten", "dritten"), "more": ("erzähl mir mehr über den {n}",),
    },
    "pt": {
        "request": ("quero comprar {q}", "vocês têm {q}?", "estou procurando {q}"), "max": ("{q} por menos de {hi} dólares", "{q}, orçamento de {hi}"),
        "range": ("{q} entre {lo} e {hi} dólares",), "cheaper": ("tem algo mais barato?", "mais barato?"),
        "greet": ("olá", "oi"), "thanks": ("obrigado", "valeu, obrigado"), "yes": ("sim", "sim, pode fazer"), "no": ("não",),
        "email": ("meu e-mail é {e}",), "name_zip": ("sou {f} {l}, CEP {z}",),
        "status": ("onde está meu pedido {o}?", "qual o status do meu pedido?"), "order_id": ("{o}", "o pedido é {o}"),
        "ordinals": ("primeiro", "segundo", "terceiro"), "more": ("me fale mais do {n}",),
    },
    "ja": {
        "request": ("{q}を探しています", "{q}はありますか？", "{q}が欲しいです"), "max": ("{hi}ドル以下の{q}", "予算{hi}ドルで{q}"),
        "range": ("{lo}〜{hi}ドルの{q}",), "cheaper": ("もっと安いのはありますか？", "安いのは？"),
        "greet": ("こんにちは",), "thanks": ("ありがとう", "ありがとうございました"), "yes": ("はい", "はい、お願いします"), "no": ("いいえ",),
        "email": ("メールは{e}です",), "name_zip": ("{f} {l}です。郵便番号は{z}です",),
        "status": ("注文{o}はどこですか？", "注文の状況を知りたいです"), "order_id": ("{o}", "注文番号は{o}です"),
        "ordinals": ("1つ目", "2つ目", "3つ目"), "more": ("{n}について詳しく教えて",),
    },
}


def pick_language(rng: random.Random) -> str:
    roll, total = rng.random(), 0.0
    for lang, share in SHARES.items():
        total += share
        if roll < total:
            return lang
    return "en"


class Foreign:
    """Plays a shopper writing in `lang` against the agent (one conversation)."""

    def __init__(self, c: Conversation, lang: str, rng: random.Random) -> None:
        self.c, self.lang, self.rng = c, lang, rng
        self.t = T[lang]
        c.lang = lang
        self.names = {en: NAMES[lang][en] for en in sorted({p["name"] for p in c.store.products.values()}) if en in NAMES[lang]}
        c.aliases.update({local: en for en, local in self.names.items()})
        self.shown: list[Dict] = []
        self.query = ""

    def say(self, key: str, **fields: Any) -> None:
        self.c.user(self.rng.choice(self.t[key]).format(**fields), raw=True)

    def has(self, key: str) -> bool:
        return key in self.t

    # -- products ----------------------------------------------------------------------------------
    def request(self) -> None:
        rng = self.rng
        en, local = rng.choice(sorted(self.names.items()))
        args: Dict = {"query": local}
        lo = rng.choice((20, 30, 50, 80, 100))
        hi = lo + rng.choice((50, 100, 200))
        roll = rng.random()
        if roll < 0.3 and self.has("max"):
            self.say("max", q=local, hi=hi)
            args["max_price"] = hi
        elif roll < 0.4 and self.has("range"):
            self.say("range", q=local, lo=lo, hi=hi)
            args.update(min_price=lo, max_price=hi)
        elif roll < 0.48 and self.has("cheapest"):
            self.say("cheapest", q=local)
            args["sort"] = "price_asc"
        else:
            self.say("request", q=local)
        self._search(args)

    def _search(self, args: Dict) -> None:
        value = json.loads(self.c.call("search_products", args))
        self.c.reply("answer")
        self.query = args["query"]
        if value.get("hits"):
            self.shown = value["hits"]

    def follow_up(self) -> None:
        rng, c = self.rng, self.c
        if not self.shown:
            return
        ids = [h["id"] for h in self.shown]
        prices = [h["price"] for h in self.shown if isinstance(h.get("price"), (int, float))]
        roll = rng.random()
        if roll < 0.2 and prices and self.has("cheaper"):
            self.say("cheaper")
            self._search({"query": self.query, "max_price": min(prices), "sort": "price_asc"})
        elif roll < 0.35 and len(ids) > 1 and self.has("color") and self.lang in COLORS:
            en, local = rng.choice(sorted(COLORS[self.lang].items()))
            self.say("color", c=local)
            self._search({"query": self.query, "options": {"color": en}, "product_ids": ids})
        elif roll < 0.45 and len(ids) > 1 and prices and self.has("under"):
            limit = round(sorted(prices)[len(prices) // 2] + 1)
            self.say("under", hi=limit)
            self._search({"query": self.query, "max_price": limit, "product_ids": ids})
        elif roll < 0.7 and self.has("more"):
            index = rng.randrange(min(3, len(self.shown)))
            self.say("more", n=self.t["ordinals"][index])
            c.call("describe_product", {"product_id": self.shown[index]["id"]})
            c.reply("answer")
        elif self.has("price"):
            about = rng.choice(("price", "options"))
            index = rng.randrange(min(3, len(self.shown)))
            pointed = [x for x in self.t[about] if "{n}" in x]
            plain = [x for x in self.t[about] if "{n}" not in x]
            if len(self.shown) > 1 and pointed:
                c.user(rng.choice(pointed).format(n=self.t["ordinals"][index]), raw=True)
            else:
                index = 0
                c.user(rng.choice(plain or pointed).format(n=self.t["ordinals"][0]), raw=True)
            c.reply("product", product_id=self.shown[index]["id"], about=about)

    def stock(self) -> None:
        en, local = self.rng.choice(sorted(self.names.items()))
        self.say("stock", q=local)
        hits = json.loads(self.c.call("search_products", {"query": local})).get("hits", [])
        if hits:
            self.c.reply("product", product_id=hits[0]["id"], about="stock")
        else:
            self.c.reply("answer")

    def compare(self) -> None:
        (ea, a), (eb, b) = self.rng.sample(sorted(self.names.items()), 2)
        self.say("compare", a=a, b=b)
        found = []
        for q in (a, b):
            hits = json.loads(self.c.call("search_products", {"query": q})).get("hits", [])
            if hits:
                found.append(hits[0]["id"])
        if len(found) == 2:
            self.c.reply("compare", product_ids=found)
        else:
            self.c.reply("answer")

    # -- orders ------------------------------------------------------------------------------------
    def authenticate(self, user_id: str) -> Dict:
        c, user = self.c, self.c.store.users[user_id]
        c.reply("ask_auth")
        if self.rng.random() < 0.5:
            self.say("email", e=user["email"])
            c.call("find_user_id_by_email", {"email": user["email"]})
        else:
            n = user["name"]
            self.say("name_zip", f=n["first_name"], l=n["last_name"], z=user["address"]["zip"])
            c.call("find_user_id_by_name_zip", {"first_name": n["first_name"], "last_name": n["last_name"], "zip": user["address"]["zip"]})
        return json.loads(c.call("get_user_details", {"user_id": user_id}))

    def order_flow(self, user_id: str) -> None:
        rng, c = self.rng, self.c
        user = c.store.users[user_id]
        orders = [c.store.orders[o] for o in user["orders"] if o in c.store.orders]
        if not orders:
            return
        kinds = ["status"] + [k for k in ("cancel", "return") if self.has(k)]
        kind = rng.choice(kinds)
        wanted = {"cancel": "pending", "return": "delivered"}.get(kind)
        choice = [o for o in orders if wanted is None or o["status"] == wanted]
        if not choice:
            kind, choice = "status", orders
        order = rng.choice(choice)
        oid = order["order_id"]
        template = rng.choice(self.t[kind])
        items = [order["items"][0]]
        local_items = self.t.get("and", (", ",))[0].join(NAMES[self.lang].get(i["name"], i["name"]) for i in items)
        c.user(template.format(o=oid, i=local_items), raw=True)
        self.authenticate(user_id)
        if oid not in template.format(o=oid, i=""):
            c.reply("ask_order", purpose=kind)
            self.say("order_id", o=oid)
        c.call("get_order_details", {"order_id": oid})
        if kind == "status":
            c.reply("answer")
            return
        if kind == "cancel":
            c.reply("ask_reason", order_id=oid)
            reason = rng.choice(("no longer needed", "ordered by mistake"))
            self.say("reason_not_needed" if reason == "no longer needed" else "reason_mistake")
            self._confirm("cancel_pending_order", {"order_id": oid, "reason": reason})
            return
        methods = user["payment_methods"]
        c.reply("ask_payment", purpose="refund")
        source = rng.choice(sorted({m["source"] for m in methods.values()}))
        pm = next(k for k, m in methods.items() if m["source"] == source)
        self.say({"credit_card": "pm_card", "gift_card": "pm_gift", "paypal": "pm_paypal"}[source])
        self._confirm("return_delivered_order_items", {"order_id": oid, "item_ids": [i["item_id"] for i in items], "payment_method_id": pm})

    def _confirm(self, name: str, args: Dict) -> None:
        c = self.c
        c.confirm(name, args)
        self.say("yes")
        c.call(name, args)
        c.reply("answer")

    def conversation(self, user_id: str) -> None:
        rng, c = self.rng, self.c
        if rng.random() < 0.3:
            self.say("greet")
            c.reply("greet")
        if self.has("cancel") and rng.random() < 0.45:
            self.order_flow(user_id)
        elif not self.has("cancel") and rng.random() < 0.3:
            self.order_flow(user_id)
        else:
            self.request()
            for _ in range(rng.randint(0, 3)):
                roll = rng.random()
                if roll < 0.65:
                    self.follow_up()
                elif roll < 0.8 and self.has("stock"):
                    self.stock()
                elif self.has("compare"):
                    self.compare()
        if self.has("human") and rng.random() < 0.06:
            self.say("human")
            c.call("transfer_to_human_agents", {"summary": c.messages[-1]["content"]})
            c.reply("answer")
        elif rng.random() < 0.6:
            self.say("thanks")
            c.reply("goodbye")
