"""A rule as a database prefilter: which stored items can possibly match it.

Searching a year of history by running the matcher on every item read 300,000 rows into
Python (issue 14). The database answers a coarser question first: which items hold the
*words* a rule needs, from a full-text index over each item's folded words
(``search_text``). The exact matcher then decides on those candidates alone.

The prefilter is a SUPERSET of what the matcher accepts, never a guess:

- a word is the word, or a prefix of the words that start with it when the matcher may
  find it by an inflected form (``forms.py``: a form always *extends* the rule's word,
  so ``ressortissant`` becomes ``ressortissant*``; not the gate's or the carrier's
  words, which the matcher takes as written); ``coopér*`` is the prefix ``cooper*``;
- a phrase, exact or ``~N``, needs each of its words (order, distance and sentences
  are the matcher's business; the words of an exact phrase are as written, those of
  one with a slot or a distance may be inflected); an ``@set`` needs one of its terms;
- ``title:``/``summary:`` widen to the item's words (the index holds both fields);
- ``NOT``, ``lang:`` widen to "any item" (``EVERYTHING``): excluding on a coarse index
  could drop an item the matcher keeps;
- with the Mali–China gate, the item must also name a word of each side (the gate's
  first test, ``Gate.sides_possible``, refuses every other item).

The index and the queries agree on what a word is because both come from ``text.py``:
``search_text`` stores the matcher's own words of the title and the summary (as
``Matcher.scan`` sees them), and a rule's terms were normalised by the same functions.
The databases never fold or split anything themselves (see ``store/search.py``), so
accents, case, apostrophes, elision, hyphens and ligatures mean what the matcher says.

Words longer than ``MAX_WORD`` characters are stored cut, and a rule's word that long
becomes the prefix of its first ``MAX_WORD`` characters: PostgreSQL caps a lexeme at
2,047 bytes, and no news word comes near.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.match import forms, syntax
from bot.match.lexicon import Lexicon
from bot.match.text import strip_html, without_dateline, words

MAX_WORD = 128  # characters; 4 bytes each in UTF-8 at most: 512 < PostgreSQL's 2,047


@dataclass(frozen=True, slots=True)
class Word:
    """An item holds this folded word (``prefix``: a word starting with it)."""

    text: str
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class AllOf:
    children: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """Any child; with no children, no item (an alias set without terms)."""

    children: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Everything:
    """No condition the index can check: every item is a candidate."""


Filter = Word | AllOf | AnyOf | Everything
EVERYTHING = Everything()
NOTHING = AnyOf(())


def search_text(title: str, summary: str) -> str:
    """The words an item is indexed by: those the matcher reads in its title and summary
    (``Matcher.scan``), distinct, in order, single spaces. Positions are not kept: the
    prefilter asks only whether a word is there.

    ``words(strip_html(…))`` is the matcher's own quick pass (``Matcher._item_pids``):
    the same words as ``analyse_field`` without cutting sentences first, which is 40 %
    of its cost (a sentence cut falls on spaces and punctuation, never inside a word;
    tested by property)."""
    found = words(strip_html(title)) + words(strip_html(without_dateline(summary)))
    return " ".join(dict.fromkeys(word[:MAX_WORD] for word in found))


def _word(term: syntax.Term, exact: frozenset[str]) -> Word:
    text = term.text
    if len(text) > MAX_WORD:
        return Word(text[:MAX_WORD], prefix=True)
    # Inflected forms (forms.same_form) extend the word and need a stem (letters only,
    # at least MIN_FORM of them), except for the words ``exact`` names.
    has_forms = len(text) >= forms.MIN_FORM and text.isalpha() and text not in exact
    return Word(text, prefix=term.prefix or has_forms)


def _exact_words(lexicon: Lexicon) -> frozenset[str]:
    """The words the matcher never finds by an inflected form (``Matcher.__init__``):
    every word of the gate's sets and countries, and of the weighing's carrier set.
    Left as words, the gate's sides are a few hundred term lookups, not prefix scans."""
    names: list[str] = []
    leaves: list[syntax.Leaf] = []
    rel = lexicon.relationship
    if rel is not None:
        names += rel.sets().values()
        leaves += [syntax.parse_term(t) for terms in rel.countries.values() for t in terms]
    if lexicon.weighing.carrier:
        names.append(lexicon.weighing.carrier)
    leaves += [leaf for name in names for leaf in lexicon.expansion(name)]
    return frozenset(
        leaf.text for leaf in leaves if isinstance(leaf, syntax.Term) and not leaf.prefix
    )


