"""A slow, obviously-correct evaluator of rule ASTs: the oracle of the property tests.

No automaton, no pattern ids, no merging: words come from the slow tokenizer
(``text.tokenize``, one raw word at a time) and every leaf is decided by scanning the
word list of each sentence, proximity by trying every combination of positions. It shares
nothing with ``compile.py`` but the AST and the documented semantics (``nodes.py``).
"""

from __future__ import annotations

from itertools import product

from bot.match import syntax
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


def _word_matches(term: syntax.Term | syntax.Alias, word: str, lexicon: Lexicon) -> bool:
    if isinstance(term, syntax.Alias):  # a slot: any single word of the set
        members = lexicon.expansion(term.name)
        return any(_word_matches(m, word, lexicon) for m in members if isinstance(m, syntax.Term))
    return word.startswith(term.text) if term.prefix else word == term.text


def _leaf_in(leaf: syntax.Leaf, words: list[str], lexicon: Lexicon) -> bool:
    if isinstance(leaf, syntax.Term):
        return any(_word_matches(leaf, word, lexicon) for word in words)
    terms = leaf.terms
    if leaf.slop is None:
        return any(
            all(_word_matches(term, words[start + i], lexicon) for i, term in enumerate(terms))
            for start in range(len(words) - len(terms) + 1)
        )
    options = [
        [p for p, word in enumerate(words) if _word_matches(term, word, lexicon)] for term in terms
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
        return any(_leaf_in(node, words, lexicon) for f in scope for words in fields[f])
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
