"""Normalisation for matching: the one place that decides what a "word" is.

Both the rule parser (query terms) and the matcher (item text) go through here, so a
term and the text it should find are always normalised the same way.

Pipeline (``prepare`` then ``fold``), each step chosen for the news we read:

1. HTML remnants: tags dropped, entities decoded (feeds leave ``&amp;``, ``<p>`` in ledes).
2. Unicode NFKC (ligatures, non-breaking hyphen U+2011, full-width forms, ``nbsp``).
3. Apostrophe variants (’ ‘ ʼ ` ´ ＇) count as ``'`` (length-preserving, offsets hold).
4. Sentences are cut on the prepared text (see ``split_sentences``).
5. ``fold``: casefold, accents stripped (é→e, ï→i), letters without a decomposition
   spelled out (œ→oe, æ→ae, ß→ss, ø→o, ł→l).
6. French elision: ``l' d' j' qu' n' s' c' m' t' jusqu' lorsqu' puisqu' quoiqu'`` before
   a word are dropped, so ``l'ambassadeur`` yields ``ambassadeur``.
7. Words are maximal runs of letters and digits; every other character (hyphens of all
   kinds, dashes, slashes, apostrophes) separates words. ``sino-malien`` therefore yields
   ``sino`` and ``malien`` at consecutive positions: each part is a word, and the phrase
   ``"sino malien"`` still finds the compound. ``chine`` can never match inside
   ``machine`` and ``mali`` never inside ``Somalie``: matching compares whole words.

Guarantees (tested, also by property): ``fold`` is idempotent; the fast path used by the
matcher (``analyse``) and the slow path with character spans (``tokenize``) yield the same
words at the same positions; a query term is normalised exactly like item text.
"""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

TITLE = 0
SUMMARY = 1
FIELD_NAMES = ("title", "summary")

# Words that French elides before a vowel; dropped when glued to the next word by an
# apostrophe. Longest first so the alternation prefers ``jusqu`` over ``qu``.
ELISIONS = ("jusqu", "lorsqu", "puisqu", "quoiqu", "qu", "l", "d", "j", "n", "s", "c", "m", "t")

# Characters used as apostrophes in the wild (typographic, modifier letter, grave/acute
# accents typed on keyboards without ’, full width). All become U+0027.
_APOSTROPHE_CHARS = frozenset("’‘ʼ`´＇′")
_APOSTROPHES = str.maketrans(dict.fromkeys(_APOSTROPHE_CHARS, "'"))

# Combining diacritics of the Latin, Greek and Cyrillic scripts: stripped by ``fold``.
# (Not every Mn character: Indic vowel signs are part of their words.)
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_MARKS_RE = re.compile(f"[{_MARKS}]+")

# Letters that have no canonical decomposition but that readers type without the mark.
_LETTERS = str.maketrans(
    {
        "œ": "oe",
        "æ": "ae",
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
        "ħ": "h",
        "ŧ": "t",
    }
)
_LETTER_CHARS = frozenset(chr(code) for code in _LETTERS)

# A word of folded text, and a word of prepared (unfolded) text, which may still carry
# combining marks after its first character.
WORD_RE = re.compile(r"[^\W_]+")
_RAW_WORD_RE = re.compile(rf"[^\W_](?:[^\W_]|[{_MARKS}])*")
_ELISION_NEXT_RE = re.compile(rf"[{_MARKS}]*[^\W_]")  # a word follows (marks vanish)
_ELIDED_RE = re.compile(r"(?<![^\W_])(?:" + "|".join(ELISIONS) + r")'(?=[^\W_])")

_TAG_RE = re.compile(r"<[^<>]{0,2000}>")
_SPACES_RE = re.compile(r"[^\S\n]+")
_BLANK_LINES_RE = re.compile(r"\s*\n\s*")

# Sentence cuts. Hard: line breaks, bullets, a wire dateline's ``--`` and, in titles only,
# the `` | `` before a site name. Soft: . ! ? … (and ;, but not under a headline's kicker)
# followed by a space, accepted only when the next sentence starts with a capital, a
# digit or a quote, and the word before the stop is not an abbreviation or an initial
# (``M. Li Xiang``, ``U.S.``, ``Gen.``).
_HARD_CUT_RE = re.compile(r"\s*(?:\n|[•▪◦●■►]|\s--+\s?|--+\s)\s*")
_TITLE_CUT_RE = re.compile(r"\s+[|¦]\s+")
_SOFT_CUT_RE = re.compile(r"(?:[.!?…]+|;)[\"»”’')\]]*\s+")
_ABBREVIATIONS = frozenset(
    """
    m mm mme mmes mlle mr mrs ms dr pr prof me mgr st ste gen gén col lt cpt capt cdt cmdt
    maj sgt adj brig gal gov sen rep hon rev no nº vol art ch p pp env cf vs etc
    co corp inc ltd cie sa sarl jan feb fév fev mar apr avr aug aoû sep sept oct nov dec déc
    """.split()
)
_OPENERS = "\"«“‘’'([¿¡"


