"""Exit codes of the ``safeguard`` command (documented in ``safeguard.cli.app`` and ``docs/command-line.md``)."""

OK = 0
TEST_FAILED = 1
CONFIG = 2
RECORD_ERRORS = 3
IO = 4
