"""mcwatch: Mali–China news alerts on Telegram."""

__version__ = "0.1.0"
