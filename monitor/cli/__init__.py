"""The command line: parse input, call one stage function, print, set the exit code.

Errors are caught in `_app.run` and only there: `BadInput` and usage errors exit 2 with one
line on stderr, run-time failures exit 1; a traceback is shown only with `-v`. Each command
family lives in its own module; `_app.COMMANDS` names where each command is, and the `cli`
group loads it when it is used.
"""

from __future__ import annotations

from monitor.cli._app import cli, main, run, terminal_safe

__all__ = ["cli", "main", "run", "terminal_safe"]
