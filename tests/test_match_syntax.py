"""The rule language: golden parses, every error with its column, canonical rendering."""

from __future__ import annotations

import pytest

from bot.errors import RuleSyntaxError
from bot.match import validate_rule
from bot.match.syntax import (
    Alias,
    And,
    Field,
    Lang,
    Node,
    Not,
    Or,
    Phrase,
    Term,
    leaves,
    parse,
    parse_term,
    render,
)

ALIASES = ("mali", "china", "sport")


def t(text: str, prefix: bool = False) -> Term:
    return Term(text, prefix)


def ph(*words: str, slop: int | None = None) -> Phrase:
    return Phrase(tuple(Term(w.rstrip("*"), w.endswith("*")) for w in words), slop)


GOLDEN: list[tuple[str, str, Node]] = [
    ("a word is folded to lower case without accents", "Sécurité", t("securite")),
    ("a prefix keeps its star", "coopér*", t("cooper", True)),
    (
        "a quoted phrase is a sequence of words",
        '"protection des ressortissants"',
        ph("protection", "des", "ressortissants"),
    ),
    ("an elided article is dropped from a word", "l'ambassadeur", t("ambassadeur")),
    ("a curly apostrophe elides too", "d’Abdoulaye", t("abdoulaye")),
    ("a hyphenated word is the phrase of its parts", "sino-malien", ph("sino", "malien")),
    ("a hyphenated prefix keeps the star on its last part", "sino-malien*", ph("sino", "malien*")),
    ("juxtaposition means AND", "chine mali", And((t("chine"), t("mali")))),
    ("AND is explicit too", "chine AND mali", And((t("chine"), t("mali")))),
    (
        "the French word 'or' (gold) is written in quotes",
        'chine "or" mali',
        And((t("chine"), t("or"), t("mali"))),
    ),
    ("AND binds tighter than OR", "a OR b c", Or((t("a"), And((t("b"), t("c")))))),
    ("NOT binds tighter than AND", "NOT a b", And((Not(t("a")), t("b")))),
    ("a minus negates a word", "chine -football", And((t("chine"), Not(t("football"))))),
    ("a minus negates a phrase", '-"coupe du monde"', Not(ph("coupe", "du", "monde"))),
    ("a minus negates a group", "-(a OR b)", Not(Or((t("a"), t("b"))))),
    ("parentheses group", "(a OR b) c", And((Or((t("a"), t("b"))), t("c")))),
    ("proximity applies to a phrase", '"chine sécurité"~10', ph("chine", "securite", slop=10)),
    ("a one-word phrase is a word", '"Chine"', t("chine")),
    ("a field applies to a word", "title:chine", Field("title", t("chine"))),
    ("a field applies to a phrase", 'summary:"Li Xiang"', Field("summary", ph("li", "xiang"))),
    ("a field applies to a group", "title:(a OR b)", Field("title", Or((t("a"), t("b"))))),
    ("field names are case-insensitive", "TITLE:chine", Field("title", t("chine"))),
    ("a language filter", "chine lang:fr", And((t("chine"), Lang("fr")))),
    ("an alias set", "@mali @china", And((Alias("mali"), Alias("china")))),
    ("an alias set in a field", "title:@mali", Field("title", Alias("mali"))),
    (
        "an alias set fills one slot of a phrase",
        '"@mali chine"~3',
        Phrase((Alias("mali"), t("chine")), 3),
    ),
    ("chains of one operator are flat", "a OR b OR c", Or((t("a"), t("b"), t("c")))),
    ("double negation is kept", "NOT NOT a", Not(Not(t("a")))),
    ("punctuation inside a phrase is ignored", '"Mali, Chine"', ph("mali", "chine")),
    ("digits are words", '"65 ans"', ph("65", "ans")),
]


@pytest.mark.parametrize(
    ("query", "expected"), [(q, e) for _, q, e in GOLDEN], ids=[name for name, _, _ in GOLDEN]
)
def test_golden_parse(query: str, expected: Node) -> None:
    assert parse(query, ALIASES) == expected


@pytest.mark.parametrize(
    ("query", "expected"), [(q, e) for _, q, e in GOLDEN], ids=[name for name, _, _ in GOLDEN]
)
def test_render_parses_back_to_the_same_tree(query: str, expected: Node) -> None:
    assert parse(render(expected), ALIASES) == expected


