"""Normalisation for matching: folding, elision, hyphens, whole words, sentences."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.match import Lexicon, compile_rules
from bot.match.text import (
    SUMMARY,
    TITLE,
    analyse_field,
    fold,
    prepare,
    split_sentences,
    tokenize,
    without_dateline,
    words,
)
from bot.types import MatchInput, TopicRule

WORDS = [
    ("accents are folded", "Sécurité Pékin Goïta Ségou", ["securite", "pekin", "goita", "segou"]),
    ("upper case is folded", "CHINE ÉNERGIE", ["chine", "energie"]),
    ("ligatures are spelled out", "Œuvre cœur Ærø straße", ["oeuvre", "coeur", "aero", "strasse"]),
    ("straight apostrophe elides", "l'ambassadeur d'Abdoulaye", ["ambassadeur", "abdoulaye"]),
    ("curly apostrophe elides", "l’ambassadeur qu’il", ["ambassadeur", "il"]),
    ("long elisions", "jusqu’à lorsqu'il puisqu’elle", ["a", "il", "elle"]),
    ("modifier-letter apostrophe elides", "lʼarmée", ["armee"]),
    ("acute accent typed as apostrophe elides", "l´armée", ["armee"]),
    ("backtick typed as apostrophe elides", "l`armee", ["armee"]),
    ("elision needs a following word", "l' armée", ["l", "armee"]),
    ("other apostrophes split words", "aujourd'hui China's", ["aujourd", "hui", "china", "s"]),
    ("hyphen splits a compound", "sino-malien", ["sino", "malien"]),
    ("non-breaking hyphen splits", "sino\u2011malienne", ["sino", "malienne"]),
    ("en dash splits", "Chine–Mali", ["chine", "mali"]),
    ("slash splits", "Mali/China", ["mali", "china"]),
    ("HTML entities are decoded", "Mali &amp; Chine", ["mali", "chine"]),
    ("digits are words", "65 ans, 4G", ["65", "ans", "4g"]),
    ("full-width letters are folded", "ＣＨＩＮＥ", ["chine"]),
]


@pytest.mark.parametrize(("text", "expected"), [w[1:] for w in WORDS], ids=[w[0] for w in WORDS])
def test_words(text: str, expected: list[str]) -> None:
    assert words(prepare(text)) == expected
    assert [token.text for token in tokenize(text)] == expected


def test_html_tags_are_dropped() -> None:
    assert prepare("<p>Le <b>Mali</b> et la Chine</p>") == "Le Mali et la Chine"


def test_fold_is_idempotent_on_examples() -> None:
    for text in ("Sécurité", "Œuvre", "l’armée", "ＣＨＩＮＥ", "Goïta"):
        assert fold(fold(text)) == fold(text)


TRAPS = [
    ("machine is not chine", "chine", "Une machine agricole", False),
    ("Indochine is not chine", "chine", "La guerre d'Indochine", False),
    ("Somalie is not Mali", "mali", "La Somalie et le Kenya", False),
    ("Somalia is not Mali", "mali", "Somalia and Kenya", False),
    ("Malibu is not Mali", "mali", "A house in Malibu", False),
    ("malin is not Mali", "mali", "Un garçon malin", False),
    ("animalier is not Mali", "mali", "Un film animalier", False),
    ("Chinatown is not China", "china", "Dinner in Chinatown", False),
    ("a whole word matches", "mali", "Le Mali aujourd'hui", True),
    ("a part of a compound matches", "malien", "le partenariat sino-malien", True),
    ("a compound matches as a phrase", "sino-malien", "le partenariat sino‑malien", True),
    ("a compound matches with a space", "sino-malien", "le partenariat sino malien", True),
    ("a term matches after elision", "ambassadeur", "l’ambassadeur de Chine", True),
    ("an elided query matches", "l'ambassadeur", "un ambassadeur", True),
    ("accents do not matter", "securite", "la Sécurité", True),
    ("accents in the query do not matter", "Pékin", "PEKIN", True),
    ("a prefix matches a longer word", "coopér*", "la coopération", True),
    ("a prefix does not match mid-word", "chin*", "la machine", False),
]


@pytest.mark.parametrize(
    ("query", "text", "found"), [t[1:] for t in TRAPS], ids=[t[0] for t in TRAPS]
)
def test_whole_words_only(query: str, text: str, found: bool) -> None:
    matcher = compile_rules([TopicRule("t", query)], Lexicon())
    assert bool(matcher.match(MatchInput("", text, "fr"))) is found


SENTENCES = [
    ("full stops cut", "Le Mali avance. La Chine aussi.", ["Le Mali avance.", "La Chine aussi."]),
    ("M. is a title, not a stop", "Il a reçu M. Li Xiang hier.", ["Il a reçu M. Li Xiang hier."]),
    ("initials do not cut", "Les U.S. et la Chine.", ["Les U.S. et la Chine."]),
    ("lower case after a stop does not cut", "etc. et la suite", ["etc. et la suite"]),
    ("line breaks cut", "Mali\nChine", ["Mali", "Chine"]),
    ("bullets cut", "Points : • Mali • Chine", ["Points :", "Mali", "Chine"]),
    ("a wire dateline cuts", "BAMAKO (Xinhua) -- La Chine a", ["BAMAKO (Xinhua)", "La Chine a"]),
    (
        "semicolons cut",
        "Mali : transition; Chine : exports",
        ["Mali : transition;", "Chine : exports"],
    ),
    ("question marks cut", "Mali ? Chine !", ["Mali ?", "Chine !"]),
]


@pytest.mark.parametrize(
    ("text", "expected"), [s[1:] for s in SENTENCES], ids=[s[0] for s in SENTENCES]
)
def test_sentences(text: str, expected: list[str]) -> None:
    prepared = prepare(text)
    assert [prepared[a:b] for a, b in split_sentences(prepared)] == expected


def test_titles_cut_before_a_site_name() -> None:
    prepared = prepare("La Chine exporte | Journal du Mali")
    assert [prepared[a:b] for a, b in split_sentences(prepared, title=True)] == [
        "La Chine exporte",
        "Journal du Mali",
    ]


def test_tokens_carry_sentence_and_position() -> None:
    tokens = tokenize("Le Mali avance. L’ambassadeur de Chine parle.")
    assert [(t.text, t.sentence, t.position) for t in tokens] == [
        ("le", 0, 0),
        ("mali", 0, 1),
        ("avance", 0, 2),
        ("ambassadeur", 1, 3),
        ("de", 1, 4),
        ("chine", 1, 5),
        ("parle", 1, 6),
    ]
    text = prepare("Le Mali avance. L’ambassadeur de Chine parle.")
    assert text[tokens[3].start : tokens[3].end] == "ambassadeur"


ALPHABET = st.sampled_from(
    [
        *"abcdeélïoœæßAÉÈÇ",
        *[" ", " ", "-", "\u2011", "–", "'", "’", ".", ",", ";", "\n", "ﬁ"],
        *["l'", "d’", "qu'", "M. ", "Chine", "Mali", "<b>", "&amp;", "\u0301", "２"],
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ALPHABET, max_size=40).map("".join))
def test_fast_and_slow_paths_agree(text: str) -> None:
    """The matcher's fast path and the span-carrying slow path cut the same words."""
    for field in (TITLE, SUMMARY):
        fast = analyse_field(text, field)
        slow = tokenize(text, field)
        assert list(fast.words) == [t.text for t in slow]
        assert [fast.sentence_index(t.position) for t in slow] == [t.sentence for t in slow]


