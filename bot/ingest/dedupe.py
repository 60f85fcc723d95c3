"""Story grouping: is this item the same event as one already stored? Pure.

Malian news is heavily syndicated and rewritten: one audience is reported by five
outlets, in French and English, under five titles, often sharing hardly a phrase. So
items are compared on **what they are about**, not their wording:

- *concepts*: content words reduced to a stem and, for the watch's own vocabulary,
  mapped through a small bilingual table (``enlèvement``, ``abducted``, ``kidnapping``
  → one concept; ``blindés`` and ``armoured`` → one), so French and English coverage
  of one event meet;
- *anchors*: names, places and figures (``Li Xiang``, ``Kéniéba``, ``18e``/``18th``,
  ``23``), which identify an event in any language and weigh double.

Two items are one story when they are close in time and the weighted overlap of their
concepts is high. Weights are inverse document frequencies over the items being
compared, so words every item of the watch shares (Mali, Chine, coopération) count for
little and the distinctive ones (Kéniéba, créance, spodumène) decide. The thresholds
are one named table below, each with its reason; ``tests/test_dedupe.py`` backtests
them on the labelled corpus (pairwise precision and recall).

Overlap is never enough on its own: a summit week brings dozens of reports with the same
actors and sectors. ``conflict`` keeps apart reports that name different kinds of event,
objects, figures of one unit or days, and an analysis beside the news — against the
story as a whole, not only the member it resembles (``StoryPool.whole``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from bot.match.text import fold


@dataclass(frozen=True, slots=True)
class Thresholds:
    # Syndication and rewrites land within about two days; a follow-up a week later
    # (the credentials at Koulouba two weeks after the copy at the ministry) is another
    # story even with the same actors.
    window: timedelta = timedelta(hours=60)
    # A near-copy (most of each item's distinctive concepts shared) is a repost and
    # joins its story up to a week after the story's first report.
    repost_overlap: float = 0.60
    # ... and what it shares with a later member must also be shared, in part, with the
    # story's first report: a report of another event resembles the members that joined
    # since (same trip, same actors), not the first report.
    first_overlap: float = 0.10
    repost_window: timedelta = timedelta(days=6)
    # Whatever member a new item resembles, the merge is judged against the story as a
    # whole: the kinds of event its members name (see _EVENT_KINDS) and the window of
    # its FIRST report.
    # Chaining "security accord (FR)" → "(EN)" → "attack near Kayes" merged distinct
    # events into one story that nobody was alerted of.
    # Mean weighted coverage of each item's top concepts by the other. Corpus backtest
    # (244 items, 53 groups): 0.25 → P 0.91/R 0.95, 0.30 → 0.92/0.92, 0.35 → 0.91/0.86.
    # 0.30 sits in the middle of the plateau where both stay ≥ 0.9.
    overlap: float = 0.30
    # Anchors (names, places, figures) identify the event: they weigh most.
    anchor_weight: float = 3.0
    # Concepts of the bilingual table carry what the event is (a kidnapping, a loan).
    concept_weight: float = 2.0
    # Any other word: incidental wording a rewrite rarely repeats ("told", "stepped").
    word_weight: float = 0.5
    # Each item is compared on its most distinctive concepts only: a long lede has many
    # incidental words that a rewrite does not repeat.
    top_concepts: int = 8
    # The pool of items compared is usually small; pretend it is at least this large so
    # that a word seen in two of three items is not mistaken for a common one.
    min_pool: int = 20
    # Below a repost's overlap, what two reports share must also weigh something on its
    # own: two generic concepts ("army", "equipment") of two short items cover most of
    # each, and made a kidnapping and a military accord one story. 3.0 is one rare
    # anchor, or a rare concept and a half. Summit week (bench/window_eval.py): 2.0 →
    # 89/175 stories, 3.0 → 95, 4.0 → 101 but the corpus groups fall 39 → 37 of 46.
    min_mass: float = 3.0


THRESHOLDS = Thresholds()

# (and feed boilerplate: "Read more", "Lire la suite"; "entered into" a deal)
_STOPWORDS = frozenset(
    """
    les des une pour par sur dans avec sans sous entre vers chez qui que quoi dont leur
    leurs son ses cette ces est sont ont été etre avoir fait plus moins tres aussi mais
    donc car pas lors apres avant depuis selon contre comme tout tous toute toutes deux
    nouveau nouvelle nouveaux nouvelles premier premiere dernier derniere autre autres
    ainsi alors encore meme cela celui celle ceux elles nous vous elle lui aux the and
    plusieurs several near pres local locales locaux told according selon latest
    for with from that this these those its into over after before about than their his
    her they you she which who said says also has have had was were are been will would
    can could more most new first last other such only just one two three what when
    where while here there mardi lundi mercredi jeudi vendredi samedi dimanche monday
    tuesday wednesday thursday friday saturday sunday
    read more lire suite entered entre
    janvier fevrier mars avril mai juin juillet aout septembre octobre novembre decembre
    january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec janv fev avr juil
    """.split()
)

# Words every Mali–China item shares: they identify the watch, not the event (the
# head of state and his titles are in half of them: "le Président de la Transition, le
# Général d'armée Assimi Goïta, Chef de l'État" opens an audience, a mine's inauguration
# and a memorandum with Huawei alike).
_COMMON = frozenset(
    """
    mali malien malienne maliens maliennes malian malians bamako chine china chinois
    chinoise chinoises chinese pekin beijing sino sahel afrique africa africain african
    rpc prc republique republic populaire people peoples cooperation cooperer partenariat
    partnership partenaire partner bilateral bilaterale relation relations pays country
    countries gouvernement government xinhua afp reuters apa
    assimi goita excellence colonel general generale chef etat
    """.split()
)

# The watch's vocabulary in both languages: stem prefixes → one concept. A token takes
# the concept of the longest prefix it starts with; other tokens are their own stem.
_CONCEPTS: dict[str, tuple[str, ...]] = {
    "kidnap": ("kidnap", "abduct", "enlev", "rapt", "otage", "hostag", "seized", "captur"),
    "attack": ("attack", "attaqu", "ambush", "embusc", "assault", "gunmen", "assaill"),
    "worker": ("worker", "travaill", "ouvrier", "employe", "employee", "staff"),
    "national": ("national", "ressortiss", "citizen", "citoyen", "expatri"),
    "ambassador": ("ambassad", "envoy", "emissair", "diplomat"),
    "credentials": ("credenti", "creance", "accredit"),
    "audience": (
        "audienc",
        "receiv",
        "recoit",
        "recu",
        "met",
        "meet",
        "rencontr",
        "talks",
        "entretien",
        "echang",
    ),
    "minister": ("minist",),
    "prime-minister": ("primatur", "premier-ministre", "pm"),
    "president": ("presiden", "koulouba", "transition"),
    "foreign-affairs": ("foreign", "etrangere", "diplomatie"),
    "security": ("secur", "securi", "safety", "protect", "protection"),
    "army": (
        "army",
        "armee",
        "fama",
        "militar",
        "militair",
        "soldier",
        "soldat",
        "troop",
        "defens",
        "defense",
    ),
    "armoured": ("armour", "armor", "blinde", "apc", "vehic", "vehicul"),
    "donation": (
        "donat",
        "donne",
        "don",
        "offer",
        "offre",
        "gift",
        "handed",
        "remis",
        "hand",
        "aide",
        "aided",
        "grant",  # a grant is a gift of money: "un don" in French
        "subvention",
    ),
    "loan": ("loan", "pret", "credit", "exim", "financ", "fund"),
    "debt": ("debt", "dette", "rembours", "repay", "reschedul", "reamenag", "renegoc"),
    "road": ("road", "route", "routier", "highway", "axe", "bitum", "tarmac"),
    "bridge": (
        "bridge",
        "pont",
    ),
    # not "train": "training" is not a railway ("en train de" neither)
    "railway": ("rail", "chemin", "ferrov"),
    "construction": (
        "construct",
        "build",
        "built",
        "batir",
        "bati",
        "chantier",
        "works",
        "travaux",
        "ground",
        "pierre",
        "lanc",
        "launch",
    ),
    "solar": ("solar", "solair", "photovolt", "pv"),
    "power-plant": ("plant", "centrale", "station"),
    "electricity": ("electric", "power", "energ", "megawat", "mw", "delestag", "outag"),
    "dam": ("dam", "barrag", "hydro"),
    "water": ("water", "eau", "potable", "drinking"),
    "hospital": ("hospit", "hopital", "clinic", "clinique"),
    "medical": (
        "medic",
        "medec",
        "doctor",
        "sante",
        "health",
        "surgeon",
        "chirurg",
        "ophtalm",
        "eye",
        "cataract",
        "patient",
    ),
    "malaria": ("malaria", "paludis", "artemis", "antimalar"),
    "rice": ("rice", "riz", "rizic", "paddy"),
    "cotton": ("cotton", "coton", "cmdt"),  # not "fibre": optic fibre is telecom
    "irrigation": ("irrig", "perimet", "amenag", "hectar"),
    "farmer": (
        "farm",
        "paysan",
        "agricult",
        "agronom",
        "agrico",
        "cultiv",
        "harvest",
        "recolt",
        "yield",
        "rendement",
    ),
    "student": ("student", "etudiant", "scholar", "bourse", "boursier", "study", "etude"),
    "training": ("train", "format", "course", "stage"),
    "police": ("police", "polici", "commissair", "gendarm"),
    # not "rescue"/"secours": a rescue of hostages is no fire brigade
    "fire": ("fire", "incendi", "pompier", "civil"),
    "rescue": ("rescu", "libere", "liberat", "freed", "releas", "secour", "relach", "echapp"),
    "lithium": ("lithium", "spodum", "concentr"),
    "gold": ("gold", "aurif", "orpaill", "or", "dredg", "drague"),
    "mine": ("mine", "minier", "mining", "miner", "extract", "gisement", "deposit", "site"),
    "export": ("export", "ship", "expedi"),
    "refinery": ("refin", "raffin", "convert", "transform", "usine"),
    "telecom": (
        "telecom",
        "fibre-optique",
        "optic",
        "optiqu",
        "backbone",
        "dorsal",
        "huawei",
        "zte",
        "internet",
        "broadband",
    ),
    "surveillance": ("surveil", "cctv", "camera", "video", "safe-city"),
    "stadium": ("stadium", "stade", "renov"),
    "anniversary": ("anniver", "annivers", "celebr", "65e", "65th", "amitie", "friendship"),
    "agreement": (
        "agreement",
        "accord",
        "deal",
        "sign",
        "contract",
        "contrat",
        "convent",
        "memorand",
        "pact",
    ),
    "arrest": ("arrest", "interpel", "crackdown", "coup-de-filet", "detain"),
    "collapse": (
        "collaps",
        "eboul",
        "effondr",
        "landslid",
        "killed",
        "morts",
        "dead",
        "meurtri",
        "victim",
    ),
    "parade": ("parade", "defile", "independ", "independance"),
    "customs": ("customs", "douan", "tariff", "tarif", "duty", "droits", "exempt"),
    "decorate": (
        "decorat",
        "decore",
        "order",
        "ordre",
        "commandeur",
        "medal",
        "outgoing",
        "adieu",
        "farewell",
        "depart",
    ),
    "streetlight": ("streetlight", "lampadair", "eclairag", "lighting", "light"),
    "drone": ("drone", "uav"),
    "aircraft": ("aircraft", "avion", "aeronef", "helicop", "airplane"),
    "truck": ("truck", "camion"),
    "west": ("west", "ouest", "occident"),
    "gunmen": ("armed", "arme", "hommes-arm", "jihad", "djihad", "terror", "insurg"),
    "equipment": ("equipm", "equipem", "materie", "materiel", "gear", "logisti"),
    "ceremony": ("ceremon", "handover", "remise"),
    # a site that starts working, in either language: "inauguration de l'usine",
    # "starts output", "begins production", "goes into operation"
    "launch": (
        "inaugur", "output", "produc", "demarr", "commenc", "commission", "milestone",
        "mise-en-service",
    ),
    "region": ("region", "provinc", "cercle"),
    "embassy": ("embass", "ambassade"),
    "search": ("search", "recherc", "ratiss", "manhunt"),
    "company": ("company", "compan", "firm", "entrepri", "societe", "group", "operat", "exploit"),
}
# What happened, as opposed to who and where: the kind of event a report names, from
# the words that name it (prefixes of folded words; the ambiguous ones whole: "reçu",
# "accord" but not "accorde une audience", "attaque" but not "l'attaquant"). Two reports
# that both name kinds of event and share none are two events, however many actors and
# places they share: a security accord and an attack on a convoy; an audience with
# Ganfeng's CEO and the inauguration of Ganfeng's mine, the same day, the same place.
_EVENT_KINDS: dict[str, tuple[str, ...]] = {
    "violence": (
        "kidnap", "abduct", "enlev", "rapt", "otage", "hostag", "attack", "attaque",
        "ambush", "embusc", "assault", "assaill",
    ),
    "rescue": ("libere", "liberat", "freed", "secouru", "rescued", "relache"),
    "accident": ("collaps", "eboul", "effondr", "landslid"),
    "arrest": ("arrest", "interpel", "detain", "arrete"),
    # something opens or changes hands: an inauguration, a first output, a gift, a
    # delivery (a wing "inaugurated" in one report is "handed over" in the next)
    "handover": (
        "inaugur", "production", "output", "milestone", "commissioning", "demarr",
        "commenced", "groundbreak", "donat", "offert", "gift", "handover", "handed",
        "livraison", "delivery", "delivered", "receptionn",
    ),
    # money lent or owed: a loan signed, a debt rescheduled
    "finance": (
        "loan", "pret", "prets", "dette", "debt", "reechelon", "reschedul", "reamenag",
        "rembours", "repay",
    ),
    "training": ("training", "trained", "graduat", "diplome", "formation", "forment"),
    "export": ("export", "expedi", "shipment", "shipped", "ships", "cargaison"),
    "permit": ("licenc", "licens", "revok", "revocat", "retrait"),
    "farewell": (
        "farewell", "adieu", "decore", "decorat", "medaill", "medal", "sortant", "outgoing",
    ),
    # Meetings, visits and what they conclude: an audience often ends in an accord, a
    # visit in a loan signed. These say that people met, not what the event was about.
    "talks": ("audienc", "credenti", "creance", "rencontr", "receiv", "visit"),
}
# Kinds that say only that people met: the others say what happened.
_MEETING_KINDS = frozenset({"talks"})
_EVENT_WORDS: dict[str, str] = {
    **{
        word: "talks"
        for word in (
            "recu", "recue", "recus", "recoit", "met", "meets", "meet", "accord", "accords",
            "agreement", "agreements", "memorandum", "mou", "pact", "treaty", "traite",
        )
    },
    **{
        word: "handover"
        for word in ("don", "dons", "offre", "offrent", "offer", "donne", "pierre")
    },  # "pierre": "pose de la première pierre"
}
_KIND_PREFIXES = sorted(
    ((prefix, kind) for kind, prefixes in _EVENT_KINDS.items() for prefix in prefixes),
    key=lambda pair: -len(pair[0]),
)


@lru_cache(maxsize=1 << 16)
def event_kind(word: str) -> str | None:
    """The kind of event a folded word names, if any."""
    if word in _EVENT_WORDS:
        return _EVENT_WORDS[word]
    for prefix, kind in _KIND_PREFIXES:
        if word.startswith(prefix):
            return kind
    return None


# What an event is done to or with: two reports that each name some of these and share
# none are about different things, whatever else they share (a drone delivery and a truck
# handover to the same army, the same week; a loan for a road and one for a water plant).
_OBJECTS = frozenset(
    """
    drone aircraft truck armoured road bridge railway solar dam water hospital malaria rice
    cotton lithium gold telecom surveillance stadium streetlight student
    """.split()
)


def objects_conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    """Do two sets of concepts name different objects (see ``_OBJECTS``)?"""
    things_a, things_b = a & _OBJECTS, b & _OBJECTS
    return bool(things_a) and bool(things_b) and not things_a & things_b


def dates_conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    """Do two reports date what happened on different days (a day apart meets: time
    zones, "yesterday")?"""
    days_a = [_day(c) for c in a if c.startswith("@")]
    days_b = [_day(c) for c in b if c.startswith("@")]
    if not days_a or not days_b:
        return False
    return not any(abs(x - y) <= 1 or abs(x - y) >= 365 for x in days_a for y in days_b)


def _day(token: str) -> int:
    month, day = token[1:].split("-")
    return (int(month) - 1) * 31 + int(day) - 1


def figures_conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    """Do two reports give different figures of one kind (100 MW and 120 MW; 2 000 and
    5 000 tonnes)? Rounded figures meet: "2 040 tonnes" and "plus de 2 000 tonnes"."""
    units_a = _by_unit(a)
    for unit, numbers_b in _by_unit(b).items():
        numbers_a = units_a.get(unit)
        if numbers_a and not any(_close(x, y) for x in numbers_a for y in numbers_b):
            return True
    return False


def _by_unit(figures: frozenset[str]) -> dict[str, list[int]]:
    units: dict[str, list[int]] = {}
    for figure in figures:
        if not figure.startswith("@"):
            number, _, unit = figure.partition(":")
            units.setdefault(unit, []).append(int(number))
    return units


def _close(x: int, y: int) -> bool:
    return x == y or abs(x - y) <= 0.05 * max(x, y)


def kinds_conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    """Do two reports name different events (see ``_EVENT_KINDS``)? What happened
    decides where both say it; that people met, only where one of them says no more."""
    what_a, what_b = a - _MEETING_KINDS, b - _MEETING_KINDS
    if what_a and what_b:
        return not what_a & what_b
    return bool(a) and bool(b) and not a & b


_PREFIXES = sorted(
    ((prefix, concept) for concept, prefixes in _CONCEPTS.items() for prefix in prefixes),
    key=lambda pair: -len(pair[0]),
)
# Small counts, in words or digits, meet across languages: how many were kidnapped,
# killed or received is part of what happened.
_COUNTS = {
    word: str(n)
    for n, words in enumerate(
        (
            (), (), ("deux", "two"), ("trois", "three"), ("quatre", "four"),
            ("cinq", "five"), ("six",), ("sept", "seven"), ("huit", "eight"),
            ("neuf", "nine"),
        )
    )
    for word in words
}
# Ordinals in either language: 18e, 18ème, 18th, 1er, 65e.
_ORDINAL = re.compile(r"^(\d+)(?:e|er|ere|eme|th|st|nd|rd)$")
_YEAR = re.compile(r"^(?:19|20)\d\d$")
# "200 000", "3 000", "1,500", "150.000": one figure, not a figure and a "000".
_THOUSANDS = re.compile(r"(?<=\d)[\s\u00a0\u202f.,](?=\d{3}(?!\d))")


_MONTH_NAMES = {
    "janv": 1, "jan": 1, "fev": 2, "feb": 2, "mars": 3, "mar": 3, "avr": 4, "apr": 4,
    "mai": 5, "may": 5, "juin": 6, "june": 6, "jun": 6, "juil": 7, "july": 7, "jul": 7,
    "aout": 8, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}
_MONTHS = (
    r"janv(?:ier)?|f[ée]v(?:rier)?|mars|avr(?:il)?|mai|juin|juil(?:let)?|ao[uû]t|"
    r"sept(?:embre)?|oct(?:obre)?|nov(?:embre)?|d[ée]c(?:embre)?|jan(?:uary)?|"
    r"feb(?:ruary)?|march|apr(?:il)?|may|june|july|aug(?:ust)?|sep(?:t|tember)?|"
    r"october|november|december"
)
# "le 15 décembre", "Dec. 15", "December 15th": the day an event took place. It is not
# a figure; it is a date token ("@12-15") that copies of one report share.
_DAY_OF_MONTH = re.compile(
    rf"\b(\d{{1,2}})(?:er|st|nd|rd|th)?[\s-]+((?:{_MONTHS})\b)|"
    rf"\b((?:{_MONTHS}))\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b",
    re.IGNORECASE,
)


def _date_token(match: re.Match[str]) -> str:
    day, month = (match.group(1), match.group(2)) if match.group(1) else (
        match.group(4), match.group(3)
    )
    folded = _fold(month)
    number = next(
        (n for name, n in _MONTH_NAMES.items() if folded.startswith(name)), 0
    )
    return f"{month} date{number:02d}x{int(day):02d}" if number and 1 <= int(day) <= 31 else month


# "100MW", "$55m", "2bn", "150km": the figure, apart from its unit.
_UNIT = re.compile(r"(?<=\d)(?=(?:mw|gw|kw|m|bn|k|km|t|kg|mt)\b)", re.IGNORECASE)


_DATE_TOKEN = re.compile(r"^date(\d\d)x(\d\d)$")


def _joined_digits(text: str) -> str:
    if not any(c.isdigit() for c in text):
        return text
    return _UNIT.sub(" ", _THOUSANDS.sub("", _DAY_OF_MONTH.sub(_date_token, text)))


_TOKEN = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*", re.UNICODE)
_ELISION = re.compile(r"^(?:l|d|j|qu|n|s|c|m|t|jusqu|lorsqu|puisqu)['’]", re.IGNORECASE)
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)


# The longest matching prefix wins (ties: the table's order): looked up by length, not
# scanned — a scan of every prefix for every word was a third of a feed's ingest time.
_BY_PREFIX: dict[str, str] = {}
for _prefix, _name in _PREFIXES:
    _BY_PREFIX.setdefault(_prefix, _name)
_LONGEST = max(map(len, _BY_PREFIX))


# The matcher's fold (one definition: bot.match.text), cached: a poll folds the same
# words again and again.
_fold = lru_cache(maxsize=1 << 16)(fold)


@lru_cache(maxsize=1 << 16)
def concept(token: str) -> str:
    """A folded word's concept: the table's, else the word cut to a 7-letter stem.

    A prefix of 4 letters or more matches the start of a word; a shorter one only the
    whole word ("uav")."""
    for size in range(min(len(token), _LONGEST), 3, -1):
        name = _BY_PREFIX.get(token[:size])
        if name is not None:
            return name
    if len(token) < 4 and token in _BY_PREFIX:
        return _BY_PREFIX[token]
    return token[:7]


def _opens_sentence(text: str, start: int) -> bool:
    before = text[max(0, start - 4) : start].rstrip(" \t\u00a0«“\"'(")
    return not before or before[-1] in ".!?…:\n—–-|"


def features(title: str, summary: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(concepts, anchors, kinds of event) of an item. Anchors are also concepts."""
    concepts, anchors, kinds, _ = _read(title, summary)
    return concepts, anchors, kinds


