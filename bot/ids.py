"""The bounds of ids, in a module of their own: every CLI option that takes an id
checks them, and `mcwatch --help` must not pay for importing ``bot.types`` to know them.

Row ids are INTEGER columns: 32 bits on PostgreSQL (SQLite takes 64). Telegram chat ids
are 64-bit (BIGINT columns). A number beyond names no row, and is refused before it
reaches a driver that would raise on it.
"""

MAX_ROW_ID = 2**31 - 1
MAX_CHAT_ID = 2**63 - 1