def strip_html(text: str) -> str:
    """Drop tags and decode entities (``&amp;`` → ``&``); block tags become line breaks."""
    if "<" not in text and "&" not in text:
        return text
    text = re.sub(r"(?i)<\s*(?:br|/p|/div|/li|/h\d|p|li)\b[^<>]{0,2000}>", "\n", text)
    return html.unescape(_TAG_RE.sub(" ", text))


_CAPS_CITY = r"[A-ZÀ-ÖØ-Þ]{3,}(?:[ -][A-ZÀ-ÖØ-Þ]{2,}){0,2}"
_DATELINE_RE = re.compile(
    r"^(\s*(?:<[^<>]{0,200}>\s*)*)"  # leading tags are kept: "<p>BAMAKO (AFP) -"
    # a city, never a side's country: "CHINE-MALI - …", "MALI - …" open ledes
    r"(?![\w-]*(?i:mali|chin))"
    rf"(?:{_CAPS_CITY}(?:,[^()\n<>]{{1,25}}?)?(?:\s*\([^()\n<>]{{1,30}}\))?"  # BEIJING, Feb. 20
    r"|[A-ZÀ-ÖØ-Þ][\w'’ .-]{1,30}?(?:,[^()\n<>]{1,25}?)?\s*\([A-Za-z][^()\n<>]{0,30}\))"
    r"\s*(?:--|—|–|-)\s+"
)


def without_dateline(text: str) -> str:
    """An item's text without the wire dateline it opens with ("BEIJING, Feb. 20
    (Xinhua) --", "Bamako, 3 mars (AFP) -"): where the reporter filed from, not what the
    story is about. Only unmistakable ones: an all-caps city, or a city with an agency
    in parentheses, then a dash. Matching reads summaries through this."""
    return _DATELINE_RE.sub(r"\1", text, count=1)


def prepare(text: str) -> str:
    """Display-grade text: HTML gone, NFKC, spaces collapsed (line breaks kept).

    The evidence shown to users is cut from this text; offsets of ``tokenize`` refer to
    it. Apostrophes are kept as written: unifying them is length-preserving and happens
    where words are cut.
    """
    text = strip_html(text)
    if not text.isascii():
        # ´ would become a space + combining accent under NFKC: keep it an apostrophe.
        text = unicodedata.normalize("NFKC", text.replace("´", "’"))
    return _BLANK_LINES_RE.sub("\n", _SPACES_RE.sub(" ", text)).strip()


def fold(text: str) -> str:
    """Case- and accent-insensitive form: ``Sécurité`` → ``securite``, ``Œuvre`` → ``oeuvre``.

    Idempotent. Does not remove punctuation or split words (see ``words``).
    """
    if text.isascii():
        return text.lower().replace("`", "'")
    # Each step only where it changes something: a dict-driven translate over a whole
    # lede cost more than the automaton pass that follows (3.3x faster, same output on
    # the corpora and 20,000 random strings of marks, ligatures and apostrophes).
    if not _APOSTROPHE_CHARS.isdisjoint(text):
        text = text.translate(_APOSTROPHES)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
        if not _APOSTROPHE_CHARS.isdisjoint(text):
            text = text.translate(_APOSTROPHES)
    text = _MARKS_RE.sub("", unicodedata.normalize("NFKD", text.casefold()))
    if not _LETTER_CHARS.isdisjoint(text):
        text = text.translate(_LETTERS)
    return unicodedata.normalize("NFC", text)


# Words repeat across items: the slow path folds each distinct raw word once.
_fold_word = lru_cache(maxsize=1 << 15)(fold)


def words(text: str) -> list[str]:
    """The normalised words of a piece of text (query term or item sentence), in order."""
    folded = fold(text)
    if "'" in folded:
        folded = _ELIDED_RE.sub("", folded)
    return WORD_RE.findall(folded)


def _is_abbreviation(before: str) -> bool:
    """True when ``before`` (text up to a full stop) ends with an abbreviation or initial."""
    match = re.search(r"([^\W\d_]+)\.*$", before)
    if match is None:
        return False
    word = match.group(1)
    return (len(word) == 1 and word.isupper()) or word.casefold() in _ABBREVIATIONS


def _soft_cuts(text: str) -> list[tuple[int, int]]:
    cuts: list[tuple[int, int]] = []
    for match in _SOFT_CUT_RE.finditer(text):
        rest = text[match.end() : match.end() + 3].lstrip(_OPENERS)
        if not rest or not (rest[0].isupper() or rest[0].isdigit()):
            continue
        if text[match.start()] == "." and _is_abbreviation(
            text[max(0, match.start() - 24) : match.start()]
        ):
            continue
        cuts.append((match.start() + 1, match.end()))
    return cuts


