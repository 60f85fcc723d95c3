pytest_plugins = [
    "tests.support.db",
    "tests.support.feed_server",
    "tests.support.botapi",
    "tests.support.telegram",
    "tests.support.cli",
]
