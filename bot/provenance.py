"""Who is speaking: a feed's country and kind, and how alerts show them. Pure.

A feed carries an ISO 3166-1 alpha-2 country (stored upper-case) and one of ``KINDS``
(issue 15). Readers see the country as its flag — two regional indicator symbols, which
Telegram draws as the flag (Unicode TR51 §Annex B) — and the kind in their language
(the catalogue's ``kind_<kind>``): "Xinhua · 🇨🇳 state media". A story reported by
several outlets shows its mix: "3 sources: 🇲🇱 2 · 🇨🇳 1".

An item of a news-search feed (kind ``search``: Google News, Bing News) is the work of
the outlet it names, not of the search: the store credits it to that outlet, whose
country and kind are known only when it is a feed we watch under the same name
(``store.feeds.provenance_columns``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.text import t
from bot.types import Outlet

# Who is speaking (issue 15). The order is the one lists and errors show.
KINDS = (
    "malian_public",  # Malian public media (ORTM, L'Essor, AMAP)
    "malian_private",  # Malian private press
    "chinese_state",  # Chinese state media (Xinhua, CGTN, China Daily)
    "agency",  # an international news agency (AFP, Reuters, APA)
    "panafrican",  # pan-African press (Jeune Afrique, Africanews)
    "search",  # a news search (Google News, Bing News): credits each item to its outlet
    "blog",
)
SEARCH = "search"

# Every officially assigned ISO 3166-1 alpha-2 code (249, as of ISO 3166-1:2020 and its
# newsletters to 2024). Reserved and user-assigned codes (EU, UK, XK) are refused: a flag
# must be a country's.
COUNTRIES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
    BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
    DE DJ DK DM DO DZ  EC EE EG EH ER ES ET  FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY  HK HM HN HR HT HU
    ID IE IL IM IN IO IQ IR IS IT  JE JM JO JP  KE KG KH KI KM KN KP KR KW KY KZ
    LA LB LC LI LK LR LS LT LU LV LY
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
    NA NC NE NF NG NI NL NO NP NR NU NZ  OM  PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA  RE RO RS RU RW  SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
    TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ  UA UG UM US UY UZ
    VA VC VE VG VI VN VU  WF WS  YE YT  ZA ZM ZW
    """.split()
)
# Codes people type for a country whose ISO code is another one.
_INSTEAD = {"UK": "GB", "EL": "GR"}

# A mix line names at most this many countries; the rest count as "other". Eight covers
# any real story (issue 15's mixes have two or three) and bounds the line's length.
MIX_MAX_COUNTRIES = 8
# Words of a /latest filter (``parse_filter``), in both interface languages.
COUNTRY_WORDS = ("country", "pays")
KIND_WORDS = ("kind", "type")


def parse_country(text: str) -> str:
    """An ISO 3166-1 alpha-2 code as typed ("ml", " CN ") → "ML"; ValueError in one line
    otherwise."""
    code = text.strip().upper()
    if code in COUNTRIES:
        return code
    hint = f" (use {_INSTEAD[code]})" if code in _INSTEAD else " (e.g. ML, CN, FR)"
    raise ValueError(f"{text.strip()!r} is not an ISO 3166-1 alpha-2 country code{hint}")


def parse_kind(text: str) -> str:
    """One of ``KINDS`` as typed (case and ``-``/``_`` forgiven); ValueError in one line,
    listing them, otherwise."""
    kind = text.strip().lower().replace("-", "_")
    if kind in KINDS:
        return kind
    raise ValueError(f"{text.strip()!r} is not a kind; kinds: {', '.join(KINDS)}")


def country_problem(text: str) -> str | None:
    """Why ``text`` is not a country code, or None (OPML import skips such a value)."""
    try:
        parse_country(text)
    except ValueError as exc:
        return str(exc)
    return None


def kind_problem(text: str) -> str | None:
    try:
        parse_kind(text)
    except ValueError as exc:
        return str(exc)
    return None


def flag(country: str | None) -> str:
    """🇲🇱 for "ML": each letter as its regional indicator symbol (U+1F1E6 = A); "" for
    no country or a code that is not one."""
    if not country or country.upper() not in COUNTRIES:
        return ""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in country.upper())


def kind_label(kind: str | None, language: str) -> str:
    """The kind in the reader's words ("state media", "média d'État"); "" when unknown."""
    return t(language, f"kind_{kind}") if kind in KINDS else ""


def outlet_label(country: str | None, kind: str | None, language: str) -> str:
    """What follows an outlet's name: "🇨🇳 state media", "🇲🇱", "state media" or ""."""
    return " ".join(part for part in (flag(country), kind_label(kind, language)) if part)


def mix(outlets: Sequence[Outlet]) -> list[tuple[str | None, int]]:
    """Outlets per country, most first (ties: first reporter first); None: unknown,
    always last, with the countries beyond ``MIX_MAX_COUNTRIES``."""
    counts: dict[str, int] = {}
    unknown = 0
    for outlet in outlets:
        code = outlet.country.upper() if outlet.country else None
        if code in COUNTRIES:
            counts[code] = counts.get(code, 0) + 1
        else:
            unknown += 1
    ranked = sorted(counts.items(), key=lambda pair: -pair[1])  # stable: first seen first
    shown: list[tuple[str | None, int]] = list(ranked[:MIX_MAX_COUNTRIES])
    unknown += sum(n for _, n in ranked[MIX_MAX_COUNTRIES:])
    if unknown:
        shown.append((None, unknown))
    return shown


def mix_line(outlets: Sequence[Outlet], language: str) -> str:
    """The mix "3 sources: 🇲🇱 2 · 🇨🇳 1" for a story of several outlets with a known country;
    "" for one outlet, or when no outlet's country is known (nothing to show)."""
    groups = mix(outlets)
    if len(outlets) < 2 or all(code is None for code, _ in groups):
        return ""
    parts = [f"{flag(code) if code else t(language, 'mix_other')} {n}" for code, n in groups]
    return t(language, "sources_mix", n=len(outlets), mix=" · ".join(parts))


@dataclass(frozen=True, slots=True)
class ProvenanceFilter:
    """A /latest request's filters: ``country:CN``, ``kind:chinese_state`` (French
    ``pays:``, ``type:``) and the words that were not filters."""

    country: str | None = None
    kind: str | None = None
    rest: tuple[str, ...] = ()


def parse_filter(words: Sequence[str]) -> ProvenanceFilter:
    """``country:XX`` / ``kind:KIND`` among ``words``; ValueError (one line) for a bad
    code or kind, or one given twice."""
    country: str | None = None
    kind: str | None = None
    rest: list[str] = []
    for word in words:
        key, sep, value = word.partition(":")
        key = key.strip().lower()
        if sep and key in COUNTRY_WORDS:
            if country is not None:
                raise ValueError("one country at a time")
            country = parse_country(value)
        elif sep and key in KIND_WORDS:
            if kind is not None:
                raise ValueError("one kind at a time")
            kind = parse_kind(value)
        else:
            rest.append(word)
    return ProvenanceFilter(country, kind, tuple(rest))