# What a figure counts, in either language: "100 MW" and "cent mégawatts", "2 040
# tonnes" and "2,000 tons" are figures of one kind; "120 km" is another.
_UNITS = {
    "mw": "mw", "megawat": "mw", "gw": "gw", "kw": "kw", "km": "km", "kilomet": "km",
    "tonne": "t", "tons": "t", "ton": "t", "t": "t", "mt": "t", "lits": "bed", "beds": "bed",
    "bed": "bed", "milliar": "bn", "billion": "bn", "bn": "bn", "million": "m", "m": "m",
    "ans": "year", "years": "year", "year": "year", "annees": "year", "morts": "dead",
    "dead": "dead", "killed": "dead", "tues": "dead", "hectare": "ha", "ha": "ha",
    "dollars": "usd", "usd": "usd", "fcfa": "cfa", "cfa": "cfa", "yuan": "cny", "rmb": "cny",
}


def _unit(word: str) -> str:
    for size in range(min(len(word), 7), 0, -1):
        unit = _UNITS.get(word[:size])
        if unit is not None and (size >= 3 or size == len(word)):
            return unit
    return concept(word) if len(word) >= 3 else ""


def _read(
    title: str, summary: str
) -> tuple[frozenset[str], frozenset[str], frozenset[str], frozenset[str]]:
    """(concepts, anchors, kinds, figures): figures are "number:unit" (see ``_UNITS``)."""
    concepts: set[str] = set()
    anchors: set[str] = set()
    kinds: set[str] = set()
    figures: set[str] = set()
    for part in (_joined_digits(title), _joined_digits(summary)):
        shouting = part.isupper()  # ALL-CAPS headlines say nothing about names
        pieces = [
            (piece, match.start())
            for match in _TOKEN.finditer(part)
            for piece in re.split(r"[-'’]", _POSSESSIVE.sub("", _ELISION.sub("", match.group(0))))
        ]
        for index, (piece, start) in enumerate(pieces):
            word = _fold(piece)
            count = _COUNTS.get(word) or (word if len(word) == 1 and word.isdigit() else None)
            if count is not None:  # "trois Chinois" / "three Chinese" / "3 Chinese"
                concepts.add(f"#{count}")
                continue
            if len(word) < 2 or word in _STOPWORDS or word in _COMMON:
                continue
            dated = _DATE_TOKEN.match(word)
            if dated:
                anchors.add(f"@{dated.group(1)}-{dated.group(2)}")
                concepts.add(f"@{dated.group(1)}-{dated.group(2)}")
                continue
            ordinal = _ORDINAL.match(word)
            if ordinal or word.isdigit():
                number = ordinal.group(1) if ordinal else word
                if _YEAR.match(number):  # when, not what: half the items name the year
                    concepts.add(number)
                elif len(number) >= 2:
                    anchors.add(number)
                    concepts.add(number)
                    if ordinal:
                        figures.add(f"{number}:th")
                    elif index + 1 < len(pieces):
                        figures.add(f"{number}:{_unit(_fold(pieces[index + 1][0]))}")
                continue
            if len(word) < 3:
                continue
            kind = event_kind(word)
            if kind is not None:
                kinds.add(kind)
            named = piece[:1].isupper() and not shouting and not _opens_sentence(part, start)
            if named and concept(word) == word[:7]:
                anchors.add(word[:7])
            concepts.add(concept(word))
    if _ANALYSIS.search(title):
        kinds.add(ANALYSIS)
    return frozenset(concepts), frozenset(anchors), frozenset(kinds), frozenset(figures)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What grouping compares, computed once per item."""

    item_id: int
    story_id: int | None
    published: datetime
    concepts: frozenset[str]
    anchors: frozenset[str]
    kinds: frozenset[str] = frozenset()
    figures: frozenset[str] = frozenset()  # "100:mw", "@12-15": what and when, in figures


def fingerprint(
    item_id: int, story_id: int | None, title: str, summary: str, language: str, published: datetime
) -> Fingerprint:
    """``language`` is accepted for symmetry with the item; concepts are bilingual."""
    concepts, anchors, kinds, figures = _read(title, summary[:1500])
    dates = frozenset(a for a in anchors if a.startswith("@"))
    return Fingerprint(item_id, story_id, published, concepts, anchors, kinds, figures | dates)


def _weight_of(n: int, size: int) -> float:
    """Rarity of a concept seen in ``n`` of ``size`` items, only ever damping (0–1): a
    concept in most items says little, but rarity alone must not promote an incidental
    word above the event's own terms."""
    return min(1.0, math.log((size + 1) / (n + 0.5)) / math.log(size / 2))


