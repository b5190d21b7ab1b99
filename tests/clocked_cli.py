"""`python -m tests.clocked_cli ARGS...`: the CLI as a process of its own (signals, locks,
kill -9, the daemon), on the tests' clock (`tests/clock.py`)."""

import sys

from monitor.cli import run
from tests.clock import now

if __name__ == "__main__":
    sys.exit(run(sys.argv[1:], clock=now))
