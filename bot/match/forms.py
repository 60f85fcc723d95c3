"""Word forms: a rule's word also finds its inflected forms (plural, feminine).

``ressortissant`` finds ``ressortissants``, ``chinoise`` finds ``chinoises``, ``centrale``
finds ``centrales``. The Snowball stemmers of French and English (PyStemmer, the C
implementation) decide: a word is a form of a rule's word when it extends it and both
reduce to the same stem in the item's language (``other``: either). Extending, not any
word of the same stem: the stem of ``nationals`` is also that of ``national`` (the
adjective) and ``commerçants`` shares one with ``commerce``, and the rule's author wrote
the narrower word on purpose.

Where it applies, and why not elsewhere:

- single words of a rule, not prefixes (``coopér*`` already covers its forms), nor the
  words of an exact phrase (``"protection civile"`` is written as it is said);
- words of at least ``MIN_FORM`` letters: short words stem to common roots ("or", "mine");
- never the words of the relationship gate's sets: which words name Mali and China is
  decided by the lexicon alone.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import Stemmer  # type: ignore[import-not-found]  # C extension without stubs

MIN_FORM = 5
LANGUAGES = ("fr", "en")
_NAMES = {"fr": "french", "en": "english"}
_LOCAL = threading.local()  # a stemmer object keeps state: one per thread


def _stemmer(language: str) -> Stemmer.Stemmer:
    stemmers: dict[str, Stemmer.Stemmer] | None = getattr(_LOCAL, "stemmers", None)
    if stemmers is None:
        stemmers = {code: Stemmer.Stemmer(name) for code, name in _NAMES.items()}
        _LOCAL.stemmers = stemmers
    return stemmers[language]


@lru_cache(maxsize=1 << 17)
def stem(word: str, language: str) -> str | None:
    """The stem of a folded word in ``language`` (fr/en), or None when too short."""
    if len(word) < MIN_FORM or not word.isalpha():
        return None
    result: str = _stemmer(language).stemWord(word)
    return result


def languages_of(language: str) -> tuple[str, ...]:
    """The stemmers an item's language calls for (both when it is neither fr nor en)."""
    return (language,) if language in LANGUAGES else LANGUAGES


def same_form(term: str, word: str, language: str) -> bool:
    """Is ``word`` an inflected form of the rule's ``term`` (both folded) in an item of
    ``language``? (Equality is the caller's first test.)"""
    if len(word) <= len(term) or not word.startswith(term):
        return False
    for code in languages_of(language):
        root = stem(term, code)
        if root is not None and root == stem(word, code):
            return True
    return False
