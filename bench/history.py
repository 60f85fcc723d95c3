"""A year of history, generated (run by hand: ``python bench/history.py build --url URL``).

Issue 14's figures are about a desk after a year: 300 feeds, 1,000 subscribers,
300,000 items and 3 M delivery rows. This builds such a database, deterministic for a
``--seed`` (the times end at ``--end``, default now), so that search, the outbox, the
bot's replies and the digest can be measured on it (``bench/history_bench.py``).

It is written the way mcwatch writes, so that what is measured is what a year of
polling leaves: the schema by the migrations, topics, lexicon and seeded feeds by the
seed, items through ``store.items.add_items`` (one call per feed and day, as a poll
would store them, fetched minutes to hours after publication), their topics through
``store.items.add_matches`` and alerts through ``store.deliveries.queue_alerts_bulk``,
a few thousand items per transaction. Bulk UPDATEs then do what a year of sending did:
almost every alert ``sent``; left over are a realistic few — paused readers' alerts held
``queued``, alerts held for quiet hours or waiting for a retry, two ``sending`` in
flight, a handful ``edit_pending`` and ``failed`` (readers who blocked the bot, a
message Telegram refused).

``python bench/history.py copy --from sqlite:///year.sqlite --url postgresql+psycopg://…``
puts a history built on SQLite into PostgreSQL row for row (COPY, minutes instead of the
half hour the writers' round trips take there): then both databases hold the same year.

About 4 % of the items are matched: Mali–China reports made from templates per topic
and run through the real matcher (its topics, terms and evidence are what is stored),
grouped 1–4 reports to a story across outlets and languages. The rest is the news
around them: Malian, Chinese and world headlines over a vocabulary wide enough that a
search such as ``chine AND mine*`` finds a realistic handful among them too.

Figures on this machine (2 cores, shared with test runs, load 6–15): the full size took
11 min on SQLite (3 min of it CPU: the rest was waiting for a core) and about half an
hour on PostgreSQL, where each writer's statement is a round trip; 30,000 items and
300,000 alerts take under a minute on SQLite. The last line printed says how long.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, func, insert, select, text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.clock import FixedClock  # noqa: E402
from bot.ingest.stored_rules import stored_matcher  # noqa: E402
from bot.match import Matcher  # noqa: E402
from bot.seed_files import seed  # noqa: E402
from bot.types import DeliveryIntent, Match, MatchInput  # noqa: E402
from bot.types import Item as ItemRecord  # noqa: E402
from store import deliveries, feeds, items, topics  # noqa: E402
from store.db import make_engine, transaction  # noqa: E402
from store.feeds import NewFeed  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.models import (  # noqa: E402
    Delivery,
    Digest,
    Feed,
    Item,
    ItemTopic,
    Meta,
    Story,
    Subscriber,
    Subscription,
)

# An unmatched item's story: none where the store can say so (issue 14), else a story
# of its own, as mcwatch wrote them before.
UNMATCHED: int | None = getattr(items, "NO_STORY", None)
META_KEY = "bench_history"  # what was built, and when the history ends (history_bench reads it)

# ---------------------------------------------------------------------------------------
# Words. Fillers never name Mali, China or a mine: those come only where drawn, at the
# rates below, so that a search finds what the generator meant it to.

FILLER_FR = (
    "le gouvernement a annoncé mardi une série de mesures pour la rentrée scolaire dans les "
    "quartiers périphériques où les familles attendent depuis des mois les nouveaux manuels "
    "la saison des pluies a commencé plus tôt que prévu selon les services météorologiques "
    "les commerçants du grand marché dénoncent la hausse des loyers et des taxes municipales "
    "le tournoi régional de basket réunira douze équipes au stade municipal samedi prochain "
    "des associations de jeunes organisent une journée de salubrité dans les rues du centre "
    "le conseil des ministres a adopté un projet de loi sur la décentralisation et les "
    "collectivités territoriales après un long débat au sein de la commission des lois "
    "les syndicats de l'enseignement menacent d'une grève si les arriérés ne sont pas payés "
    "un festival de musique mandingue attire des artistes venus de toute la sous-région "
    "la fédération de football a présenté le nouveau sélectionneur lors d'une conférence "
    "les éleveurs redoutent une transhumance difficile faute de pâturages et de points d'eau "
    "une campagne de sensibilisation des parents se déroule cette semaine dans les écoles "
    "le prix du pain reste stable malgré la hausse du cours mondial du blé rapporte la chambre "
    "la cour d'appel a renvoyé le dossier à une audience ultérieure à la demande des avocats "
    "les habitants réclament le ramassage des ordures et le curage des caniveaux avant l'hivernage "
    "une délégation de la société civile a rencontré les responsables du ministère du plan "
    "les résultats du baccalauréat seront proclamés à la fin du mois annonce l'académie "
    "le fleuve a atteint un niveau inhabituel et les riverains sont invités à la prudence "
    "des artisans exposent leurs œuvres au palais de la culture jusqu'à la fin de la semaine"
).split()
FILLER_EN = (
    "the government announced on tuesday a series of measures for the new school year in the "
    "outlying districts where families have waited for months for the new textbooks the rainy "
    "season started earlier than expected according to the weather service traders at the "
    "central market complain about the rise in rents and local taxes the regional "
    "basketball tournament will bring together twelve teams at the municipal stadium next "
    "saturday youth associations are organising a clean-up day in the streets of the centre "
    "the council of ministers adopted a bill on decentralisation and local authorities after "
    "a long debate in the law committee teachers unions threaten a strike if arrears are not "
    "paid a music festival draws artists from across the subregion the football federation "
    "presented the new coach at a press conference herders fear a difficult transhumance for "
    "lack of pasture and water points an awareness campaign for parents is under "
    "way this week the price of bread remains stable despite the rise in world wheat prices "
    "the court of appeal adjourned the case at the request of the lawyers residents demand "
    "rubbish collection and the clearing of gutters before the rainy season a civil society "
    "delegation met officials of the planning ministry exam results will be announced at the "
    "end of the month the river reached an unusual level and residents are urged to be careful"
).split()
# A report's own filler has no sports or festival words: a Mali–China item that names a
# match or a tournament is a football story to the gate (README "Topics"), not news.
_SPORT = frozenset(
    "football basket basketball tournoi festival musique stade équipes teams tournament "
    "stadium music artists artistes coach sélectionneur fédération federation".split()
)
REPORT_FILLER_FR = [w for w in FILLER_FR if w not in _SPORT]
REPORT_FILLER_EN = [w for w in FILLER_EN if w not in _SPORT]
PLACES = [
    "Bamako",
    "Kayes",
    "Sikasso",
    "Ségou",
    "Mopti",
    "Koulikoro",
    "Gao",
    "Kita",
    "Bougouni",
    "Koutiala",
    "Tombouctou",
    "Kidal",
    "Nioro",
    "San",
    "Bla",
]
WORLD_FR = ["Dakar", "Abidjan", "Niamey", "Ouagadougou", "Paris", "Rabat", "Conakry", "Accra"]
WORLD_EN = ["Dakar", "Abidjan", "Niamey", "Lagos", "London", "Nairobi", "Accra", "Conakry"]
COMPANIES = [
    "Ganfeng Lithium",
    "Hainan Mining",
    "CRBC",
    "China Geo-Engineering",
    "Sinohydro",
    "CMEC",
    "Huawei",
    "China Railway 15",
    "CGCOC",
    "Zijin Mining",
]
SITES = ["Goulamina", "Bougouni", "Kéniéba", "Kalana", "Fekola", "Syama", "Yanfolila"]

# Headlines of the news around the matched items; {p}: a Malian place, {w}: a city abroad.
NEWS_FR = [
    "{p} : la rentrée scolaire perturbée par les pluies",
    "Football : les Aigles du Mali préparent la CAN à {w}",
    "{p} : les commerçants dénoncent la hausse des prix",
    "Conseil des ministres : un projet de loi sur la décentralisation",
    "{w} : sommet régional sur la sécurité alimentaire",
    "Culture : le festival de {p} attire des milliers de visiteurs",
    "Élevage : la transhumance inquiète les éleveurs de {p}",
    "{w} : la banque centrale relève son taux directeur",
    "Santé : campagne de vaccination à {p}",
    "Justice : le procès renvoyé à {p}",
]
NEWS_EN = [
    "{p}: school year disrupted by heavy rains",
    "Football: Mali's Eagles prepare for the Cup of Nations in {w}",
    "{p} traders protest rising prices",
    "Cabinet adopts decentralisation bill",
    "{w} hosts regional summit on food security",
    "Culture: {p} festival draws thousands",
    "Herders in {p} worry about a difficult season",
    "{w}: central bank raises its key rate",
    "Health: vaccination drive in {p}",
    "Court adjourns trial in {p}",
]
# Sentences that put China, Mali or a mine into an unmatched item, in passing.
CHINA_FR = [
    "La Chine a publié ses chiffres du commerce extérieur pour le trimestre.",
    "À Pékin, les marchés ont terminé la séance en légère hausse.",
    "Une entreprise chinoise a remporté un contrat routier au Sénégal.",
]
CHINA_EN = [
    "China published its foreign trade figures for the quarter.",
    "In Beijing, markets closed slightly higher.",
    "A Chinese company won a road contract in Senegal.",
]
MALI_FR = [
    "Le Mali accueillera la prochaine réunion de la sous-région.",
    "À Bamako, la circulation reste difficile aux heures de pointe.",
]
MALI_EN = [
    "Mali will host the next regional meeting.",
    "In Bamako, traffic remains heavy at rush hour.",
]
MINE_FR = [
    "Une mine de charbon a été fermée après un accident au Shanxi.",
    "Les mineurs artisanaux réclament de nouveaux couloirs d'orpaillage.",
    "Le secteur minier représente une part croissante des exportations.",
]
MINE_EN = [
    "A coal mine was closed after an accident in Shanxi.",
    "Artisanal miners are asking for new gold-panning corridors.",
    "The mining sector accounts for a growing share of exports.",
]

# Mali–China reports, by topic: (title, lede) in French and English. {p} place, {c}
# company, {s} site, {n} a figure. Run through the real matcher: what it says is stored.
REPORTS: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {
    "mining": (
        [
            (
                "Mali : la société chinoise {c} obtient un permis pour la mine de lithium de {s}",
                "Le gouvernement malien a signé avec le groupe chinois {c} une convention pour "
                "l'exploitation de la mine de lithium de {s}, avec une production attendue de {n} "
                "tonnes de concentré par an.",
            ),
            (
                "Or : la Chine et le Mali signent un accord sur la mine de {s}",
                "Le ministre malien des Mines a reçu à Bamako une délégation chinoise de {c} pour "
                "le projet aurifère de {s}, qui doit employer {n} personnes.",
            ),
        ],
        [
            (
                "Mali grants Chinese firm {c} a permit for the {s} lithium mine",
                "Mali's government signed an agreement with China's {c} to develop the {s} lithium "
                "mine, expected to produce {n} tonnes of concentrate a year.",
            ),
            (
                "China and Mali sign a deal on the {s} gold mine",
                "Mali's mines minister received a Chinese delegation from {c} in Bamako about the "
                "{s} gold project, which is to employ {n} people.",
            ),
        ],
    ),
    "infrastructure": (
        [
            (
                "{p} : la route construite par l'entreprise chinoise {c} inaugurée",
                "Le Premier ministre malien a inauguré à {p} une route de {n} "
                "kilomètres construite "
                "par l'entreprise chinoise {c} grâce à un prêt de la Chine.",
            ),
            (
                "Mali : la Chine financera le pont de {p}",
                "La Chine et le Mali ont signé à Bamako l'accord de construction d'un pont à {p}, "
                "confié au groupe chinois {c}.",
            ),
        ],
        [
            (
                "Chinese firm {c} completes road in {p}, Mali",
                "Mali's prime minister opened a {n} km road in {p} built by the "
                "Chinese company {c} "
                "with a loan from China.",
            ),
            (
                "China to fund a bridge in {p}, Mali",
                "China and Mali signed in Bamako an agreement to build a bridge in {p}, to be "
                "carried out by the Chinese group {c}.",
            ),
        ],
    ),
    "energy": (
        [
            (
                "Mali : une centrale solaire chinoise de {n} MW à {p}",
                "Le groupe chinois {c} construira à {p} une centrale solaire de {n} mégawatts pour "
                "EDM-SA, selon l'accord signé entre le Mali et la Chine.",
            ),
            (
                "Barrage de {p} : la Chine et le Mali relancent le projet hydroélectrique",
                "Le ministre malien de l'Énergie et l'ambassadeur de Chine ont relancé le barrage "
                "hydroélectrique de {p}, d'une puissance de {n} MW.",
            ),
        ],
        [
            (
                "Chinese firm to build {n} MW solar plant in {p}, Mali",
                "China's {c} will build a {n} megawatt solar power plant in {p} for EDM-SA, under "
                "the agreement signed by Mali and China.",
            ),
            (
                "Mali and China revive the {p} hydropower dam",
                "Mali's energy minister and the Chinese ambassador relaunched the {p} "
                "hydroelectric "
                "dam, rated at {n} MW.",
            ),
        ],
    ),
    "finance": (
        [
            (
                "Mali : prêt chinois de {n} milliards de FCFA pour {p}",
                "La Chine accorde au Mali un prêt de {n} milliards de francs CFA de "
                "l'Exim Bank pour "
                "financer des projets à {p}, selon le ministère malien de l'Économie.",
            ),
            (
                "Coopération : la Chine annule une partie de la dette du Mali",
                "Pékin a annoncé l'annulation de {n} millions de dollars de dette du Mali lors "
                "d'une cérémonie à Bamako.",
            ),
        ],
        [
            (
                "China lends Mali {n} billion CFA francs for {p} projects",
                "China granted Mali a {n} billion CFA franc loan from Exim Bank to "
                "finance projects "
                "in {p}, Mali's finance ministry said.",
            ),
            (
                "China cancels part of Mali's debt",
                "Beijing announced the cancellation of {n} million dollars of Mali's debt at a "
                "ceremony in Bamako.",
            ),
        ],
    ),
    "security": (
        [
            (
                "{p} : enlèvement de ressortissants chinois sur un site minier",
                "Des hommes armés ont enlevé {n} ressortissants chinois près de {p}, au Mali ; "
                "l'ambassade de Chine appelle à la prudence.",
            ),
            (
                "Sécurité : la Chine demande au Mali de protéger ses ressortissants",
                "L'ambassade de Chine à Bamako a demandé aux autorités maliennes de renforcer la "
                "sécurité de ses {n} ressortissants.",
            ),
        ],
        [
            (
                "Chinese nationals kidnapped near {p}, Mali",
                "Gunmen kidnapped {n} Chinese nationals near {p} in Mali; China's embassy urged "
                "caution.",
            ),
            (
                "China asks Mali to protect its nationals",
                "China's embassy in Bamako asked Malian authorities to step up security for its "
                "{n} nationals.",
            ),
        ],
    ),
    "defense": (
        [
            (
                "Défense : la Chine remet {n} véhicules blindés à l'armée malienne",
                "La Chine a remis à Bamako {n} véhicules blindés aux forces armées maliennes, lors "
                "d'une cérémonie en présence du ministre malien de la Défense.",
            ),
            (
                "Mali : des officiers formés en Chine",
                "{n} officiers des forces armées maliennes ont achevé une formation militaire en "
                "Chine, annonce le ministère malien de la Défense.",
            ),
        ],
        [
            (
                "China hands {n} armoured vehicles to Mali's army",
                "China handed {n} armoured vehicles to Mali's armed forces in Bamako, "
                "at a ceremony "
                "attended by Mali's defence minister.",
            ),
            (
                "Malian officers trained in China",
                "{n} officers of Mali's armed forces completed military training in China, Mali's "
                "defence ministry said.",
            ),
        ],
    ),
    "diplomacy": (
        [
            (
                "Le président de la Transition reçoit l'ambassadeur de Chine",
                "Le chef de l'État malien a reçu à Koulouba l'ambassadeur de Chine au Mali pour "
                "évoquer le partenariat stratégique entre les deux pays.",
            ),
            (
                "Mali-Chine : {n} ans de relations diplomatiques célébrés à Bamako",
                "Le Mali et la Chine ont célébré à Bamako les {n} ans de leurs relations "
                "diplomatiques.",
            ),
        ],
        [
            (
                "Mali's transition president receives China's ambassador",
                "Mali's head of state received China's ambassador to Mali at Koulouba to discuss "
                "the strategic partnership between the two countries.",
            ),
            (
                "Mali and China mark {n} years of diplomatic ties",
                "Mali and China celebrated {n} years of diplomatic relations in Bamako.",
            ),
        ],
    ),
    "agriculture": (
        [
            (
                "{p} : des agronomes chinois au centre de démonstration du riz hybride",
                "Des agronomes chinois forment {n} producteurs maliens au riz hybride au centre de "
                "démonstration de {p}, dans le cadre de la coopération entre le Mali et la Chine.",
            ),
            (
                "Mali : la Chine offre {n} tonnes de riz",
                "La Chine a remis au Mali un don de {n} tonnes de riz, lors d'une cérémonie à "
                "Bamako.",
            ),
        ],
        [
            (
                "Chinese agronomists train Malian farmers in hybrid rice in {p}",
                "Chinese agronomists are training {n} Malian farmers in hybrid rice at the {p} "
                "demonstration centre, under Mali–China cooperation.",
            ),
            (
                "China donates {n} tonnes of rice to Mali",
                "China handed Mali a donation of {n} tonnes of rice at a ceremony in Bamako.",
            ),
        ],
    ),
    "health": (
        [
            (
                "{p} : la mission médicale chinoise opère {n} patients",
                "La mission médicale chinoise au Mali a opéré {n} patients de la cataracte à "
                "l'hôpital de {p}.",
            ),
            (
                "Santé : la Chine offre des médicaments contre le paludisme au Mali",
                "La Chine a offert au Mali {n} doses de médicaments contre le paludisme, remises "
                "au ministre malien de la Santé.",
            ),
        ],
        [
            (
                "Chinese medical team operates on {n} patients in {p}, Mali",
                "The Chinese medical team in Mali operated on {n} cataract patients at the {p} "
                "hospital.",
            ),
            (
                "China donates malaria drugs to Mali",
                "China gave Mali {n} doses of malaria drugs, handed to Mali's health minister.",
            ),
        ],
    ),
    "general": (
        [
            (
                "Mali-Chine : un mémorandum d'entente signé à Bamako",
                "Le Mali et la Chine ont signé à Bamako un mémorandum d'entente de coopération "
                "économique, le {n}e de l'année.",
            ),
            (
                "Les échanges commerciaux entre le Mali et la Chine progressent",
                "Les échanges entre le Mali et la Chine ont atteint {n} milliards de francs CFA, "
                "selon la chambre de commerce.",
            ),
        ],
        [
            (
                "Mali and China sign a memorandum of understanding",
                "Mali and China signed a memorandum of understanding on economic cooperation in "
                "Bamako, the {n}th this year.",
            ),
            (
                "Trade between Mali and China grows",
                "Trade between Mali and China reached {n} billion CFA francs, the chamber of "
                "commerce said.",
            ),
        ],
    ),
}
TOPIC_WEIGHTS = {
    "mining": 18,
    "infrastructure": 14,
    "energy": 10,
    "finance": 10,
    "security": 12,
    "defense": 8,
    "diplomacy": 12,
    "agriculture": 7,
    "health": 5,
    "general": 4,
}
STORY_SIZES = ((1, 45), (2, 30), (3, 15), (4, 10))  # reports per story, weight
MATCHED_SHARE = 0.04
# Unmatched items that mention China / Mali / a mine in passing.
CHINA_RATE, MALI_RATE, MINE_RATE = 0.03, 0.2, 0.03


@dataclass(frozen=True, slots=True)
class Params:
    items: int = 300_000
    deliveries: int = 3_000_000
    days: int = 365
    feeds: int = 300
    subscribers: int = 1_000
    seed: int = 1
    end: datetime = field(default_factory=lambda: datetime.now(UTC))
    batch: int = 4_000  # items per transaction


@dataclass(slots=True)
class Planned:
    """One item to write: when, where, what; a matched one belongs to ``story``."""

    published: datetime
    feed: int  # index into the feed list
    title: str
    summary: str
    language: str
    story: int | None = None  # story key (matched items only)
    matches: tuple[Match, ...] = ()


@dataclass(slots=True)
class Reader:
    """A generated subscriber, as the generator decides for it."""

    id: int
    mode: str
    topics: frozenset[str]
    blocked_at: datetime | None = None
    paused_at: datetime | None = None


# ---------------------------------------------------------------------------------------


def prepare_database(url: str, *, replace: bool) -> None:
    """An empty database at ``url``: a PostgreSQL database is created when missing
    (``--replace``: dropped first), an SQLite file removed with ``--replace``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if replace:
            for suffix in ("", "-wal", "-shm", ".lock"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = parsed.database
    admin = make_engine(parsed.set(database="postgres").render_as_string(hide_password=False))
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if exists and replace:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                exists = None
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def weighted(rng: random.Random, pairs: Sequence[tuple[object, int]]) -> object:
    return rng.choices([v for v, _ in pairs], weights=[w for _, w in pairs])[0]


def filler(rng: random.Random, words: Sequence[str], size: int) -> str:
    """Sentences of unrelated words, about ``size`` characters."""
    out: list[str] = []
    length = 0
    while length < size:
        sentence = " ".join(rng.choices(words, k=rng.randint(9, 18)))
        sentence = sentence[0].upper() + sentence[1:] + "."
        out.append(sentence)
        length += len(sentence) + 1
    return " ".join(out)


def news_item(rng: random.Random, language: str) -> tuple[str, str]:
    """An unmatched item: a headline and 300–600 characters of summary."""
    fr = language == "fr"
    headline = rng.choice(NEWS_FR if fr else NEWS_EN).format(
        p=rng.choice(PLACES), w=rng.choice(WORLD_FR if fr else WORLD_EN)
    )
    extra = []
    if rng.random() < CHINA_RATE:
        extra.append(rng.choice(CHINA_FR if fr else CHINA_EN))
    if rng.random() < MALI_RATE:
        extra.append(rng.choice(MALI_FR if fr else MALI_EN))
    if rng.random() < MINE_RATE:
        extra.append(rng.choice(MINE_FR if fr else MINE_EN))
    body = filler(rng, FILLER_FR if fr else FILLER_EN, rng.randint(300, 600) - 60 * len(extra))
    if extra:
        sentences = body.split(". ")
        for sentence in extra:
            sentences.insert(rng.randint(0, len(sentences)), sentence.rstrip("."))
        body = ". ".join(sentences)
    return headline, body


def report(rng: random.Random, slug: str, language: str, fill: dict[str, str]) -> tuple[str, str]:
    """One outlet's report of a story: its topic's template, then news-like filler."""
    fr_templates, en_templates = REPORTS[slug]
    title, lede = rng.choice(fr_templates if language == "fr" else en_templates)
    words = REPORT_FILLER_FR if language == "fr" else REPORT_FILLER_EN
    rest = filler(rng, words, rng.randint(150, 400))
    return title.format(**fill), f"{lede.format(**fill)} {rest}"


def plan_items(
    params: Params, rng: random.Random, feed_languages: Sequence[str], matcher: Matcher
) -> tuple[list[Planned], int]:
    """Every item of the history, oldest first, and how many stories they form."""
    start = params.end - timedelta(days=params.days)
    span = (params.end - start).total_seconds()
    # A few feeds publish most of the news (Zipf-like): rank r weighs 1 / r^0.8.
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(feed_languages))]
    rng.shuffle(weights)
    feed_pick = rng.choices(range(len(feed_languages)), weights=weights, k=params.items)
    planned: list[Planned] = []
    story = 0
    matched_target = round(params.items * MATCHED_SHARE)
    slugs = list(TOPIC_WEIGHTS)
    slug_weights = list(TOPIC_WEIGHTS.values())
    while len(planned) < matched_target:
        size = int(weighted(rng, STORY_SIZES))  # type: ignore[call-overload]
        size = min(size, matched_target - len(planned))
        slug = rng.choices(slugs, weights=slug_weights)[0]
        fill = {
            "p": rng.choice(PLACES),
            "c": rng.choice(COMPANIES),
            "s": rng.choice(SITES),
            "n": str(rng.choice((2, 3, 5, 12, 20, 45, 50, 120, 300, 1500, 5000))),
        }
        first = start + timedelta(seconds=rng.random() * span)
        outlets = rng.sample(range(len(feed_languages)), k=min(size, len(feed_languages)))
        members = []
        for number, feed in enumerate(outlets):
            at = first if number == 0 else first + timedelta(hours=rng.uniform(0.2, 48))
            at = min(at, params.end)
            title, summary = report(rng, slug, feed_languages[feed], fill)
            matches = matcher.match(MatchInput(title, summary, feed_languages[feed]))
            members.append(Planned(at, feed, title, summary, feed_languages[feed], story, matches))
        if any(m.matches for m in members):
            for member in members:
                if not member.matches:  # one outlet's wording missed: it is news, unmatched
                    member.story = None
            planned.extend(members)
            story += 1
    while len(planned) < params.items:
        feed = feed_pick[len(planned)]
        title, summary = news_item(rng, feed_languages[feed])
        at = start + timedelta(seconds=rng.random() * span)
        planned.append(Planned(at, feed, title, summary, feed_languages[feed]))
    planned.sort(key=lambda p: p.published)
    return planned, story


