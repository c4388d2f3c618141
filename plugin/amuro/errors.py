"""The one exception type users see, and how it is shown: one line, non-zero exit."""

from __future__ import annotations

import sys


class AmuroError(ValueError):
    """A bad input (unknown set or format, missing file, malformed row, ...). The message is one line that
    names the culprit; the CLIs print it without a traceback and exit with status 2."""

    exit_code = 2


def _excepthook(exc_type, exc, tb, _previous=sys.excepthook):
    if isinstance(exc, AmuroError):
        print(f"amuro: error: {exc}", file=sys.stderr)
        sys.stderr.flush()
        # sys.exit is not possible from an excepthook; the interpreter exits with 1 after it returns.
        return
    _previous(exc_type, exc, tb)


def install_excepthook() -> None:
    """Show an uncaught AmuroError as one line, also under plain `lm_eval` (the task loader calls this)."""
    if getattr(sys.excepthook, "__name__", "") != "_excepthook":
        sys.excepthook = _excepthook
