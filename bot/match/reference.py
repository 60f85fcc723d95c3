"""A slow, obviously-correct evaluator of rule ASTs: the oracle of the property tests.

No automaton, no pattern ids, no merging: words come from the slow tokenizer
(``text.tokenize``, one raw word at a time) and every leaf is decided by scanning the
word list of each sentence, proximity by trying every combination of positions. It shares
nothing with ``compile.py`` but the AST and the documented semantics (``nodes.py``).
"""

from __future__ import annotations

from itertools import product

from bot.match import forms, syntax
from bot.match.lexicon import Lexicon
from bot.match.text import SUMMARY, TITLE, tokenize, without_dateline
from bot.types import MatchInput

Sentences = list[list[str]]
Fields = tuple[Sentences, Sentences]


def _sentences(text: str, field: int) -> Sentences:
    sentences: dict[int, list[str]] = {}
    for token in tokenize(text, field):
        sentences.setdefault(token.sentence, []).append(token.text)
    return list(sentences.values())


def document_words(doc: MatchInput) -> Fields:
    """The normalised words of the title and of the text, sentence by sentence."""
    return _sentences(doc.title, TITLE), _sentences(without_dateline(doc.text), SUMMARY)


def _word_matches(
    term: syntax.Term | syntax.Alias, word: str, lexicon: Lexicon, language: str | None = None
) -> bool:
    """``word`` fills ``term``; with a ``language``, an inflected form of a single word
    does too (``forms.py``), except for the gate's words."""
    if isinstance(term, syntax.Alias):  # a slot: any single word of the set
        members = lexicon.expansion(term.name)
        return any(
            _word_matches(m, word, lexicon, language)
            for m in members
            if isinstance(m, syntax.Term)
        )
    if term.prefix:
        return word.startswith(term.text)
    if word == term.text:
        return True
    return (
        language is not None
        and term.text not in _gate_words(lexicon)
        and forms.same_form(term.text, word, language)
    )


def _gate_words(lexicon: Lexicon) -> set[str]:
    """Single words of the gate's sets: they match exactly, never by another form. (The
    compiled matcher also keeps the weighing's carrier and fallback words exact: that is
    topic weighing, outside this oracle, whose lexicons configure none.)"""
    rel = lexicon.relationship
    if rel is None:
        return set()
    leaves = [leaf for name in rel.sets().values() for leaf in lexicon.expansion(name)]
    leaves += [syntax.parse_term(t) for terms in rel.countries.values() for t in terms]
    return {leaf.text for leaf in leaves if isinstance(leaf, syntax.Term) and not leaf.prefix}


def _exact_phrase(leaf: syntax.Phrase) -> bool:
    """Words in a row, a prefix on the last one only: matched as written (one pattern);
    any other phrase is matched word by word, each word in any of its forms."""
    terms = leaf.terms
    return (
        leaf.slop is None
        and all(isinstance(t, syntax.Term) for t in terms)
        and not any(isinstance(t, syntax.Term) and t.prefix for t in terms[:-1])
    )


def _leaf_in(leaf: syntax.Leaf, words: list[str], lexicon: Lexicon, language: str) -> bool:
    if isinstance(leaf, syntax.Term):
        return any(_word_matches(leaf, word, lexicon, language) for word in words)
    terms = leaf.terms
    form_language = None if _exact_phrase(leaf) else language
    if leaf.slop is None:
        return any(
            all(
                _word_matches(term, words[start + i], lexicon, form_language)
                for i, term in enumerate(terms)
            )
            for start in range(len(words) - len(terms) + 1)
        )
    options = [
        [p for p, word in enumerate(words) if _word_matches(term, word, lexicon, form_language)]
        for term in terms
    ]
    return any(
        len(set(choice)) == len(choice) and max(choice) - min(choice) <= leaf.slop
        for choice in product(*options)
    )


def evaluate(
    node: syntax.Node,
    fields: Fields,
    language: str,
    lexicon: Lexicon | None = None,
    scope: tuple[int, ...] = (TITLE, SUMMARY),
) -> bool:
    """Whether the rule ``node`` is true of an item with these words and language."""
    lexicon = lexicon or Lexicon()
    if isinstance(node, syntax.Term | syntax.Phrase):
        # every leaf is looked for sentence by sentence: phrases never span two
        return any(
            _leaf_in(node, words, lexicon, language) for f in scope for words in fields[f]
        )
    if isinstance(node, syntax.Alias):
        expansion = lexicon.expansion(node.name)
        return any(evaluate(leaf, fields, language, lexicon, scope) for leaf in expansion)
    if isinstance(node, syntax.Lang):
        return language == node.code
    if isinstance(node, syntax.Field):
        field = syntax.FIELDS.index(node.name)
        return evaluate(node.child, fields, language, lexicon, (field,))
    if isinstance(node, syntax.Not):
        return not evaluate(node.child, fields, language, lexicon, scope)
    results = [evaluate(child, fields, language, lexicon, scope) for child in node.children]
    return all(results) if isinstance(node, syntax.And) else any(results)


def matches(query: str, doc: MatchInput, lexicon: Lexicon | None = None) -> bool:
    """Parse ``query`` and evaluate it on ``doc`` (no relationship gate)."""
    lexicon = lexicon or Lexicon()
    node = syntax.parse(query, lexicon.names, lexicon.phrase_names)
    return evaluate(node, document_words(doc), doc.language, lexicon)
