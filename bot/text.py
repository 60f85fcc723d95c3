"""The one catalogue of user text: ``t(language, key, **args)``. Pure.

Every string the bot, the alerts, the digest, the charts and ``/health`` show lives in
``bot/locales/<language>.toml``, one file a language; the languages offered are the files
present (``languages()``). Adding a language is one file (plus its tests): no code names
a language but ``DEFAULT`` (the fallback) and ``FIRST_CLASS`` (SPEC: French and English
come first in every list).

A locale file::

    language.name = "français"                 # its own name (/settings)
    language.plural.one = "i = 0,1"            # CLDR plural rules, see below
    language.space_before = ":;?!»"            # French typography, see below
    language.space_after = "«"
    language.decimal = ","                     # 0.5 → "0,5"

    subscribed = "Abonné·e à: {topics}"         # str.format placeholders
    stories = { one = "{n} sujet", other = "{n} sujets" }   # plural: chosen by {n}
    months = ["janv.", "févr.", …]              # a list (``names``)

- **Plurals** follow CLDR (https://cldr.unicode.org/index/cldr-spec/plural-rules): a
  language's ``language.plural`` gives a rule per category (``zero``, ``one``, ``two``,
  ``few``, ``many``) in CLDR's syntax, for whole numbers: operands ``n`` and ``i`` (the
  number) and ``v`` (0), ``%``, ``=``/``!=``, ranges ``2..4`` and lists ``0,1``, ``and``,
  ``or`` — e.g. Russian ``few = "v = 0 and i % 10 = 2..4 and i % 100 != 12..14"``. The
  first category whose rule holds for ``n`` and which the message has is used, else
  ``other`` (which every plural message has).
- **Typography** is applied in one place, when a file is loaded, to the templates (never
  to the arguments: a feed's title is shown as written). ``space_before`` lists the marks
  that take a no-break space before them, ``space_after`` those that take one after
  (French: ``:`` ``;`` ``?`` ``!`` ``»`` and ``«``). The files are written without those
  spaces; one typed anyway, ordinary or not, becomes the same single no-break space. A
  mark is spaced only where it ends a phrase (before whitespace, a tag, ``.`` ``,`` ``)``
  or the end), so ``07:30``, ``HH:MM`` and ``title:chine`` are left alone. The space is
  U+00A0 NO-BREAK SPACE, the one the Imprimerie nationale prescribes before ``:``: every
  font has it, so Telegram on every platform, matplotlib and a terminal show it, where
  the narrow U+202F still shows as a box in some Android system fonts and terminal fonts.
- A key missing from a language falls back to English (a partial translation shows
  English, never an error); an unknown language is English. ``tests/test_text.py``
  holds every file present to every key and placeholder of ``en.toml``.

**Failures as data.** A fetch or parse failure is stored (``FetchResult.error``,
``feeds.last_error``) in a machine form that names a catalogue key and its arguments
(``failure``); ``describe`` renders it in the reader's language — or English, for the
CLI and logs. A stored reason from before (a plain English sentence) is shown as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# Where the locale files are. A module value, not a setting: tests point it at a
# directory of their own (tests/test_text.py adds a language without touching code).
LOCALES = Path(__file__).parent / "locales"
DEFAULT = "en"  # the fallback: for a reader whose language mcwatch has no file for
FIRST_CLASS = ("fr", "en")  # SPEC: "both languages are first-class"; listed first
NO_BREAK_SPACE = "\u00a0"
CATEGORIES = ("zero", "one", "two", "few", "many")  # CLDR's order; "other" is the rest
MAX_FAILURE_ARG = 300  # characters of one failure argument: a stored reason stays short

Message = str | Mapping[str, str]  # a template, or plural forms by category


@dataclass(frozen=True, slots=True)
class Catalog:
    """One language's file, loaded and typeset."""

    language: str
    name: str
    messages: Mapping[str, Message]
    lists: Mapping[str, tuple[str, ...]]
    plural: tuple[tuple[str, Callable[[int], bool]], ...]
    decimal: str

    def category(self, n: int) -> str:
        """The CLDR plural category of ``n`` in this language."""
        for category, holds in self.plural:
            if holds(n):
                return category
        return "other"


