"""mcwatch's one exception tree.

::

    McwatchError
    ├── SettingsError            a setting is missing or malformed (names the setting)
    ├── FeedError                one feed failed; the others go on
    │   ├── FetchError           timeout, HTTP status, too large, bad redirect
    │   └── ParseError           not a feed, malformed beyond recovery
    ├── RuleSyntaxError          (also ValueError) a rule does not parse; has ``column``
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
    """The body is not a feed mcwatch can read."""


class RuleSyntaxError(McwatchError, ValueError):
    """A rule does not parse. ``column`` is 1-based and points at the problem."""

    def __init__(self, message: str, column: int, query: str = "") -> None:
        self.message = message
        self.column = column
        self.query = query
        super().__init__(f"error at column {column}: {message}")


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