def add_feeds(engine: Engine, params: Params, rng: random.Random) -> list[tuple[int, str, str]]:
    """The seeded feeds plus generated ones up to ``params.feeds``: (id, name, language).

    Generated feeds live under ``.example`` (RFC 2606: never resolvable), and every feed
    is scheduled as if it had just been polled, so nothing is due when the history ends."""
    now = params.end
    with transaction(engine) as session:
        rows = list(session.execute(select(Feed).order_by(Feed.id)).scalars())  # type: ignore[arg-type]
        for n in range(len(rows), params.feeds):
            language = "fr" if rng.random() < 0.6 else "en"
            name = f"{'Le Journal' if language == 'fr' else 'The Courier'} {n:03d}"
            rows.append(
                feeds.add_feed(
                    session,
                    NewFeed(
                        url=f"https://news{n:03d}.example/feed.xml", name=name, language=language
                    ),
                    now,
                )
            )
        result = []
        for row in rows:
            assert row.id is not None
            row.created_at = now - timedelta(days=params.days + 30)
            row.last_polled_at = row.last_ok = now - timedelta(minutes=rng.uniform(1, 14))
            row.next_poll_at = now + timedelta(minutes=rng.uniform(1, 15))
            session.add(row)
            result.append((row.id, row.name, row.language or "fr"))
    return result


