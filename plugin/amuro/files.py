"""How amuro writes files: whole or not at all, never over a user's file, never with a secret in them.

- Every output goes to a unique temporary file beside its destination and is renamed over it, so a reader (or a
  rerun after a kill) never sees half a file and two processes never share a temporary name; a failed write removes
  its temporary file.
- An output folder amuro creates holds a `.amuro` marker; `claim_folder` refuses a folder that exists without it
  (somebody else's files) unless forced, and refuses a path that is a file.
- Text written goes through `redact`: Hugging Face tokens (`hf_...`) and the values of token-like keys are replaced.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from amuro.errors import AmuroError

MARKER = ".amuro"
REDACTED = "<redacted>"
_HF_TOKEN = re.compile(r"hf_[A-Za-z0-9]{8,}")
_SECRET_KEY = r"(?:hub_token|token|api_key|apikey|password|secret)"
_SECRET_JSON = re.compile(rf'("{_SECRET_KEY}"\s*:\s*)"[^"]*"', re.IGNORECASE)  # "token": "..."
_SECRET_ARG = re.compile(rf"\b({_SECRET_KEY}=)[^,\s'\"]+", re.IGNORECASE)  # model_args strings: token=...


def redact(text: str) -> str:
    """`text` without Hugging Face tokens or the values of token/password-like keys."""
    text = _HF_TOKEN.sub(REDACTED, text)
    text = _SECRET_JSON.sub(rf'\1"{REDACTED}"', text)
    return _SECRET_ARG.sub(rf"\1{REDACTED}", text)


def redact_folder(folder: str | os.PathLike) -> None:
    """Redact every text file under `folder` that another library wrote (lm-eval's outputs, W&B's run files)."""
    for path in Path(folder).rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".yaml", ".yml", ".txt", ".log", ".md"):
            text = path.read_text(errors="replace")
            if redact(text) != text:
                write_atomic(path, text)


def claim_folder(path: str | os.PathLike, force: bool = False) -> Path:
    """Make `path` an output folder of amuro's. A path that is a file, or a folder with files that amuro did not
    write there (no `.amuro` marker), is refused in one line unless `force`."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise AmuroError(f"{path} is a file, not a folder; choose another output folder")
    if path.is_dir() and not (path / MARKER).exists() and not force:
        theirs = sorted(p.name for p in path.iterdir())
        if theirs:
            raise AmuroError(f"{path} holds files amuro did not write ({', '.join(theirs[:3])}"
                             f"{', ...' if len(theirs) > 3 else ''}); pass --force to write there anyway, or choose "
                             "another output folder")
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).touch()
    return path


def write_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (redacted) to `path` through a temporary file in the same folder, fsynced, then renamed."""
    text = redact(text)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        fault_point(f"before_rename:{path.name}")
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):  # name the file being written, not the temporary or a descriptor
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    return path


FAULT_ENV = "AMURO_FAULT"


def fault_point(name: str) -> None:
    """Die here, as a SIGKILL would, when `AMURO_FAULT=<name>`: the crash tests' deterministic kills at the stage
    boundaries of a sweep (trained, evaluated, rows_written, before_rename:results.csv). Costs one lookup."""
    if os.environ.get(FAULT_ENV) == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def remove_stale_temporaries(folder: str | os.PathLike, name: str) -> None:
    """Delete the temporary files a killed `write_atomic(folder / name)` left behind. Call it while holding the
    lock that serialises writers of that file."""
    for tmp in Path(folder).glob(f".{name}.*.tmp"):
        tmp.unlink(missing_ok=True)


def remove(path: str | os.PathLike) -> None:
    """Delete a file or a folder tree (nothing if it is already gone)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
