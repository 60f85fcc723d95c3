"""The Telegram side: application (handlers), commands, keyboards, sender. Its words are
the catalogue's (``bot.text``)."""