class _Weights(dict[str, float]):
    """Rarity weights over a pool plus one new item, computed on demand."""

    def __init__(self, frequency: Counter[str], new: frozenset[str], size: int) -> None:
        super().__init__()
        self.frequency, self.new, self.size = frequency, new, size

    def __missing__(self, concept: str) -> float:
        n = self.frequency.get(concept, 0) + (concept in self.new)
        value = _weight_of(n, self.size) if n else 1.0
        self[concept] = value
        return value

    def get(self, concept: str, default: float | None = None) -> float:  # type: ignore[override]
        return self[concept]


def _weight(c: str, fp: Fingerprint, weights: dict[str, float], th: Thresholds) -> float:
    """A concept's weight in ``fp``: its kind (anchor, table concept, word) times rarity."""
    if c in fp.anchors:
        kind = th.anchor_weight
    elif c in _CONCEPTS or c.startswith("#"):
        kind = th.concept_weight
    else:
        kind = th.word_weight
    return weights.get(c, 1.0) * kind


def similarity(
    a: Fingerprint, b: Fingerprint, weights: dict[str, float], th: Thresholds = THRESHOLDS
) -> float:
    """How much of each item's most distinctive concepts the other one has, averaged
    over the two directions (a brief and a long feature on one event still meet)."""

    def weight(c: str, fp: Fingerprint) -> float:
        return _weight(c, fp, weights, th)

    def coverage(x: Fingerprint, y: Fingerprint) -> float:
        # Ties broken by the concept itself: set order changes with the hash seed, and
        # the same two items must be one story (or not) in every process.
        top = sorted(x.concepts, key=lambda c: (-weight(c, x), c))[: th.top_concepts]
        total = sum(weight(c, x) for c in top)
        return sum(weight(c, x) for c in top if c in y.concepts) / total if total else 0.0

    return (coverage(a, b) + coverage(b, a)) / 2


