"""A reader's verdict on an alert (issue 15): the buttons, what a press means, and what
the verdicts say per topic. Pure.

Under every instant alert: 👍 (relevant) and 👎 (not relevant). After 👎 the keyboard
asks why — wrong topic, not Mali–China, duplicate — and offers 👍 back. A verdict is
one row per subscriber, item and topic (``store.verdicts``): pressing again changes it,
the same press twice leaves it as it is.

**The topic of a verdict** is the alert's main topic: the first slug of the delivery's
topics (topic order), the general label's slug (``general``) included; ``""`` only for
an alert that names no topic. That is the topic the reader was told the alert is about,
and the one ``rules feedback`` counts its sent alerts under.

**Callback data** is ``v:<delivery id>:<code>`` (at most 16 bytes of Telegram's 64): the
delivery row, not the button, says which item, topic and chat the verdict is about; the
handler checks it is a sent alert of the pressing chat (``store.verdicts.target``).

**Under a digest message** the same buttons, numbered: the message's story lines are
numbered (1, 2, …, across the digest's messages) and the keyboard has ``N👍`` ``N👎``
for each, three stories a row, and after a 👎 a row of reasons for that story, until a
reason is chosen (``digest_keyboard``). A digest line is a row of its own
(``store.verdicts.digest_lines``: one per subscriber, item and topic, written when the
digest is planned), and the button is ``d:<line id>:<number>:<code>``: the row says
who, which item and which topic; the number only labels the button. A press redraws
the message's whole keyboard from the buttons it has (Telegram sends the message with
the press), so it needs no state of its own. ``DIGEST_LINES_PER_MESSAGE`` keeps the
keyboard within Telegram's hundred buttons (one reasons row at a time).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.ids import MAX_ROW_ID
from bot.text import t

VERDICT_PREFIX = "v:"
DIGEST_PREFIX = "d:"
# Stories under one digest message's keyboard: two buttons each and one row of three
# reasons, 83 buttons at most of Telegram's 100; three stories (six buttons) a row.
DIGEST_LINES_PER_MESSAGE = 40
DIGEST_STORIES_PER_ROW = 3
MAX_LINE_NUMBER = 9999  # a digest's story numbers (a backlog of years stays below)
CALLBACK_LIMIT = 64  # bytes of callback_data Telegram takes (core.telegram.org/bots/api)

RELEVANT, NOT_RELEVANT = "relevant", "not_relevant"
WRONG_TOPIC, NOT_MALI_CHINA, DUPLICATE = "wrong_topic", "not_mali_china", "duplicate"
REASONS = (WRONG_TOPIC, NOT_MALI_CHINA, DUPLICATE)

# One letter per button: what it sets (verdict, reason), and the catalogue's words for
# its label and its toast (``verdict_button_<code>`` but for ``SYMBOLS``, ``verdict_set_<code>``).
# ``n`` keeps a reason already given (a stale 👎 pressed again changes nothing).
CODES: Mapping[str, tuple[str, str | None]] = {
    "r": (RELEVANT, None),
    "n": (NOT_RELEVANT, None),
    "t": (NOT_RELEVANT, WRONG_TOPIC),
    "m": (NOT_RELEVANT, NOT_MALI_CHINA),
    "d": (NOT_RELEVANT, DUPLICATE),
}
CODE_OF_REASON = {reason: code for code, (_, reason) in CODES.items() if reason}
# 👍 and 👎 are their own label in every language; the other buttons have words.
SYMBOLS = {"r": "👍", "n": "👎"}


@dataclass(frozen=True, slots=True)
class VerdictState:
    """What a reader said about one alert."""

    verdict: str  # relevant | not_relevant
    reason: str | None = None  # after not_relevant: one of REASONS, or none given


@dataclass(frozen=True, slots=True)
class Press:
    """A verdict button, decoded: which delivery, which button."""

    delivery_id: int
    code: str


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str


Keyboard = tuple[tuple[Button, ...], ...]  # rows of buttons; the sender draws it


def encode(delivery_id: int, code: str) -> str:
    """The callback data of one verdict button."""
    assert code in CODES and 0 < delivery_id <= MAX_ROW_ID
    return f"{VERDICT_PREFIX}{delivery_id}:{code}"


def decode(data: str | None) -> Press | None:
    """The press that ``data`` names, or None for anything malformed: another prefix,
    an id that names no row (not digits, 0, beyond the id bounds), an unknown button."""
    fields = _fields(data, VERDICT_PREFIX, 2)
    if fields is None:
        return None
    delivery_id = _number(fields[0], MAX_ROW_ID)
    return None if delivery_id is None else Press(delivery_id, fields[1])


def _fields(data: str | None, prefix: str, count: int) -> list[str] | None:
    """The ``:``-separated fields after ``prefix``, the last one a known button code;
    None for data of another prefix, too long, or of another shape."""
    if not data or len(data.encode()) > CALLBACK_LIMIT or not data.startswith(prefix):
        return None
    fields = data[len(prefix) :].split(":")
    return fields if len(fields) == count and fields[-1] in CODES else None


def _number(text: str, top: int) -> int | None:
    """A positive ASCII number up to ``top`` (``str.isdigit`` alone takes "١٢")."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if 0 < value <= top else None


