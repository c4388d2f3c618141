"""Load one split of a task set: from the Hugging Face Hub by default, or offline from `AMURO_DATA_DIR`.

`AMURO_DATA_DIR=DIR` makes set `S` read `DIR/S/<split>.jsonl`, where `<split>` is the HF split name the set uses
(`mnli` reads `DIR/mnli/validation_matched.jsonl` and `DIR/mnli/train.jsonl`) and every row has the dataset's real HF
schema. Every row, from either source, is checked against the registry's columns, so a malformed row fails with
one line naming the file and line (or the Hub id, split and row).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from amuro.errors import AmuroError
from amuro.tasks.registry import TaskSet, get_set

DATA_DIR_ENV = "AMURO_DATA_DIR"


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    value = explicit if explicit is not None else os.environ.get(DATA_DIR_ENV)
    return Path(value) if value else None


def split_path(root: Path, set_name: str, split: str) -> Path:
    return root / set_name / f"{split}.jsonl"


def check_row(ts: TaskSet, row: object) -> None:
    """Raise AmuroError (without location) if `row` lacks a used column or has one of the wrong type."""
    if not isinstance(row, dict):
        raise AmuroError(f"a row must be a JSON object, got {type(row).__name__}")
    for column in ts.used:
        if column not in row:
            raise AmuroError(f"missing field {column!r}")
        expected = ts.columns[column]
        value = row[column]
        # bool is an int subclass: a True label is malformed unless the column is a bool.
        wrong_bool = isinstance(value, bool) and bool not in (expected if isinstance(expected, tuple) else (expected,))
        if not isinstance(value, expected) or wrong_bool:
            names = "/".join(t.__name__ for t in expected) if isinstance(expected, tuple) else expected.__name__
            raise AmuroError(f"field {column!r} must be {names}, got {type(value).__name__} {value!r:.60}")


def read_jsonl(path: Path, ts: TaskSet) -> list[dict]:
    if not path.is_file():
        raise AmuroError(f"{path}: no such file (set {ts.name!r} reads <{DATA_DIR_ENV}>/{ts.name}/<split>.jsonl)")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise AmuroError(f"{path}: cannot read ({e.strerror})") from None
    rows = []
    for line_no, raw in enumerate(data.splitlines(), 1):
        try:
            line = raw.decode("utf-8")
            if not line.strip():
                continue
            row = json.loads(line)
            check_row(ts, row)
        except UnicodeDecodeError:
            raise AmuroError(f"{path}:{line_no}: not UTF-8 text") from None
        except json.JSONDecodeError as e:
            raise AmuroError(f"{path}:{line_no}: malformed JSON ({e.msg})") from None
        except AmuroError as e:
            raise AmuroError(f"{path}:{line_no}: {e}") from None
        rows.append(row)
    if not rows:
        raise AmuroError(f"{path}: no rows")
    return rows


def row_lines(path: Path) -> list[int]:
    """The line number of each row of a JSONL file (blank lines hold no row)."""
    return [n for n, raw in enumerate(path.read_bytes().splitlines(), 1) if raw.strip()]


def hub_unreachable() -> str | None:
    """Why the Hugging Face Hub cannot be used right now (offline mode set, or no connection within 3 s), or None:
    a one-line error at once instead of a minute of retries inside `datasets`."""
    import socket
    from urllib.parse import urlparse

    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{var} is set"
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout=3).close()
    except OSError as e:
        return f"{url.hostname} is unreachable ({e.strerror or type(e).__name__})"
    return None


def load_hub(ts: TaskSet, split: str) -> list[dict]:
    import datasets

    where = f"{ts.hf_path}" + (f" ({ts.hf_name})" if ts.hf_name else "")
    why = hub_unreachable()
    if why:
        raise AmuroError(f"set {ts.name!r}: cannot load {where} split {split!r} from the Hub: {why}; set "
                         f"{DATA_DIR_ENV} to read local JSONL (DIR/{ts.name}/{split}.jsonl)")
    try:
        ds = datasets.load_dataset(ts.hf_path, ts.hf_name, split=split, **ts.hf_kwargs)
    except Exception as e:  # the Hub's own errors are long; keep the cause on one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AmuroError(f"set {ts.name!r}: cannot load {where} split {split!r} from the Hub "
                         f"({first}); set {DATA_DIR_ENV} to read local JSONL instead") from e
    rows = ds.to_list()
    for i, row in enumerate(rows):
        try:
            check_row(ts, row)
        except AmuroError as e:
            raise AmuroError(f"{where} split {split!r} row {i}: {e}") from None
    return rows


def locate(set_name: str, split: str, root: str | os.PathLike | None = None):
    """`where(i)`: where row i of `load_split(set_name, split, root)` comes from, for error messages:
    `DIR/mnli/train.jsonl:7`, or `nyu-mll/glue (mnli) split 'train' row 6`."""
    ts, base = get_set(set_name), data_dir(root)
    if base:
        path = split_path(base, set_name, split)
        return lambda i: f"{path}:{row_lines(path)[i]}"
    return lambda i: f"{ts.hf_path}" + (f" ({ts.hf_name})" if ts.hf_name else "") + f" split {split!r} row {i}"


def load_split(set_name: str, split: str, root: str | os.PathLike | None = None) -> list[dict]:
    """The rows of one split of a set, as plain dicts in the HF schema."""
    ts = get_set(set_name)
    if split not in ts.splits():
        raise AmuroError(f"set {set_name!r} does not use split {split!r} (it uses {', '.join(ts.splits())})")
    base = data_dir(root)
    return read_jsonl(split_path(base, set_name, split), ts) if base else load_hub(ts, split)