def _all(children: list[Filter]) -> Filter:
    kept: dict[Filter, None] = {}  # distinct, in order (alias sets run to thousands)
    for child in children:
        if child == NOTHING:
            return NOTHING
        if isinstance(child, AllOf):
            kept.update(dict.fromkeys(child.children))
        elif not isinstance(child, Everything):
            kept[child] = None
    if not kept:
        return EVERYTHING
    return next(iter(kept)) if len(kept) == 1 else AllOf(tuple(kept))


def _any(children: list[Filter]) -> Filter:
    kept: dict[Filter, None] = {}
    for child in children:
        if isinstance(child, Everything):
            return EVERYTHING
        if isinstance(child, AnyOf):
            kept.update(dict.fromkeys(child.children))
        else:
            kept[child] = None
    return next(iter(kept)) if len(kept) == 1 else AnyOf(tuple(kept))


def _leaf(leaf: syntax.Leaf | syntax.Alias, lexicon: Lexicon, exact: frozenset[str]) -> Filter:
    if isinstance(leaf, syntax.Term):
        return _word(leaf, exact)
    if isinstance(leaf, syntax.Alias):
        members = lexicon.expansion(leaf.name)
        return _any([_leaf(member, lexicon, exact) for member in members])
    terms = [term for term in leaf.terms if isinstance(term, syntax.Term)]
    if (
        leaf.slop is None
        and len(terms) == len(leaf.terms)
        and not any(t.prefix for t in terms[:-1])
    ):
        # One automaton key for the whole phrase (compile.py): its words are as written.
        return _all([Word(t.text[:MAX_WORD], t.prefix or len(t.text) > MAX_WORD) for t in terms])
    return _all([_leaf(term, lexicon, exact) for term in leaf.terms])


def _build(node: syntax.Node, lexicon: Lexicon, exact: frozenset[str]) -> Filter:
    if isinstance(node, syntax.Term | syntax.Phrase | syntax.Alias):
        return _leaf(node, lexicon, exact)
    if isinstance(node, syntax.Field):
        return _build(node.child, lexicon, exact)
    if isinstance(node, syntax.Not | syntax.Lang):
        return EVERYTHING
    children = [_build(child, lexicon, exact) for child in node.children]
    return _all(children) if isinstance(node, syntax.And) else _any(children)


def _side(lexicon: Lexicon, names: tuple[str | None, ...], exact: frozenset[str]) -> Filter:
    """Any word of the alias sets ``names`` (unset ones skipped)."""
    leaves = [leaf for name in names if name for leaf in lexicon.expansion(name)]
    return _any([_leaf(leaf, lexicon, exact) for leaf in leaves])


def prefilter(query: str, lexicon: Lexicon | None = None) -> Filter:
    """The prefilter of a rule (as ``compile_rules`` would read it with ``lexicon``): a
    superset of the items the matcher accepts. Raises ``RuleSyntaxError`` like the parser.

    With the lexicon's relationship gate, an item must also name each side (a Mali word
    or a joint one, and a China word or a joint one): the gate rejects any other.
    """
    lexicon = lexicon or Lexicon()
    exact = _exact_words(lexicon)
    node = syntax.parse(query, lexicon.names, lexicon.phrase_names)
    found = _build(node, lexicon, exact)
    rel = lexicon.relationship
    if rel is None:
        return found
    mali = _side(lexicon, (rel.mali, rel.joint), exact)
    china = _side(lexicon, (rel.china, rel.joint), exact)
    return _all([found, mali, china])


def render_fts5(condition: Word | AllOf | AnyOf) -> str:
    """SQLite FTS5 MATCH syntax: ``"word"``, ``"pref"*``, ``AND``, ``OR``. Each word is one
    token of the index's ``ascii`` tokenizer (letters and digits only, never a quote)."""
    if isinstance(condition, Word):
        return f'"{condition.text}"' + ("*" if condition.prefix else "")
    joiner = " AND " if isinstance(condition, AllOf) else " OR "
    return "(" + joiner.join(render_fts5(_checked(c)) for c in condition.children) + ")"


def render_tsquery(condition: Word | AllOf | AnyOf) -> str:
    """PostgreSQL ``tsquery`` input (cast with ``::tsquery``, which takes lexemes as
    written, unlike ``to_tsquery``'s parser): ``'word'``, ``'pref':*``, ``&``, ``|``."""
    if isinstance(condition, Word):
        return f"'{condition.text}'" + (":*" if condition.prefix else "")
    joiner = " & " if isinstance(condition, AllOf) else " | "
    return "(" + joiner.join(render_tsquery(_checked(c)) for c in condition.children) + ")"


def _checked(condition: Filter) -> Word | AllOf | AnyOf:
    """Simplified filters hold no ``Everything`` below the top and no empty ``AnyOf``."""
    if isinstance(condition, Everything) or condition == NOTHING:
        raise ValueError("a simplified filter holds no constant below its top")
    return condition