@settings(max_examples=200, deadline=None)
@given(st.lists(ALPHABET, max_size=30).map("".join))
def test_fold_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)
    assert words(" ".join(words(text))) == words(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("BAMAKO, March 3 (Xinhua) -- China and Niger", "China and Niger",
                     id="an all-caps city, a date and an agency"),
        pytest.param("BEIJING, Feb. 20 -- Mali's government", "Mali's government",
                     id="an all-caps city and a date"),
        pytest.param("Bamako, 3 mars (AFP) - Le Mali", "Le Mali", id="a city with an agency"),
        pytest.param("<p>PÉKIN (Xinhua) -- Le Mali</p>", "<p>Le Mali</p>",
                     id="leading markup is kept"),
        pytest.param("CHINE-MALI - La coopération", "CHINE-MALI - La coopération",
                     id="the sides' country names are never a dateline"),
        pytest.param("MALI - La Chine offre", "MALI - La Chine offre", id="nor is MALI alone"),
        pytest.param("Kati - la route", "Kati - la route", id="a plain word and a dash is not"),
        pytest.param("La Chine et le Mali - un accord", "La Chine et le Mali - un accord",
                     id="a dash later in a sentence is not"),
    ],
)
def test_wire_datelines_are_not_part_of_the_story(text: str, expected: str) -> None:
    assert without_dateline(text) == expected