# -- the files ------------------------------------------------------------------------
def languages() -> tuple[str, ...]:
    """The interface languages offered: one per locale file, French and English first."""
    return _present(LOCALES)


@cache
def _present(directory: Path) -> tuple[str, ...]:
    found = sorted(path.stem for path in directory.glob("*.toml"))
    first = [code for code in FIRST_CLASS if code in found]
    return (*first, *(code for code in found if code not in FIRST_CLASS))


def catalog(language: str) -> Catalog:
    """``language``'s catalogue (English for a language without a file), loaded once."""
    if language not in languages():
        language = DEFAULT
    return _load(LOCALES, language)


def language_for(telegram_code: str | None) -> str:
    """A new user's interface language from Telegram's ``language_code`` (an IETF tag,
    ``fr``, ``fr-CA``, ``pt-br``): the language of that name when mcwatch has it, else
    English."""
    primary = (telegram_code or "").strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in languages() else DEFAULT


def language_name(language: str) -> str:
    """The language's own name ("français", "English")."""
    return catalog(language).name


@cache
def _load(directory: Path, language: str) -> Catalog:
    import tomllib

    path = directory / f"{language}.toml"
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    meta = data.pop("language", {})
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise ValueError(f"{path}: language.name is missing")
    before, after = str(meta.get("space_before", "")), str(meta.get("space_after", ""))
    messages: dict[str, Message] = {}
    lists: dict[str, tuple[str, ...]] = {}
    for key, value in data.items():
        if isinstance(value, str):
            messages[key] = typeset(value, before, after)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            lists[key] = tuple(typeset(v, before, after) for v in value)
        elif isinstance(value, dict) and _plural_forms(value):
            messages[key] = {c: typeset(str(v), before, after) for c, v in value.items()}
        else:
            raise ValueError(
                f"{path}: {key} is not a text, a list of texts or plural forms "
                f"({', '.join((*CATEGORIES, 'other'))}, with other)"
            )
    rules = meta.get("plural", {})
    if not isinstance(rules, dict) or set(rules) - set(CATEGORIES):
        raise ValueError(f"{path}: language.plural takes {', '.join(CATEGORIES)}")
    plural = tuple(
        (category, plural_rule(str(rules[category])))
        for category in CATEGORIES
        if category in rules
    )
    return Catalog(language, meta["name"], messages, lists, plural, str(meta.get("decimal", ".")))


def _plural_forms(value: dict[str, object]) -> bool:
    return (
        "other" in value
        and set(value) <= {*CATEGORIES, "other"}
        and all(isinstance(v, str) for v in value.values())
    )


# -- typography -----------------------------------------------------------------------
_SPACES = "[ \u00a0\u202f]"


@cache
def _typography(before: str, after: str) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    marks_before = (
        re.compile(rf"(?<=\S){_SPACES}?([{re.escape(before)}]+)(?=[\s<.,)\]]|$)")
        if before
        else None
    )
    marks_after = re.compile(rf"([{re.escape(after)}]){_SPACES}?(?=\S)") if after else None
    return marks_before, marks_after


def typeset(text: str, space_before: str, space_after: str) -> str:
    """``text`` with one no-break space before each mark of ``space_before`` that ends a
    phrase, and after each mark of ``space_after`` (see the module doc)."""
    marks_before, marks_after = _typography(space_before, space_after)
    if marks_before is not None:
        text = marks_before.sub(NO_BREAK_SPACE + r"\1", text)
    if marks_after is not None:
        text = marks_after.sub(r"\1" + NO_BREAK_SPACE, text)
    return text


# -- plurals --------------------------------------------------------------------------
_RELATION = re.compile(
    r"([niv])\s*(?:%\s*(\d+))?\s*(!=|=)\s*(\d+(?:\.\.\d+)?(?:\s*,\s*\d+(?:\.\.\d+)?)*)"
)