def _under_kicker(text: str, stop: int) -> bool:
    """Is the stop at ``stop`` a semicolon after the kicker of a headline ("Mali : …")?"""
    return text[stop] == ";" and ":" in text[:stop]


def split_sentences(text: str, *, title: bool = False) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of the sentences of prepared text, empty ones left out."""
    cuts = [(m.start(), m.end()) for m in _HARD_CUT_RE.finditer(text)]
    if title:
        cuts += [(m.start(), m.end()) for m in _TITLE_CUT_RE.finditer(text)]
    # Under a headline's kicker ("Mali: lithium plant opens; Chinese operator promises
    # jobs") a semicolon joins two halves of one story: the kicker names the subject of
    # both. Without one it may join two headlines ("Copper climbs on Chinese stimulus;
    # Mali lithium exports stall") and ends a sentence as in running text.
    cuts += [cut for cut in _soft_cuts(text) if not (title and _under_kicker(text, cut[0] - 1))]
    cuts.sort()
    spans: list[tuple[int, int]] = []
    start = 0
    for cut_start, cut_end in cuts:
        if cut_start < start:  # overlapping cuts (". \n")
            start = max(start, cut_end)
            continue
        spans.append((start, cut_start))
        start = cut_end
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


@dataclass(frozen=True, slots=True)
class Token:
    """One word of an item: its normalised text and where it sits.

    ``position`` counts words within the field (title or summary) from 0; ``sentence`` is
    the index of its sentence within the field; ``start``/``end`` are character offsets
    in the field's ``prepare``-d text.
    """

    text: str
    field: int
    sentence: int
    position: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of a field: its prepared text and the positions of its words."""

    field: int
    index: int
    text: str
    first: int  # position of its first word
    stop: int  # position after its last word


@dataclass(frozen=True, slots=True)
class FieldText:
    """The matcher's view of one field: its words (positions are indices) and sentences."""

    words: tuple[str, ...]
    sentences: tuple[Sentence, ...]
    text: str  # prepared text
    starts: tuple[int, ...] = ()  # position of each sentence's first word

    def sentence_index(self, position: int) -> int:
        """Index of the sentence holding the word at ``position``."""
        return max(0, bisect_right(self.starts, position) - 1)

    def sentence_at(self, position: int) -> Sentence:
        """The sentence holding the word at ``position``."""
        return self.sentences[self.sentence_index(position)]

    def same_sentence(self, first: int, last: int) -> bool:
        """Whether the words at ``first`` and ``last`` share a sentence."""
        starts = self.starts
        return bisect_right(starts, first) == bisect_right(starts, last)


def analyse_field(text: str, field: int) -> FieldText:
    """Fast path: sentences, then words per sentence with C-level string operations."""
    prepared = prepare(text)
    spans = split_sentences(prepared, title=field == TITLE)
    # Fold the field once, its sentences joined by line breaks: a line break is always a
    # sentence cut (so no sentence holds one), folding keeps it, and no elision or word
    # crosses it. One fold per field instead of one per sentence: ~30 % of match time.
    folded = fold("\n".join(prepared[start:end] for start, end in spans))
    if "'" in folded:
        folded = _ELIDED_RE.sub("", folded)
    lines = folded.split("\n")
    if len(lines) != len(spans):  # no sentence (empty field), or folding made a break
        lines = [" ".join(words(prepared[start:end])) for start, end in spans]
    all_words: list[str] = []
    sentences: list[Sentence] = []
    for index, ((start, end), line) in enumerate(zip(spans, lines, strict=True)):
        first = len(all_words)
        all_words += WORD_RE.findall(line)
        sentences.append(Sentence(field, index, prepared[start:end], first, len(all_words)))
    starts = tuple(sentence.first for sentence in sentences)
    return FieldText(tuple(all_words), tuple(sentences), prepared, starts)


def tokenize(text: str, field: int = SUMMARY) -> list[Token]:
    """Slow path with character spans: each raw word folded on its own.

    Used by the reference evaluator and to show matched words as the item spells them.
    Yields the same words at the same positions as ``analyse_field`` (tested).
    """
    display = prepare(text)
    prepared = display.translate(_APOSTROPHES)  # same length: spans hold for ``display``
    tokens: list[Token] = []
    for index, (start, end) in enumerate(split_sentences(display, title=field == TITLE)):
        for match in _RAW_WORD_RE.finditer(prepared, start, end):
            pieces = WORD_RE.findall(_fold_word(match.group(0)))
            after = match.end()
            if (
                len(pieces) == 1
                and pieces[0] in ELISIONS
                and prepared[after : after + 1] == "'"
                and _ELISION_NEXT_RE.match(prepared, after + 1, end) is not None
            ):
                continue
            for piece in pieces:
                tokens.append(Token(piece, field, index, len(tokens), match.start(), after))
    return tokens