def choose_story(
    new: Fingerprint, candidates: Sequence[Fingerprint], th: Thresholds = THRESHOLDS
) -> int | None:
    """The story ``new`` belongs to (the most similar candidate's), or None."""
    return StoryPool(candidates, th).choose(new)


class StoryPool:
    """The items a new one may join, indexed for ``choose``; ``add`` grows the pool.

    Same decisions as comparing with every candidate, without the quadratic cost of a
    busy poll (500 feeds: every item against every other, and the rarity weights
    recounted for each): an item that shares no concept with a candidate scores 0
    against it, so only candidates sharing one are scored, in pool order (ties go to
    the earliest, as before); the weights come from running counts.
    """

    def __init__(self, candidates: Sequence[Fingerprint] = (), th: Thresholds = THRESHOLDS):
        self.th = th
        self.pool: list[Fingerprint] = []
        self.frequency: Counter[str] = Counter()
        self.index: dict[str, list[int]] = {}
        self.first: dict[int, Fingerprint] = {}
        # A story as a whole, for ``conflict``: every object, kind of event, figure and
        # date its members name.
        self.whole: dict[int, Fingerprint] = {}
        for candidate in candidates:
            self.add(candidate)

    def add(self, fingerprint: Fingerprint) -> None:
        """Add an item; the first one added of each story is its first report."""
        story_id = fingerprint.story_id
        if story_id is not None:
            self.first.setdefault(story_id, fingerprint)
            whole = self.whole.get(story_id)
            self.whole[story_id] = Fingerprint(
                fingerprint.item_id,
                story_id,
                fingerprint.published,
                (fingerprint.concepts & _OBJECTS) | (whole.concepts if whole else frozenset()),
                frozenset(),
                fingerprint.kinds | (whole.kinds if whole else frozenset()),
                fingerprint.figures | (whole.figures if whole else frozenset()),
            )
        position = len(self.pool)
        self.pool.append(fingerprint)
        self.frequency.update(fingerprint.concepts)
        for concept_name in fingerprint.concepts:
            self.index.setdefault(concept_name, []).append(position)

    def choose(self, new: Fingerprint) -> int | None:
        th = self.th
        sharing = sorted({p for c in new.concepts for p in self.index.get(c, ())})
        near = [
            c
            for c in (self.pool[p] for p in sharing)
            if c.story_id is not None
            and c.item_id != new.item_id
            and abs(c.published - new.published) <= th.repost_window
        ]
        if not near:
            return None
        weights = _Weights(self.frequency, new.concepts, max(len(self.pool) + 1, th.min_pool))
        best: tuple[float, int] | None = None
        for other in near:
            assert other.story_id is not None
            first = self.first.get(other.story_id, other)
            if conflict(new, self.whole.get(other.story_id, other)):
                continue  # another thing, another day or other figures: two events
            score = similarity(new, other, weights, th)
            window = th.repost_window if score >= th.repost_overlap else th.window
            if abs(first.published - new.published) > window:
                continue
            if score < th.overlap or (best is not None and score <= best[0]):
                continue
            if score < th.repost_overlap and _mass(new, other, weights, th) < th.min_mass:
                continue
            if first is not other and similarity(new, first, weights, th) < th.first_overlap:
                continue  # like a later member, unlike the first report: a chain
            best = (score, other.story_id)
        return None if best is None else best[1]