ERRORS: list[tuple[str, str, str, int]] = [
    ("an empty query", "", "empty query", 1),
    ("an unclosed group", "(chine OR mali", "expected ')'", 15),
    (
        "5,000 nested groups (a RecursionError once)",
        "(" * 5000 + "mali" + ")" * 5000,
        "nested more than 64 levels deep",
        65,
    ),
    ("5,000 NOTs in a row", "NOT " * 5000 + "mali", "nested more than 64 levels deep", 257),
    ("a group left open at the end", "chine (", "unexpected end of query", 8),
    ("an unmatched closing parenthesis", "chine)", "unexpected ')'", 6),
    ("an empty group", "chine ()", "empty group", 8),
    ("an unknown alias set", "chine @foo", "unknown alias set @foo", 7),
    ("an unknown alias set inside a phrase", '"@foo chine"~3', "unknown alias set @foo", 2),
    ("an unknown field", "body:chine", "unknown field 'body'", 1),
    ("an unknown language", "lang:de", "unknown language 'de'", 6),
    ("an empty phrase", 'chine ""', "empty phrase", 7),
    ("a phrase of punctuation only", '", ."', "empty phrase", 1),
    ("an unterminated phrase", 'chine "mali', "unterminated phrase", 7),
    ("AND with nothing after it", "chine AND", "dangling operator 'AND'", 7),
    ("OR with nothing after it", "chine OR", "dangling operator 'OR'", 7),
    ("two operators in a row", "chine OR AND mali", "dangling operator 'OR'", 7),
    ("a leading OR", "OR chine", "dangling operator 'OR'", 1),
    ("NOT alone", "NOT", "dangling operator 'NOT'", 1),
    ("a minus followed by a space", "chine - mali", "dangling operator '-'", 7),
    ("a field without a term", "title: chine", "expected a term after 'title:'", 7),
    ("a field before a negation", "title:-chine", "expected a term after 'title:'", 7),
    ("a star inside a word", "co*op", "'*' may only end a word", 3),
    ("a prefix too short", "c*", "too short", 1),
    ("a stray tilde", "chine ~3", "unexpected '~'", 7),
    ("a proximity without a number", '"a b"~', "expected a number after '~'", 7),
    ("a proximity of zero", '"a b"~0', "proximity must be between", 7),
    ("a term without letters", "chine ,", "no letter or digit", 7),
    ("text glued to a phrase", '"chine"mali', "unexpected 'm'", 8),
    ("a bare alias sign", "chine @", "expected an alias name", 8),
    # Lucene / Elasticsearch query_string forms: refused with what to write instead
    ("'!' for NOT", "chine !football", "write NOT or -", 7),
    ("a boost", "chine^2 mali", "boosts ('^') are not supported", 6),
    ("a one-letter wildcard", "chi?e", "'?' (one-letter wildcard) is not supported", 4),
    ("a fuzzy word", "chine~2", "'~' follows a phrase only", 6),
    ("&& for AND", "chine && mali", "write AND", 7),
    ("|| for OR", "chine || mali", "write OR", 7),
    ("a lower-case and", "chine and mali", "write AND for the operator", 7),
    ("a lower-case or", "chine or mali", 'or "or" in quotes for the word', 7),
    ("a lower-case not", "chine not football", "write NOT", 7),
    ("a regular expression", "/chin.*/", "regular expressions", 1),
    ("a range", "[a TO b]", "ranges", 1),
]


@pytest.mark.parametrize(
    "query", ["-mali", "NOT chine", "-mali -chine", "title:(-mali)", "mali OR -chine"]
)
def test_a_rule_that_only_excludes_is_refused(query: str) -> None:
    with pytest.raises(RuleSyntaxError, match="only excludes"):
        validate_rule(query)
    validate_rule(f"chine {query}" if " OR " not in query else "chine")  # with a term: fine


@pytest.mark.parametrize(
    ("query", "message", "column"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_errors_point_at_the_column(query: str, message: str, column: int) -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse(query, ALIASES)
    assert message in caught.value.message
    assert caught.value.column == column
    assert caught.value.query == query
    assert f"column {column}" in str(caught.value)


def test_a_rule_syntax_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="column"):
        parse("(", ALIASES)


def test_aliases_are_not_checked_without_a_lexicon() -> None:
    assert parse("@anything") == Alias("anything")


def test_alias_terms_may_omit_quotes() -> None:
    assert parse_term("Li Xiang") == ph("li", "xiang")
    assert parse_term('"chine sécurité"~5') == ph("chine", "securite", slop=5)
    assert parse_term("chinois*") == t("chinois", True)


@pytest.mark.parametrize("entry", ["a OR b", "(chine)", "@mali", "x ~"])
def test_alias_terms_refuse_operators(entry: str) -> None:
    with pytest.raises(RuleSyntaxError):
        parse_term(entry)


def test_leaves_lists_words_phrases_and_aliases_in_order() -> None:
    node = parse('title:(chine OR "a b") -@sport lang:fr', ALIASES)
    assert leaves(node) == [t("chine"), ph("a", "b"), Alias("sport")]


def test_render_is_canonical() -> None:
    query = 'Chine  AND (sécurité OR "Li  Xiang"~3) -football title:@mali'
    assert render(parse(query, ALIASES)) == (
        'chine AND (securite OR "li xiang"~3) AND -football AND title:@mali'
    )
