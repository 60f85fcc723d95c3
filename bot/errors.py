"""mcwatch's one exception tree.

::

    McwatchError
    ├── SettingsError            a setting is missing or malformed (names the setting)
    ├── FeedError                one feed failed; the others go on
    │   ├── FetchError           timeout, HTTP status, too large, bad redirect
    │   │   └── BodyTooLarge     the body passed the size limit (fetch stops reading)
    │   └── ParseError           not a feed, malformed beyond recovery
    │       └── NotJson          declared or shaped as JSON, and not JSON at all
    ├── RuleSyntaxError          (also ValueError) a rule does not parse; has ``column``
    ├── LexiconError             (also ValueError) alias sets or gate settings malformed
    │   └── TopicsDocumentError  a topics document malformed; ``slug``, ``column``
    ├── LabelledFileError        (also ValueError) a labelled file cannot be scored
    ├── UnparsableTime           (also ValueError) not HH:MM, a zone, quiet hours, a duration
    ├── SeedError                a seed or topics file missing, unreadable or malformed
    ├── DeliveryError            Telegram refused a message
    │   ├── RetryLater           429 / 5xx / timeout; has ``retry_after`` seconds
    │   ├── RecipientBlocked     403: the user blocked the bot or left the chat
    │   └── MessageRejected      400: Telegram will never accept this message as is
    └── StoreError               the database refused an operation (e.g. duplicate slug)

The world's failures become these (and then values on a feed or delivery row);
anything else is a bug and propagates.
"""

from __future__ import annotations


class McwatchError(Exception):
    """Base of every error mcwatch raises on purpose."""


class SettingsError(McwatchError):
    """A setting is missing or malformed; the message names it."""


class FeedError(McwatchError):
    """One feed could not be fetched or parsed."""


class FetchError(FeedError):
    """The fetch failed: network, HTTP status, size or redirect bounds."""


class ParseError(FeedError):
    """The body is not a feed mcwatch can read.

    A parser raises it with a catalogue ``key`` and its ``fields`` (``bot/locales``), so
    that /health says why in the admin's language; ``str()`` is the English sentence.
    Raised with a sentence instead (the CLI's own files), the key is ``parse_failed``
    with that sentence as its detail."""

    def __init__(self, message: str = "", *, key: str = "", **fields: str | int) -> None:
        self.key = key or "parse_failed"
        self.fields: dict[str, str | int] = fields if key else {"detail": message}
        super().__init__(message)

    def __str__(self) -> str:
        if self.args and self.args[0]:
            return str(self.args[0])
        from bot.text import t  # the catalogue imports nothing of this module's users

        return t("en", self.key, **self.fields)


class BodyTooLarge(FetchError):
    """The body went past ``FetchLimits.max_bytes``: fetch stops reading it."""


class NotJson(ParseError):
    """The body is not JSON at all (as opposed to JSON that is not a feed)."""


class RuleSyntaxError(McwatchError, ValueError):
    """A rule does not parse. ``column`` is 1-based and points at the problem."""

    def __init__(self, message: str, column: int, query: str = "") -> None:
        self.message = message
        self.column = column
        self.query = query
        super().__init__(f"error at column {column}: {message}")


class LexiconError(McwatchError, ValueError):
    """The lexicon (alias sets or gate configuration) is malformed; names the bad key."""


class TopicsDocumentError(LexiconError):
    """The topics document is malformed. ``slug``/``column`` locate a bad rule."""

    def __init__(self, message: str, slug: str | None = None, column: int | None = None):
        self.slug = slug
        self.column = column
        super().__init__(message)


class LabelledFileError(McwatchError, ValueError):
    """A labelled file that cannot be scored; the message names the entry and the key."""


class UnparsableTime(McwatchError, ValueError):
    """``value`` is not ``expected`` (a phrase: "HH:MM", "an IANA timezone such as …")."""

    def __init__(self, expected: str, value: str) -> None:
        super().__init__(f"expected {expected}, got {value!r}")
        self.expected = expected
        self.value = value


class SeedError(McwatchError):
    """A seed or topics file is missing, unreadable or malformed, or the database changed
    under a reset; the message (one line) names the file and entry."""


class DeliveryError(McwatchError):
    """Telegram did not accept a message."""


class RetryLater(DeliveryError):
    """Try again after ``retry_after`` seconds (429, 5xx, timeout).

    ``backoff``: the delay is a guess (5xx, timeout), to grow with each attempt; a 429's
    ``retry_after`` is Telegram's own figure and is obeyed as it is.
    """

    def __init__(self, message: str, retry_after: float, *, backoff: bool = False) -> None:
        self.retry_after = retry_after
        self.backoff = backoff
        super().__init__(message)


class RecipientBlocked(DeliveryError):
    """The user blocked the bot, or the bot left the group: stop sending there."""


class MessageRejected(DeliveryError):
    """Telegram refuses this message as it is (400 Bad Request)."""


class StoreError(McwatchError):
    """The store refused an operation; the message says why in product words."""