TIMEZONES = ((None, 80), ("Europe/Paris", 10), ("Asia/Shanghai", 5), ("America/New_York", 5))


def add_readers(engine: Engine, params: Params, rng: random.Random) -> list[Reader]:
    """Subscribers: mostly private chats, a few groups and channels; French and English;
    instant, digest or both; most on every topic (what /start gives), some on a few.

    Two Core inserts, not ``subscribers.register`` a thousand times (18 ms each on
    PostgreSQL here): the rows are what /start and the settings commands leave."""
    now = params.end
    start = now - timedelta(days=params.days)
    readers: list[Reader] = []
    rows: list[dict[str, object]] = []
    with transaction(engine) as session:
        ids = topics.topic_ids_by_slug(session)
        slugs = [t.slug for t in topics.list_topics(session, enabled_only=True)]
        for n in range(params.subscribers):
            kind = str(weighted(rng, (("private", 94), ("supergroup", 4), ("channel", 2))))
            mode = str(weighted(rng, (("instant", 70), ("digest", 15), ("both", 15))))
            row: dict[str, object] = {
                "chat_id": 10_000_000 + n if kind == "private" else -1_001_000_000_000 - n,
                "chat_type": kind,
                "title": f"{kind} {n}",
                "language": "fr" if rng.random() < 0.65 else "en",
                "mode": mode,
                "active": True,
                "paused": False,
                "timezone": weighted(rng, TIMEZONES),
                "digest_time": None,
                "quiet_start": None,
                "quiet_end": None,
                "created_at": start - timedelta(days=rng.uniform(1, 60)),
            }
            chosen = frozenset(slugs)
            if rng.random() < 0.25:
                chosen = frozenset(rng.sample(slugs, k=rng.randint(2, 5)))
            if mode != "instant" and rng.random() < 0.3:
                row["digest_time"] = f"{rng.choice((6, 7, 8, 18)):02d}:{rng.choice((0, 30)):02d}"
            if rng.random() < 0.05:
                row["quiet_start"], row["quiet_end"] = "22:00", "07:00"
            reader = Reader(0, mode, chosen)
            draw = rng.random()
            if draw < 0.02:  # blocked the bot some time during the year
                reader.blocked_at = start + timedelta(days=rng.uniform(30, params.days - 5))
                row["active"] = False
            elif draw < 0.035:  # paused lately: their alerts wait, queued
                reader.paused_at = now - timedelta(days=rng.uniform(0.5, 10))
                row["paused"] = True
            rows.append(row)
            readers.append(reader)
        table = Subscriber.__table__  # type: ignore[attr-defined]
        new_ids = list(
            session.scalars(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
        )
        for reader, new_id in zip(readers, new_ids, strict=True):
            reader.id = new_id
        session.execute(
            insert(Subscription.__table__),
            [  # type: ignore[attr-defined]
                {"subscriber_id": r.id, "topic_id": ids[slug]} for r in readers for slug in r.topics
            ],
        )
    return readers


def recipients(
    rng: random.Random, readers: Sequence[Reader], slugs: Sequence[str], at: datetime, want: int
) -> list[tuple[Reader, tuple[str, ...]]]:
    """Who gets the alert of a story matched ``slugs`` at ``at``: instant readers of one of
    its topics (``general`` reaches the readers of every topic), at most ``want`` of them
    (the others had not subscribed yet, or chose otherwise)."""
    eligible = []
    for reader in readers:
        if reader.mode == "digest" or (reader.blocked_at and reader.blocked_at < at):
            continue
        wanted = tuple(s for s in slugs if s in reader.topics)
        if wanted:
            eligible.append((reader, wanted))
    if len(eligible) > want:
        eligible = rng.sample(eligible, want)
    return eligible


def write_history(
    engine: Engine,
    params: Params,
    rng: random.Random,
    planned: Sequence[Planned],
    n_stories: int,
    feed_rows: Sequence[tuple[int, str, str]],
    readers: Sequence[Reader],
    progress: Callable[[str], None],
) -> None:
    """Items, matches and alerts, a window of ``params.batch`` items per transaction."""
    with transaction(engine) as session:
        topic_ids = topics.topic_ids_by_slug(session)
    story_ids: dict[int, int] = {}
    story_slugs: dict[int, tuple[str, ...]] = {}
    queued_stories = 0
    queued = 0
    began = time.perf_counter()
    for start in range(0, len(planned), params.batch):
        window = planned[start : start + params.batch]
        # One add_items per feed and day, as a poll stores a feed's new items: fetched
        # a few minutes to a few hours after the newest of them was published.
        groups: dict[tuple[int, str], list[Planned]] = defaultdict(list)
        for p in window:
            groups[(p.feed, p.published.date().isoformat())].append(p)
        calls = []
        for key, members in groups.items():
            fetched = members[-1].published + timedelta(minutes=rng.uniform(3, 90))
            calls.append((min(fetched, params.end), key[0], members))
        calls.sort(key=lambda c: c[0])
        new_stories: list[tuple[int, datetime, int, tuple[str, ...]]] = []
        with transaction(engine) as session:
            for fetched, feed, members in calls:
                feed_id, source, _ = feed_rows[feed]
                records = [
                    ItemRecord(
                        identity=f"hist:{feed_id}:{start + n}:{p.published.timestamp():.0f}",
                        title=p.title,
                        link=f"https://news{feed:03d}.example/{p.published:%Y/%m/%d}/{start + n}",
                        summary=p.summary,
                        published=p.published,
                        language=p.language,
                    )
                    for n, p in enumerate(members)
                ]
                keys: list[int | None] = [
                    UNMATCHED if p.story is None else story_ids.get(p.story, -(p.story + 1))
                    for p in members
                ]
                stored = items.add_items(session, feed_id, source, records, keys, fetched)
                matches = []
                for p, (item_id, story_id) in zip(members, stored, strict=True):
                    if p.story is None:
                        continue
                    matches.extend((item_id, m) for m in p.matches)
                    if p.story not in story_ids:
                        story_ids[p.story] = story_id
                        story_slugs[p.story] = tuple(m.slug for m in p.matches)
                        new_stories.append((story_id, fetched, item_id, story_slugs[p.story]))
                items.add_matches(session, matches, topic_ids)
            for story_id, at, item_id, slugs in new_stories:
                left = max(n_stories - queued_stories, 1)
                want = max(round((params.deliveries - queued) / left), 0)
                chosen = recipients(rng, readers, slugs, at, want)
                planned_alerts = [
                    (story_id, DeliveryIntent(reader.id, item_id, wanted))
                    for reader, wanted in chosen
                ]
                queued += deliveries.queue_alerts_bulk(session, planned_alerts, at)
                queued_stories += 1
            # What a year of sending did: these alerts went out minutes after queueing.
            if new_stories:
                session.execute(
                    update(Delivery.__table__)  # type: ignore[arg-type]
                    .where(Delivery.__table__.c.story_id.in_([s[0] for s in new_stories]))  # type: ignore[attr-defined]
                    .values(
                        status="sent",
                        attempts=1,
                        sent_at=Delivery.__table__.c.next_attempt_at,  # type: ignore[attr-defined]
                        message_id=Delivery.__table__.c.id,
                    )  # type: ignore[attr-defined]
                )
        done = start + len(window)
        progress(
            f"  items {done:,}/{len(planned):,}  stories {len(story_ids):,}  "
            f"alerts {queued:,}  {time.perf_counter() - began:.0f} s"
        )


def leave_the_few(
    engine: Engine, params: Params, rng: random.Random, readers: Sequence[Reader]
) -> None:
    """What a running desk has at any moment: held, retrying, in flight, failed."""
    now = params.end
    table = Delivery.__table__  # type: ignore[attr-defined]
    with transaction(engine) as session:
        # Paused readers: every alert since their /pause waits, queued and due.
        for reader in readers:
            if reader.paused_at is not None:
                session.execute(
                    update(table)
                    .where(
                        table.c.subscriber_id == reader.id, table.c.created_at >= reader.paused_at
                    )
                    .values(status="queued", attempts=0, sent_at=None, message_id=None)
                )
            if reader.blocked_at is not None:  # the alert that found out, failed
                last = session.execute(
                    select(func.max(table.c.id)).where(table.c.subscriber_id == reader.id)
                ).scalar()
                if last is not None:
                    session.execute(
                        update(table)
                        .where(table.c.id == last)
                        .values(
                            status="failed",
                            sent_at=None,
                            message_id=None,
                            last_error="Forbidden: bot was blocked by the user",
                        )
                    )
        newest = list(
            session.execute(
                select(table.c.id)
                .where(table.c.status == "sent")
                .order_by(table.c.id.desc())
                .limit(400)
            ).scalars()
        )
        rng.shuffle(newest)
        held, retrying, sending, edits, refused = (
            newest[0:6],
            newest[6:10],
            newest[10:12],
            newest[12:20],
            newest[20:23],
        )
        session.execute(
            update(table)
            .where(table.c.id.in_(held))
            .values(
                status="queued",
                attempts=0,
                sent_at=None,
                message_id=None,
                next_attempt_at=now + timedelta(hours=rng.uniform(2, 8)),
            )
        )  # quiet hours
        session.execute(
            update(table)
            .where(table.c.id.in_(retrying))
            .values(
                status="queued",
                attempts=2,
                sent_at=None,
                message_id=None,
                next_attempt_at=now + timedelta(seconds=40),
                last_error="Timed out",
            )
        )
        session.execute(
            update(table)
            .where(table.c.id.in_(sending))
            .values(
                status="sending",
                sent_at=None,
                message_id=None,
                leased_until=now + timedelta(seconds=100),
            )
        )
        session.execute(
            update(table)
            .where(table.c.id.in_(edits))
            .values(edit_pending=True, next_attempt_at=now + timedelta(minutes=10))
        )
        session.execute(
            update(table)
            .where(table.c.id.in_(refused))
            .values(
                status="failed",
                sent_at=None,
                message_id=None,
                attempts=2,
                last_error="Bad Request: can't parse entities",
            )
        )


def add_digests(engine: Engine, params: Params, readers: Sequence[Reader]) -> int:
    """A sent daily digest for each digest reader and day (as ``store.digests`` records
    them), the last one yesterday's: today's is due at their digest time."""
    table = Digest.__table__  # type: ignore[attr-defined]
    written = 0
    pending: list[dict[str, object]] = []
    with transaction(engine) as session:
        rows = {s.id: s for s in session.execute(select(Subscriber)).scalars()}
        for reader in readers:
            if reader.mode == "instant" or reader.blocked_at is not None:
                continue
            row = rows[reader.id]
            zone = ZoneInfo(row.timezone or "Africa/Bamako")
            hour, minute = map(int, (row.digest_time or "07:30").split(":"))
            today = params.end.astimezone(zone).date()
            values = []
            for back in range(params.days, 0, -1):
                day = today - timedelta(days=back)
                end = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                values.append(
                    {
                        "subscriber_id": reader.id,
                        "local_date": day.isoformat(),
                        "period_start": end - timedelta(days=1),
                        "period_end": end,
                        "status": "sent",
                        "attempts": 1,
                        "parts_sent": 1,
                        "next_attempt_at": end,
                        "sent_at": end + timedelta(seconds=2),
                        "created_at": end,
                    }
                )
            if reader.paused_at is not None:
                values = [v for v in values if v["period_end"] < reader.paused_at]
            pending.extend(values)
            if values:
                row.last_digest_at = values[-1]["period_end"]
                session.add(row)
            written += len(values)
        if pending:
            session.execute(insert(table), pending)
    return written


def counts(engine: Engine) -> dict[str, object]:
    """What the database holds, for the last lines of ``build`` and for tests."""
    with transaction(engine) as session:
        one = lambda q: session.execute(q).scalar()  # noqa: E731
        table = Delivery.__table__  # type: ignore[attr-defined]
        first, last = session.execute(
            select(func.min(Item.published), func.max(Item.published))
        ).one()
        return {
            "feeds": one(select(func.count()).select_from(Feed)),
            "subscribers": one(select(func.count()).select_from(Subscriber)),
            "items": one(select(func.count()).select_from(Item)),
            "matched items": one(select(func.count(func.distinct(ItemTopic.item_id)))),
            "item topics": one(select(func.count()).select_from(ItemTopic)),
            "stories": one(select(func.count()).select_from(Story)),
            "stories with deliveries": one(select(func.count(func.distinct(table.c.story_id)))),
            "deliveries": one(select(func.count()).select_from(table)),
            "deliveries by status": dict(
                session.execute(select(table.c.status, func.count()).group_by(table.c.status)).all()
            ),
            "edit pending": one(
                select(func.count()).select_from(table).where(table.c.edit_pending)
            ),
            "digests": one(select(func.count()).select_from(Digest)),
            "first published": first,
            "last published": last,
        }


def build(
    params: Params,
    url: str,
    *,
    replace: bool = False,
    vacuum: bool = True,
    progress: Callable[[str], None] = print,
) -> dict[str, object]:
    """Build the history into the empty database at ``url``; returns ``counts``."""
    began = time.perf_counter()
    prepare_database(url, replace=replace)
    engine = make_engine(url)
    # PostgreSQL: batch the executemany INSERTs that have no RETURNING (alerts, digests)
    # into multi-row VALUES, as SQLAlchemy already does for those with RETURNING. The
    # SQL of the writers is unchanged; psycopg's row-by-row executemany made a full
    # build take a quarter of an hour.
    engine.dialect.use_insertmanyvalues_wo_returning = True
    try:
        upgrade(engine)
        with transaction(engine) as session:
            if session.execute(select(Item.id).limit(1)).first() is not None:
                raise SystemExit(f"{url}: already holds items (--replace starts afresh)")
        clock = FixedClock(params.end - timedelta(days=params.days + 30))
        seed(engine, clock)
        rng = random.Random(params.seed)
        feed_rows = add_feeds(engine, params, rng)
        readers = add_readers(engine, params, rng)
        progress(
            f"seeded: {len(feed_rows)} feeds, {len(readers)} subscribers "
            f"({time.perf_counter() - began:.1f} s)"
        )
        planned, n_stories = plan_items(
            params, rng, [f[2] for f in feed_rows], stored_matcher(engine)
        )
        progress(
            f"planned {len(planned):,} items, {n_stories:,} stories "
            f"({time.perf_counter() - began:.1f} s)"
        )
        write_history(engine, params, rng, planned, n_stories, feed_rows, readers, progress)
        leave_the_few(engine, params, rng, readers)
        digests = add_digests(engine, params, readers)
        progress(f"digests {digests:,} ({time.perf_counter() - began:.1f} s)")
        with transaction(engine) as session:
            session.merge(
                Meta(
                    key=META_KEY,
                    value=json.dumps(
                        {
                            "end": params.end.isoformat(),
                            "items": params.items,
                            "deliveries": params.deliveries,
                            "days": params.days,
                            "feeds": params.feeds,
                            "subscribers": params.subscribers,
                            "seed": params.seed,
                        }
                    ),
                )
            )
        if vacuum and engine.dialect.name == "postgresql":
            # The bulk UPDATEs above left a dead row per alert; a year of autovacuum would
            # have reclaimed them. Statistics are not gathered (no ANALYZE): the server
            # runs without autovacuum and issue 14 wants mcwatch not to depend on them.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text("VACUUM"))
        elif engine.dialect.name == "sqlite":
            with engine.connect() as c:
                c.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        result = counts(engine)
    finally:
        engine.dispose()
    progress(f"built in {time.perf_counter() - began:.0f} s")
    return result


# Tables in foreign-key order, for ``copy``.
TABLES = (
    "alembic_version",
    "meta",
    "seed_records",
    "topics",
    "feeds",
    "stories",
    "items",
    "item_topics",
    "subscribers",
    "subscriptions",
    "deliveries",
    "digests",
)


def copy_history(
    source: str,
    url: str,
    *,
    replace: bool = False,
    vacuum: bool = True,
    progress: Callable[[str], None] = print,
) -> dict[str, object]:
    """The history built in the SQLite file ``source``, row for row, into the PostgreSQL
    database ``url`` (same ids, same text, same times): both databases then hold one
    history, and PostgreSQL gets it in minutes by COPY instead of half an hour of the
    writers' round trips. The schema is made by the migrations, as ``build`` does; the
    source must be at the same revision as this tree, and ``TABLES`` name its tables
    (those of revision 0005: a later revision's new tables, such as a search index, are
    not copied)."""
    import sqlite3

    began = time.perf_counter()
    prepare_database(url, replace=replace)
    engine = make_engine(url)
    try:
        upgrade(engine)
        path = make_url(source).database or ""
        reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("DELETE FROM alembic_version")
            for table in TABLES:
                names = [row[1] for row in reader.execute(f"PRAGMA table_info({table})")]
                columns = ", ".join(names)
                rows = reader.execute(f"SELECT {columns} FROM {table}")
                # Booleans: SQLite holds 0/1, which PostgreSQL's COPY reads as booleans.
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for row in rows:
                        copy.write_row(row)
                if "id" in names:
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
                    )
                progress(f"  copied {table} ({time.perf_counter() - began:.0f} s)")
            raw.commit()
        finally:
            raw.close()
            reader.close()
        if vacuum:  # as ``build`` leaves it: vacuumed, no statistics gathered
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text("VACUUM"))
        result = counts(engine)
    finally:
        engine.dispose()
    progress(f"copied in {time.perf_counter() - began:.0f} s")
    return result