def _mass(a: Fingerprint, b: Fingerprint, weights: dict[str, float], th: Thresholds) -> float:
    return sum(
        min(_weight(c, a, weights, th), _weight(c, b, weights, th)) for c in a.concepts & b.concepts
    )


# A piece that explains, argues or asks rather than reports: its headline opens with a
# question word or names its genre. It is a story of its own, never a copy of the news
# it is about ("How Beijing became Bamako's top lender" beside a loan signed that week).
_ANALYSIS = re.compile(
    r"^\W*(?:how|why|what|comment|pourquoi|qu['’]est-ce)\b|"
    r"\b(?:analysis|analyse|d[ée]cryptage|opinion|tribune|[ée]ditorial|explainer|insight|"
    r"commentary|interview|point de vue|long read)\b",
    re.IGNORECASE,
)
ANALYSIS = "analysis"


def conflict(a: Fingerprint, b: Fingerprint) -> str | None:
    """What says two reports are of different events, whatever they share (None:
    nothing does). ``b`` may stand for a whole story: every member's objects, kinds of
    event, figures and dates."""
    if (ANALYSIS in a.kinds) != (ANALYSIS in b.kinds):
        return "an analysis and the news"
    if kinds_conflict(a.kinds - {ANALYSIS}, b.kinds - {ANALYSIS}):
        return "conflicting kinds of event"
    if objects_conflict(a.concepts, b.concepts):
        return "different objects"
    if figures_conflict(a.figures, b.figures):
        return "different figures"
    if dates_conflict(a.figures, b.figures):
        return "different days"
    return None


def why_same_story(a: Fingerprint, b: Fingerprint, th: Thresholds = THRESHOLDS) -> str:
    """Why two items are (or would be) one story, in words: the similarity, what they
    share, and the kinds of event each names."""
    score = similarity(a, b, {}, th)
    shared = sorted(a.anchors & b.anchors) + sorted((a.concepts & b.concepts) - a.anchors)
    kinds = ", ".join(sorted(a.kinds | b.kinds)) or "none named"
    verdict = conflict(a, b) or kinds
    return (
        f"similarity {score:.2f} (threshold {th.overlap:g}); shared: "
        f"{', '.join(shared[:10]) or 'nothing'}; events: {verdict}"
    )
