"""Search through the full-text index: the prefilter, the index, and the oracle.

The oracle is a full scan: every stored item, read into Python, decided by the matcher.
Searching with the index must find exactly the same items (issue 14's acceptance), for
random rules over every construct of the rule language, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from bot.clock import FixedClock
from bot.errors import RuleSyntaxError
from bot.ingest.stored_rules import matching_pages, query_matcher, search, stored_matcher
from bot.match.lexicon import Lexicon
from bot.match.prefilter import (
    EVERYTHING,
    NOTHING,
    AllOf,
    AnyOf,
    Word,
    prefilter,
    render_fts5,
    render_tsquery,
    search_text,
)
from bot.match.text import SUMMARY, TITLE, analyse_field, without_dateline
from bot.types import Item, MatchInput, StoredItem
from store import items, topics
from store.db import transaction
from store.search import candidates, topics_by_item
from tests.support.builders import seeded

NOW = datetime(2026, 2, 23, 9, 0, tzinfo=UTC)


# -- the prefilter, pure -------------------------------------------------------------

LEXICON = Lexicon(aliases={"metal": ("or", "lithium", "cuivre*"), "site": ('"mine d\'or"',)})

PREFILTERS = [
    pytest.param("chine", Word("chine", prefix=True), id="a word of 5 letters finds its forms"),
    pytest.param("mali", Word("mali"), id="a shorter word is itself"),
    pytest.param("coopér*", Word("cooper", prefix=True), id="a prefix is folded like the text"),
    pytest.param(
        "chine AND mine*",
        AllOf((Word("chine", prefix=True), Word("mine", prefix=True))),
        id="AND maps over",
    ),
    pytest.param(
        "mali OR niger", AnyOf((Word("mali"), Word("niger", prefix=True))), id="OR maps over"
    ),
    pytest.param(
        '"sino-malien"~3 l\'ambassadeur',
        AllOf((Word("sino"), Word("malien", prefix=True), Word("ambassadeur", prefix=True))),
        id="a phrase needs its words, elision and hyphens as the matcher cuts them",
    ),
    pytest.param("mali -chine", Word("mali"), id="NOT widens to every item"),
    pytest.param("mali OR -chine", EVERYTHING, id="an OR with a NOT is every item"),
    pytest.param("mali lang:fr", Word("mali"), id="the language widens"),
    pytest.param("title:(mali OR bko)", AnyOf((Word("mali"), Word("bko"))), id="fields widen"),
    pytest.param(
        "@metal",
        AnyOf((Word("or"), Word("lithium", prefix=True), Word("cuivre", prefix=True))),
        id="an alias set is any of its terms",
    ),
    pytest.param("@site", AllOf((Word("mine"), Word("or"))), id="a set's phrase needs its words"),
    pytest.param(
        "x" * 200,
        Word("x" * 128, prefix=True),
        id="a word longer than the index keeps is the prefix it keeps",
    ),
]


@pytest.mark.parametrize(("query", "expected"), PREFILTERS)
def test_prefilter(query: str, expected: object) -> None:
    assert prefilter(query, LEXICON) == expected


def test_an_empty_alias_set_lets_nothing_through() -> None:
    lexicon = Lexicon(aliases={"none": ()})
    assert prefilter("@none mali", lexicon) == NOTHING
    assert prefilter("@none OR mali", lexicon) == Word("mali")


def test_the_gate_asks_for_a_word_of_each_side() -> None:
    lexicon = Lexicon.from_mapping(
        {
            "aliases": {"mali": ["Mali", "Bamako"], "china": ["Chine"], "joint": ["sino-malien"]},
            "relationship": {"mali": "mali", "china": "china", "joint": "joint"},
        }
    )
    # The gate's words are never found by an inflected form: words, not prefixes.
    joint = AllOf((Word("sino"), Word("malien")))  # an exact phrase: as written
    assert prefilter("barrage OR chine", lexicon) == AllOf(
        (
            AnyOf((Word("barrage", prefix=True), Word("chine"))),
            AnyOf((Word("mali"), Word("bamako"), joint)),
            AnyOf((Word("chine"), joint)),
        )
    )


def test_renderings() -> None:
    condition = prefilter('(chine OR "sino-malien") AND mine*', LEXICON)
    assert not isinstance(condition, type(EVERYTHING))
    assert render_fts5(condition) == '(("chine"* OR ("sino" AND "malien")) AND "mine"*)'
    assert render_tsquery(condition) == "(('chine':* | ('sino' & 'malien')) & 'mine':*)"


SEARCH_TEXTS = [
    pytest.param("Coopération", "", "cooperation", id="accents and case fold"),
    pytest.param("L’ambassadeur", "", "ambassadeur", id="a typographic elision is dropped"),
    pytest.param("Sino-malien", "", "sino malien", id="a hyphen cuts words"),
    pytest.param("Œuvre", "&amp; straße", "oeuvre strasse", id="ligatures, entities, ß"),
    pytest.param("Mali", "BAMAKO (AFP) - Le Mali", "mali le", id="the dateline is not read"),
    pytest.param("mali mali", "Mali.", "mali", id="each word once"),
]


@pytest.mark.parametrize(("title", "summary", "expected"), SEARCH_TEXTS)
def test_search_text_is_the_matchers_words(title: str, summary: str, expected: str) -> None:
    assert search_text(title, summary) == expected


_PIECES = [
    *"abcdeéèçàœßÆ ’'`´-–—.!?…;:|«»\"()[]<>&#\n\t•\u0301\u00a0\u2011ﬁ",
    *["&amp;", "<p>", "</p>", "l'", "qu’", "M. ", "U.S.", "BAMAKO (AFP) - ", " -- ", " | "],
]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)


@settings(max_examples=500, deadline=None)
@given(title=_TEXT, summary=_TEXT)
def test_search_text_holds_every_word_the_matcher_reads(title: str, summary: str) -> None:
    """search_text takes the matcher's quick pass (no sentence cuts): it must hold every
    word of the full analysis, or the prefilter would drop an item the matcher keeps."""
    indexed = set(search_text(title, summary).split())
    read = set(analyse_field(title, TITLE).words)
    read |= set(analyse_field(without_dateline(summary), SUMMARY).words)
    assert read <= indexed


# -- the index, on both databases -----------------------------------------------------


def _record(n: int, title: str, summary: str, *, days_ago: float = 0, lang: str = "fr") -> Item:
    return Item(
        identity=f"item:{n}",
        title=title,
        link=f"https://example.org/{n}",
        summary=summary,
        published=NOW - timedelta(days=days_ago),
        language=lang,
    )


def _store(engine: Engine, records: list[Item], *, match: bool = True) -> list[int]:
    """Through the production writers: add_items, then add_matches for what matched."""
    matcher = stored_matcher(engine) if match else None
    with transaction(engine) as session:
        stored = items.add_items(session, None, "Test", records, [None] * len(records), NOW)
        if matcher is not None:
            ids = topics.topic_ids_by_slug(session)
            found = [
                (item_id, m)
                for (item_id, _), r in zip(stored, records, strict=True)
                for m in matcher.match(MatchInput(r.title, r.summary, r.language))
            ]
            items.add_matches(session, found, ids)
    return [item_id for item_id, _ in stored]


def _full_scan(
    engine: Engine, query: str, *, gate: bool, since: datetime | None, matched_only: bool = False
) -> list[int]:
    """The oracle: every item of the window, newest first, through the matcher."""
    matcher = query_matcher(engine, query, gate=gate)
    with transaction(engine) as session:
        rows = items.list_items(session, since=since, limit=10**9, matched_only=matched_only)
    return [r.id for r in rows if matcher.match(MatchInput(r.title, r.summary, r.language))]


def _found(
    engine: Engine, query: str, *, gate: bool, since: datetime | None, matched_only: bool = False
) -> list[int]:
    pages = matching_pages(engine, query, gate=gate, since=since, matched_only=matched_only)
    return [item.id for page in pages for item in page.hits]


def test_search_finds_through_the_index(engine: Engine) -> None:
    ids = _store(
        engine,
        [
            _record(1, "Barrage de Kénié", "La Chine finance le barrage.", days_ago=1),
            _record(2, "Machines agricoles", "Des machines livrées.", days_ago=2),
            _record(3, "Mines d’or", "Une société chinoise exploite la mine.", days_ago=3),
            _record(4, "Old news", "Chine mine", days_ago=200),
        ],
        match=False,
    )
    assert [i.id for i in search(engine, "kenie barrage", limit=10)] == [ids[0]]
    assert [i.id for i in search(engine, "chine", limit=10)] == [ids[0], ids[3]]
    assert [i.id for i in search(engine, "machine*", limit=10)] == [ids[1]]
    assert [i.id for i in search(engine, "agricole", limit=10)] == [ids[1]]  # its forms
    assert [i.id for i in search(engine, "chin* AND mine*", limit=10)] == [ids[2], ids[3]]
    recent = search(engine, "chin* AND mine*", limit=10, since=NOW - timedelta(days=90))
    assert [i.id for i in recent] == [ids[2]]
    assert search(engine, "hine", limit=10) == []
    assert [i.id for i in search(engine, "chin*", limit=1)] == [ids[0]]


def test_the_index_is_what_the_database_reads(engine: Engine) -> None:
    """The candidates come from items_search (SQLite) or the GIN index (PostgreSQL), not
    from a scan of items."""
    _store(engine, [_record(n, f"Titre {n}", "Chine et Mali") for n in range(30)], match=False)
    condition = prefilter("chine AND mali")
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            plan = connection.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT id FROM items WHERE id IN "
                    "(SELECT rowid FROM items_search WHERE items_search MATCH :q)"
                ),
                {"q": render_fts5(condition)},  # type: ignore[arg-type]
            ).all()
            assert any("items_search VIRTUAL TABLE" in str(row[-1]) for row in plan), plan
        else:
            connection.execute(text("SET LOCAL enable_seqscan = off"))
            plan = connection.execute(
                text("EXPLAIN SELECT id FROM items WHERE search_text @@ CAST(:q AS tsquery)"),
                {"q": render_tsquery(condition)},  # type: ignore[arg-type]
            ).all()
            assert "ix_items_search_text" in " ".join(row[0] for row in plan), plan


def test_every_writer_keeps_the_index_current(engine: Engine) -> None:
    """add_item (the ORM) and add_items (Core) both write search_text; on SQLite the
    triggers carry inserts and deletes into the FTS5 table."""
    with transaction(engine) as session:
        row = items.add_item(session, None, "Test", _record(1, "Pékin", "Œuvre"), NOW)
        assert row.id is not None
        first = row.id
    (second,) = _store(engine, [_record(2, "Bamako", "Pékin")], match=False)
    assert [i.id for i in search(engine, "pekin", limit=10)] == [second, first]
    assert [i.id for i in search(engine, "oeuvre", limit=10)] == [first]
    with transaction(engine) as session:
        session.execute(text("DELETE FROM items WHERE id = :id"), {"id": first})
    assert [i.id for i in search(engine, "pekin", limit=10)] == [second]
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            check = "INSERT INTO items_search(items_search, rank) VALUES ('integrity-check', 1)"
            connection.execute(text(check))  # raises if the index disagrees with items


def test_pages_go_by_keyset_and_carry_their_topics(engine: Engine) -> None:
    seeded(engine, FixedClock(NOW))
    records = [
        _record(n, f"Le Mali et la Chine signent un accord minier {n}", "Accord minier.")
        for n in range(12)
    ]
    ids = _store(engine, records)
    with transaction(engine) as session:
        pages = list(candidates(session, prefilter("minier"), first_page=5))
        assert [len(page) for page in pages] == [5, 7]
        assert [item.id for page in pages for item in page] == sorted(ids, reverse=True)
        assert all(item.topics == ("mining",) for page in pages for item in page)
        assert topics_by_item(session, ids[:2]) == {ids[0]: ("mining",), ids[1]: ("mining",)}


def test_latest_reads_the_topics_of_a_page_in_one_query(engine: Engine) -> None:
    seeded(engine, FixedClock(NOW))
    _store(engine, [_record(n, f"Le Mali et la Chine : accord minier {n}", "") for n in range(20)])
    statements: list[str] = []
    from sqlalchemy import event

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with transaction(engine) as session:
            rows = items.recent_items(session, limit=20, topics=["mining"])
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(rows) == 20 and all(r.topics == ("mining",) for r in rows)
    assert len([s for s in statements if "item_topics" in s]) == 2  # the page, its topics


# -- the oracle: a full scan ----------------------------------------------------------

# Fragments of French and English news about Mali and China, and words around them:
# accents, capitals, elisions, hyphens, inflected forms, homographs of operators.
FRAGMENTS = [
    "Le Mali et la Chine signent un accord",
    "Bamako et Pékin renforcent leur coopération",
    "la mine d'or de Kalana, exploitée par une société chinoise",
    "les ressortissants chinois ont été évacués",
    "China and Mali sign a mining agreement",
    "Chinese investors in Malian lithium",
    "L'ambassadeur de Chine a été reçu à Koulouba",
    "un partenariat sino-malien pour l'énergie solaire",
    "the Goulamina lithium mine",
    "Des machines agricoles livrées au Niger",
    "la Chine octroie un prêt",
    "le barrage de Kénié",
    "Sécurité : patrouilles conjointes",
    "or blanc, coton et or",
    "BAMAKO (AFP) -",
    "Football : le Mali bat la Chine",
    "Œuvre caritative à Ségou",
    "des orpailleurs chinois arrêtés",
    "Mines minières minerais",
]
WORDS = sorted(
    {w.strip(".,:;()'") for fragment in FRAGMENTS for w in fragment.split()} - {"", "-", ":"}
    | {"Chinoises", "mines", "minier", "coopérations", "absent"}
    # words whose inflected forms (bot.match.forms) are all the fragments hold
    | {"ressortissant", "agricole", "patrouille", "orpailleur", "investor", "machine"}
)
# Lower-case and/or/not are operators refused unquoted: the words are quoted.
_OPERATOR_WORDS = {"and", "or", "not", "et"}
ALIASES = ["@mali", "@china", "@mining_sector", "@agenda", "@cooperation", "@joint"]


def _word_text(word: str) -> str:
    return f'"{word}"' if word.lower() in _OPERATOR_WORDS else word


word_leaf = st.sampled_from(WORDS).map(_word_text)
prefix_leaf = st.tuples(st.sampled_from(WORDS), st.integers(2, 6)).map(
    lambda pair: pair[0][: pair[1]].rstrip("'-") + "*"
)
phrase_leaf = st.tuples(
    st.lists(st.sampled_from([*WORDS, *ALIASES[:4]]), min_size=2, max_size=3),
    st.one_of(st.none(), st.integers(1, 12)),
).map(lambda pair: f'"{" ".join(pair[0])}"' + (f"~{pair[1]}" if pair[1] else ""))
leaf = st.one_of(
    word_leaf,
    word_leaf,
    prefix_leaf,
    phrase_leaf,
    st.sampled_from(ALIASES),
    st.sampled_from(["lang:fr", "lang:en"]),
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(children, children)
    return st.one_of(
        pair.map(lambda p: f"({p[0]} AND {p[1]})"),
        pair.map(lambda p: f"({p[0]} {p[1]})"),
        pair.map(lambda p: f"({p[0]} OR {p[1]})"),
        pair.map(lambda p: f"({p[0]} -{p[1]})"),
        pair.map(lambda p: f"({p[0]} AND NOT {p[1]})"),
        children.map(lambda c: f"title:({c})"),
        children.map(lambda c: f"summary:({c})"),
    )


rules = st.recursive(leaf, _combine, max_leaves=6)


def _history(engine: Engine, size: int = 150) -> None:
    """A small generated history: random fragments, a year of dates, both languages."""
    rng = random.Random(14)
    records = []
    for n in range(size):
        title = " ".join(rng.sample(FRAGMENTS, rng.randint(1, 2)))
        summary = ". ".join(rng.sample(FRAGMENTS, rng.randint(0, 5)))
        lang = rng.choice(["fr", "en", "other"])
        records.append(_record(n, title, summary, days_ago=rng.uniform(0, 365), lang=lang))
    _store(engine, records)


@pytest.fixture(scope="module")
def history(module_engine: Engine) -> Iterator[Engine]:
    seeded(module_engine, FixedClock(NOW))
    _history(module_engine)
    yield module_engine


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@example(query="ressortissant", gate=False, days=None, matched_only=False)
@example(query="orpailleur -AFP", gate=True, days=None, matched_only=False)
@example(query='title:"@mali lithium"~5 OR lang:en', gate=True, days=90, matched_only=True)
@given(
    query=rules,
    gate=st.booleans(),
    days=st.one_of(st.none(), st.integers(1, 400)),
    matched_only=st.booleans(),
)
def test_search_equals_a_full_scan(
    history: Engine, query: str, gate: bool, days: int | None, matched_only: bool
) -> None:
    since = None if days is None else NOW - timedelta(days=days)
    try:
        expected = _full_scan(history, query, gate=gate, since=since, matched_only=matched_only)
    except RuleSyntaxError:
        return  # a rule that only excludes, or an alias set of phrases inside a phrase
    found = _found(history, query, gate=gate, since=since, matched_only=matched_only)
    assert found == expected, (query, prefilter(query))


def test_the_generated_history_gives_the_oracle_something_to_find(history: Engine) -> None:
    """Guards the property test above: its history holds matches with and without the
    gate, and rules the prefilter narrows."""
    assert len(_full_scan(history, "@mining_sector", gate=True, since=None)) >= 10
    assert len(_full_scan(history, "lithium", gate=False, since=None)) >= 10
    some: list[StoredItem] = search(history, "ressortissant", limit=5, matched_only=True)
    assert some and all(item.topics for item in some)