def main(argv: Sequence[str] | None = None) -> None:
    DEFAULTS = Params()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build", help="build the history into an empty database")
    b.add_argument("--url", required=True, help="sqlite:///PATH or postgresql+psycopg://…/DB")
    b.add_argument("--items", type=int, default=DEFAULTS.items)
    b.add_argument("--deliveries", type=int, default=DEFAULTS.deliveries)
    b.add_argument("--days", type=int, default=DEFAULTS.days)
    b.add_argument("--feeds", type=int, default=DEFAULTS.feeds)
    b.add_argument("--subscribers", type=int, default=DEFAULTS.subscribers)
    b.add_argument("--seed", type=int, default=DEFAULTS.seed)
    b.add_argument("--batch", type=int, default=DEFAULTS.batch, help="items per transaction")
    b.add_argument(
        "--end",
        type=datetime.fromisoformat,
        default=None,
        help="when the history ends (ISO 8601 with offset; default now)",
    )
    b.add_argument(
        "--replace",
        action="store_true",
        help="remove the SQLite file / drop the PostgreSQL database first",
    )
    b.add_argument(
        "--no-vacuum",
        dest="vacuum",
        action="store_false",
        help="PostgreSQL: leave the dead rows of the bulk UPDATEs",
    )
    c = commands.add_parser("copy", help="copy a history built on SQLite into PostgreSQL")
    c.add_argument("--from", dest="source", required=True, help="sqlite:///PATH of a build")
    c.add_argument("--url", required=True, help="postgresql+psycopg://…/DB")
    c.add_argument("--replace", action="store_true", help="drop the database first")
    c.add_argument("--no-vacuum", dest="vacuum", action="store_false")
    args = parser.parse_args(argv)
    if args.command == "copy":
        result = copy_history(args.source, args.url, replace=args.replace, vacuum=args.vacuum)
        for key, value in result.items():
            print(f"{key}: {value:,}" if isinstance(value, int) else f"{key}: {value}")
        return
    end = args.end or datetime.now(UTC)
    params = Params(
        items=args.items,
        deliveries=args.deliveries,
        days=args.days,
        feeds=args.feeds,
        subscribers=args.subscribers,
        seed=args.seed,
        end=end.astimezone(UTC),
        batch=args.batch,
    )
    result = build(params, args.url, replace=args.replace, vacuum=args.vacuum)
    for key, value in result.items():
        print(f"{key}: {value:,}" if isinstance(value, int) else f"{key}: {value}")


if __name__ == "__main__":
    main()
