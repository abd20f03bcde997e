"""Every shared fixture lives in tests/support/ and is registered here, once."""

pytest_plugins = [
    "tests.support.apps",
    "tests.support.backups",
    "tests.support.forge",
    "tests.support.storage",
    "tests.support.receivers",
    "tests.support.axe",
]