@dataclass(frozen=True, slots=True)
class LinePress:
    """A verdict button under a digest message, decoded."""

    line_id: int
    number: int  # the story's number in the digest: the button's label, nothing more
    code: str


def encode_line(line_id: int, number: int, code: str) -> str:
    """The callback data of one verdict button under a digest message."""
    assert code in CODES and 0 < line_id <= MAX_ROW_ID and 0 < number <= MAX_LINE_NUMBER
    return f"{DIGEST_PREFIX}{line_id}:{number}:{code}"


def decode_line(data: str | None) -> LinePress | None:
    """The digest press that ``data`` names, or None for anything malformed."""
    fields = _fields(data, DIGEST_PREFIX, 3)
    if fields is None:
        return None
    line_id, number = _number(fields[0], MAX_ROW_ID), _number(fields[1], MAX_LINE_NUMBER)
    if line_id is None or number is None:
        return None
    return LinePress(line_id, number, fields[2])


def lines_of(data: Iterable[str | None]) -> list[tuple[int, int]]:
    """The (number, line id) of each story a digest message's buttons name, in their
    order: what the keyboard is redrawn from after a press."""
    found: dict[int, int] = {}
    for each in data:
        press = decode_line(each)
        if press is not None:
            found.setdefault(press.line_id, press.number)
    return [(number, line_id) for line_id, number in found.items()]


def next_state(current: VerdictState | None, code: str) -> VerdictState:
    """The verdict after pressing ``code``; the same press twice gives the same state."""
    verdict, reason = CODES[code]
    if code == "n" and current is not None and current.verdict == NOT_RELEVANT:
        reason = current.reason
    return VerdictState(verdict, reason)


def verdict_topic(topics: Sequence[str]) -> str:
    """The topic a verdict on an alert with ``topics`` is about (see module doc)."""
    return topics[0] if topics else ""


def keyboard(delivery_id: int, language: str, state: VerdictState | None = None) -> Keyboard:
    """The buttons under an alert, for its current verdict: 👍 👎 (✅ on the 👍 given),
    or after 👎 the reasons (✅ on the one given) and 👍 to take it back."""

    def button(code: str, chosen: bool = False, key: str = "") -> Button:
        label = SYMBOLS.get(key or code) or t(language, key or f"verdict_button_{code}")
        return Button(f"✅ {label}" if chosen else label, encode(delivery_id, code))

    if state is None or state.verdict != NOT_RELEVANT:
        return ((button("r", chosen=state is not None), button("n")),)
    return (
        (button("t", state.reason == WRONG_TOPIC), button("m", state.reason == NOT_MALI_CHINA)),
        (button("d", state.reason == DUPLICATE), button("r", key="verdict_button_back")),
    )


