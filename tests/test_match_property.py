"""Property tests: the compiled matcher agrees with the slow reference evaluator.

Random rule trees over a small vocabulary are rendered to query strings and parsed back
(round trip), compiled together into one matcher, and evaluated on random French/English
texts with accents, elisions, hyphens and sentence breaks; every rule's verdict must equal
``reference.evaluate``'s.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.match import Lexicon, compile_rules, reference, syntax
from bot.match.syntax import Alias, And, Field, Lang, Node, Not, Or, Phrase, Term
from bot.match.text import prepare
from bot.types import MatchInput, TopicRule

LEXICON = Lexicon.from_mapping(
    {
        "aliases": {
            "words": ["Chine", "Pékin", "coop*"],  # single words: usable inside phrases
            "mixed": ["Mali", "sino-malien", "l'ambassadeur"],
        }
    }
)
WORDS = [
    "chine",
    "mali",
    "pekin",
    "securite",
    "cooperation",
    "ambassadeur",
    "or",
    "sino",
    "malien",
    "a",
    "de",
]
PREFIXES = ["coop", "secu", "ma", "chin", "ambass", "pe"]

terms = st.one_of(
    st.builds(Term, st.sampled_from(WORDS)),
    st.builds(Term, st.sampled_from(PREFIXES), st.just(True)),
)
slots = st.one_of(terms, st.just(Alias("words")))
phrases = st.builds(
    Phrase,
    st.lists(slots, min_size=2, max_size=3).map(tuple),
    st.one_of(st.none(), st.integers(1, 6)),
)
atoms = st.one_of(
    terms,
    phrases,
    st.sampled_from([Alias("words"), Alias("mixed"), Lang("fr"), Lang("en")]),
)


def _compound(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    many = st.lists(children, min_size=2, max_size=3).map(tuple)
    return st.one_of(
        st.builds(And, many),
        st.builds(Or, many),
        st.builds(Not, children),
        st.builds(Field, st.sampled_from(["title", "summary"]), children),
    )


rules = st.recursive(atoms, _compound, max_leaves=8)

PIECES = [
    "Chine",
    "CHINE",
    "chine",
    "Pékin",
    "pekin",
    "Mali",
    "malien",
    "sino-malien",
    "sino‑malien",
    "Sécurité",
    "sécurité",
    "coopération",
    "Coop",
    "l'ambassadeur",
    "l’ambassadeur",
    "d’ambassadeur",
    "ambassadeurs",
    "or",
    "Or",
    "a",
    "à",
    "de",
    "machine",
    "Somalie",
    "malin",
    ".",
    ",",
    ";",
    "\n",
    "M.",
]
texts = st.lists(st.sampled_from(PIECES), max_size=14).map(" ".join)
docs = st.builds(MatchInput, texts, texts, st.sampled_from(["fr", "en", "other"]))


@settings(max_examples=200, deadline=None)
@given(st.lists(rules, min_size=1, max_size=3), st.lists(docs, min_size=1, max_size=3))
def test_compiled_matcher_equals_reference(trees: list[Node], items: list[MatchInput]) -> None:
    queries = [syntax.render(tree) for tree in trees]
    parsed = [syntax.parse(q, LEXICON.names, LEXICON.phrase_names) for q in queries]
    assert parsed == trees  # round trip: render then parse gives the same tree
    matcher = compile_rules([TopicRule(f"r{i}", q) for i, q in enumerate(queries)], LEXICON)
    for doc in items:
        fields = reference.document_words(doc)
        expected = [
            f"r{i}"
            for i, tree in enumerate(trees)
            if reference.evaluate(tree, fields, doc.language, LEXICON)
        ]
        assert [m.slug for m in matcher.match(doc)] == expected, (queries, doc)
        explained = matcher.explain(doc)
        assert [t.slug for t in explained.topics if t.matched] == expected


@settings(max_examples=100, deadline=None)
@given(rules, docs)
def test_terms_are_words_of_the_item(tree: Node, doc: MatchInput) -> None:
    """A match's terms are pieces of the item's (NFKC, HTML-free) text, as spelled there."""
    matcher = compile_rules([TopicRule("r", syntax.render(tree))], LEXICON)
    shown = prepare(doc.title) + "\n" + prepare(doc.text)
    for match in matcher.match(doc):
        for term in match.terms:
            assert term in shown