def plural_rule(rule: str) -> Callable[[int], bool]:
    """A CLDR plural rule (the whole-number subset, see the module doc) as a test of n."""
    alternatives: list[list[tuple[str, int | None, bool, list[tuple[int, int]]]]] = []
    for alternative in rule.split(" or "):
        relations = []
        for relation in alternative.split(" and "):
            match = _RELATION.fullmatch(relation.strip())
            if match is None:
                raise ValueError(f"not a CLDR plural rule: {relation.strip()!r} in {rule!r}")
            operand, modulo, operator, ranges = match.groups()
            bounds = []
            for part in ranges.split(","):
                low, _, high = part.strip().partition("..")
                bounds.append((int(low), int(high or low)))
            relations.append((operand, int(modulo) if modulo else None, operator == "=", bounds))
        alternatives.append(relations)

    def holds(n: int) -> bool:
        def true(
            operand: str, modulo: int | None, equal: bool, bounds: list[tuple[int, int]]
        ) -> bool:
            value = 0 if operand == "v" else abs(n)
            if modulo:
                value %= modulo
            return any(low <= value <= high for low, high in bounds) == equal

        return any(all(true(*relation) for relation in relations) for relations in alternatives)

    return holds


# -- messages -------------------------------------------------------------------------
def _message(language: str, key: str) -> tuple[Catalog, Message]:
    found = catalog(language)
    if key in found.messages:
        return found, found.messages[key]
    english = _load(LOCALES, DEFAULT)
    return english, english.messages[key]  # KeyError: a key no file has is a bug


def t(language: str, key: str, **args: object) -> str:
    """The text of ``key`` in ``language``, its ``{placeholders}`` filled from ``args``.
    A plural message takes its form from ``n`` (an int). Floats are written with the
    language's decimal mark."""
    found, message = _message(language, key)
    if not isinstance(message, str):
        count = args.get("n")
        if not isinstance(count, int):
            raise TypeError(f"{key} is a plural message: it needs n=<int>")
        category = found.category(count)
        message = message.get(category, message["other"])
    shown = {
        name: format(value, "g").replace(".", found.decimal) if isinstance(value, float) else value
        for name, value in args.items()
    }
    return message.format(**shown)


def names(language: str, key: str) -> tuple[str, ...]:
    """A list of the catalogue (month names)."""
    found = catalog(language)
    if key in found.lists:
        return found.lists[key]
    return _load(LOCALES, DEFAULT).lists[key]


# -- failures as data -----------------------------------------------------------------
def failure(key: str, **args: str | int | float) -> str:
    """A failure in its stored form: the catalogue key and its arguments, as one line of
    JSON (``{"key": …, "args": {…}}``, a few hundred characters at most: each text
    argument is cut to ``MAX_FAILURE_ARG``). ``describe`` renders it."""
    bounded = {
        name: value[:MAX_FAILURE_ARG] if isinstance(value, str) else value
        for name, value in args.items()
    }
    return json.dumps({"key": key, "args": bounded}, ensure_ascii=False, separators=(",", ":"))


def parse_failure(stored: str) -> tuple[str, dict[str, str | int | float]] | None:
    """(key, arguments) of a stored failure, or None for any other text (a reason
    stored before failures were data: a plain English sentence)."""
    if not stored.startswith('{"key":'):
        return None
    try:
        data = json.loads(stored)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("key"), str):
        return None
    args = data.get("args")
    if not isinstance(args, dict):
        return None
    return data["key"], {str(k): v for k, v in args.items() if isinstance(v, str | int | float)}


def describe(stored: str | None, language: str) -> str:
    """A stored failure as a sentence in ``language`` ("" for none). Never raises: an
    old reason is shown as it is, an unknown key as its key and arguments."""
    if not stored:
        return ""
    parsed = parse_failure(stored)
    if parsed is None:
        return stored
    key, args = parsed
    try:
        return t(language, key, **args).strip()
    except (KeyError, IndexError, TypeError, ValueError):
        return " ".join([key, *(f"{name}={value}" for name, value in args.items())])