def digest_keyboard(
    lines: Sequence[tuple[int, int]],
    language: str,
    states: Mapping[int, VerdictState],
    asking: int | None = None,
) -> Keyboard:
    """The buttons under a digest message whose stories are ``lines`` (number, line id):
    ``N👍`` ``N👎`` per story, three stories a row, ✅ on the verdict given (with the
    reason's symbol once one is given: ``✅ 2👎🔁``). Under the row of the story
    ``asking`` (the line just given 👎), that story's reasons: one such row at a time,
    so a message of ``DIGEST_LINES_PER_MESSAGE`` stories stays within Telegram's
    hundred buttons whatever was pressed."""
    rows: list[tuple[Button, ...]] = []
    for start in range(0, len(lines), DIGEST_STORIES_PER_ROW):
        group = lines[start : start + DIGEST_STORIES_PER_ROW]
        buttons: list[Button] = []
        for number, line_id in group:
            state = states.get(line_id)
            for code in ("r", "n"):
                label = f"{number}{SYMBOLS[code]}"
                if state is not None and CODES[code][0] == state.verdict:
                    reason = CODE_OF_REASON.get(state.reason or "")
                    symbol = _symbol(language, reason) if code == "n" and reason else ""
                    label = f"✅ {label}{symbol}"
                buttons.append(Button(label, encode_line(line_id, number, code)))
        rows.append(tuple(buttons))
        asked = next(((n, line) for n, line in group if line == asking), None)
        state = states.get(asking) if asked is not None and asking is not None else None
        if asked is not None and state is not None and state.verdict == NOT_RELEVANT:
            number, line_id = asked
            rows.append(
                tuple(
                    Button(
                        ("✅ " if state.reason == CODES[code][1] else "")
                        + f"{number} · {t(language, f'verdict_button_{code}')}",
                        encode_line(line_id, number, code),
                    )
                    for code in ("t", "m", "d")
                )
            )
    return tuple(rows)


def _symbol(language: str, code: str) -> str:
    """The emoji that opens a reason's label ("🔁 Duplicate" → "🔁")."""
    return t(language, f"verdict_button_{code}").split(" ", 1)[0]


def toast(language: str, state: VerdictState) -> str:
    """The short answer to a press (answerCallbackQuery, ≤ 200 characters)."""
    code = "r" if state.verdict == RELEVANT else CODE_OF_REASON.get(state.reason or "", "n")
    return t(language, f"verdict_set_{code}")


# -- rules feedback: what the verdicts say per topic ----------------------------------
@dataclass(frozen=True, slots=True)
class VerdictRecord:
    """One verdict, with its item's title and the terms that fired for its topic."""

    item_id: int
    title: str
    topic: str
    verdict: str
    reason: str | None
    terms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RatedDown:
    """An item some readers gave 👎 under one topic, for one reason (None: none given)."""

    item_id: int
    title: str
    reason: str | None
    readers: int
    terms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TopicFeedback:
    topic: str
    alerts_sent: int
    relevant: int
    not_relevant: int
    reasons: Mapping[str, int]  # REASONS and "unspecified"
    rated_down: tuple[RatedDown, ...]

    @property
    def precision(self) -> float | None:
        return precision(self.relevant, self.not_relevant)

    def to_dict(self) -> dict[str, Any]:
        share = self.precision
        return {
            "topic": self.topic,
            "alerts_sent": self.alerts_sent,
            "relevant": self.relevant,
            "not_relevant": self.not_relevant,
            "precision": None if share is None else round(share, 4),
            "reasons": dict(self.reasons),
            "not_relevant_items": [
                {
                    "id": item.item_id,
                    "title": item.title,
                    "reason": item.reason,
                    "readers": item.readers,
                    "terms": list(item.terms),
                }
                for item in self.rated_down
            ],
        }


def precision(relevant: int, not_relevant: int) -> float | None:
    """👍 / (👍 + 👎); None when nobody gave a verdict."""
    rated = relevant + not_relevant
    return relevant / rated if rated else None


