"""The Telegram side: application (handlers), senders, i18n."""
