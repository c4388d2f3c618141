"""The one exception type users see, and how it is shown: one line, non-zero exit."""

from __future__ import annotations

import sys


class AmuroError(ValueError):
    """A bad input (unknown set or format, missing file, malformed row, ...). The message is one line that
    names the culprit; the CLIs print it without a traceback and exit with status 2."""

    exit_code = 2


def did_you_mean(name: str, known) -> str:
    """` (did you mean X?)` for the closest of `known`, or nothing: the one hint every error gives."""
    import difflib

    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def os_error(e: OSError) -> str:
    """An OSError in one line that names the path: `cannot write /x/y: No space left on device`."""
    where = " -> ".join(str(f) for f in (e.filename, e.filename2) if f)
    text = f"{where}: {e.strerror or e}" if where else str(e)
    return (text.strip().splitlines() or [type(e).__name__])[0]


def _did_you_mean_task(message: str) -> str:
    import re

    from amuro.tasks.registry import all_task_names

    asked = re.findall(r"amuro\w*", message)
    return did_you_mean(asked[0], all_task_names()) if asked else ""


def _excepthook(exc_type, exc, tb, _previous=sys.excepthook):
    # The interpreter exits with status 1 after an excepthook returns.
    if isinstance(exc, AmuroError):
        print(f"amuro: error: {exc}", file=sys.stderr)
    elif isinstance(exc, ValueError) and str(exc).startswith("Tasks not found") and "amuro" in str(exc):
        print(f"lm_eval: error: {exc}{_did_you_mean_task(str(exc))}; `lm_eval ls tasks` lists them", file=sys.stderr)
    elif isinstance(exc, OSError) and _model_loading(tb) and any("amuro" in a for a in sys.argv):
        # A wrong --model_args pretrained=... on an amuro run: transformers' error, one line (not two tracebacks).
        print(f"lm_eval: error: cannot load the model: {os_error(exc)}", file=sys.stderr)
    else:
        _previous(exc_type, exc, tb)


def _model_loading(tb) -> bool:
    """Whether a traceback passes through lm-eval's model constructors (lm_eval/models/)."""
    import traceback

    return any("lm_eval/models/" in frame.filename.replace("\\", "/") for frame in traceback.extract_tb(tb))


def install_excepthook() -> None:
    """Show an uncaught AmuroError, or lm-eval's unknown-task error, as one line instead of a traceback. Called by
    the task loader and, in the `lm_eval` command, by the start-up shim."""
    if getattr(sys.excepthook, "__name__", "") != "_excepthook":
        sys.excepthook = _excepthook