def summarise(
    sent: Mapping[str, int], records: Iterable[VerdictRecord], order: Sequence[str] = ()
) -> list[TopicFeedback]:
    """Per topic (in ``order``, then any other in name order): alerts sent (``sent``,
    by main topic), verdicts, and the 👎 items most rated down first."""
    relevant: Counter[str] = Counter()
    down: Counter[str] = Counter()
    reasons: dict[str, Counter[str]] = defaultdict(Counter)
    items: dict[str, Counter[tuple[int, str | None]]] = defaultdict(Counter)
    about: dict[int, tuple[str, dict[str, tuple[str, ...]]]] = {}
    for record in records:
        if record.verdict == RELEVANT:
            relevant[record.topic] += 1
            continue
        down[record.topic] += 1
        reasons[record.topic][record.reason or "unspecified"] += 1
        items[record.topic][(record.item_id, record.reason)] += 1
        _, terms = about.setdefault(record.item_id, (record.title, {}))
        terms.setdefault(record.topic, record.terms)
    seen = set(sent) | set(relevant) | set(down)
    ordered = [slug for slug in order if slug in seen]
    ordered += sorted(seen - set(ordered))
    summary = []
    for slug in ordered:
        rated_down = tuple(
            RatedDown(item_id, about[item_id][0], reason, n, about[item_id][1].get(slug, ()))
            for (item_id, reason), n in sorted(
                items[slug].items(), key=lambda pair: (-pair[1], pair[0][0], pair[0][1] or "")
            )
        )
        counted = {reason: reasons[slug][reason] for reason in (*REASONS, "unspecified")}
        summary.append(
            TopicFeedback(slug, sent.get(slug, 0), relevant[slug], down[slug], counted, rated_down)
        )
    return summary


# -- rules feedback --export: the verdicts as a labelled file for `rules eval` --------
@dataclass(frozen=True, slots=True)
class LabelSource:
    """One verdict with what ``rules eval`` needs of its item."""

    item_id: int
    title: str
    summary: str
    language: str
    topic: str
    verdict: str
    reason: str | None


def labelled_items(sources: Iterable[LabelSource], fallback: str | None) -> list[dict[str, Any]]:
    """The verdicts as ``bot.match.evaluate.load_labelled`` entries, one per item.

    Each reader's verdict on an item counts once per topic it names:

    - 👍 on topic T: the item is about Mali–China, and about T;
    - 👎 "wrong topic" on T: about Mali–China, not about T;
    - 👎 "not Mali–China", or 👎 with no reason: not about Mali–China;
    - 👎 "duplicate": left out — it says the story grouping failed, not the rule.

    An item is labelled relevant when more verdicts say so than not (not relevant:
    ``topics: []`` when fewer; a tie is left out), with the topics more readers
    confirmed than refuted; relevant with no such topic, it gets the ``fallback`` label
    (``general``: relevant, no topic; without one the item is left out). The general
    label's own 👍 is the same. ``category`` says which verdict decided.
    """
    by_item: dict[int, list[LabelSource]] = defaultdict(list)
    for source in sources:
        by_item[source.item_id].append(source)
    entries = []
    for item_id in sorted(by_item):
        votes = by_item[item_id]
        yes = no = 0
        confirmed: Counter[str] = Counter()
        refuted: Counter[str] = Counter()
        for vote in votes:
            if vote.verdict == RELEVANT:
                yes += 1
                confirmed[vote.topic] += 1
            elif vote.reason == WRONG_TOPIC:
                yes += 1
                refuted[vote.topic] += 1
            elif vote.reason != DUPLICATE:
                no += 1
        if yes == no:
            continue  # only duplicates, or readers evenly split
        first = votes[0]
        if no > yes:
            labels: list[str] = []
            category = f"verdict:{NOT_MALI_CHINA}"
        else:
            labels = sorted(
                slug
                for slug, n in confirmed.items()
                if slug and slug != fallback and n > refuted[slug]
            )
            if not labels:
                if fallback is None:
                    continue
                labels = [fallback]
            category = f"verdict:{RELEVANT}" if not refuted else f"verdict:{WRONG_TOPIC}"
        entries.append(
            {
                "id": item_id,
                "lang": first.language,
                "title": first.title,
                "summary": first.summary,
                "topics": labels,
                "category": category,
            }
        )
    return entries
