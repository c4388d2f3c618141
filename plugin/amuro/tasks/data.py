"""Load one split of a task set: from the Hugging Face Hub by default, or offline from `AMURO_DATA_DIR`.

`AMURO_DATA_DIR=DIR` makes set `S` read `DIR/S/<split>.jsonl`, where `<split>` is the HF split name the set uses
(`mnli` reads `DIR/mnli/validation_matched.jsonl` and `DIR/mnli/train.jsonl`) and every row has the dataset's real HF
schema. With `authors=True` a set's scored split comes from the authors' copy where the registry names one
(`TaskSet.authors_eval`: QQP and STS-B from SetFit, `DIR/<set>/setfit_test.jsonl` offline), renamed into the
set's schema. Every row, from any source, is checked where it is read (`check_row`: columns, types, allowed
values such as a label's range, answer options), so a malformed row fails with one line naming the file and line
(or the Hub id, split and row), whatever reads it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from amuro.errors import AmuroError
from amuro.tasks.registry import Between, Source, TaskSet, get_set

DATA_DIR_ENV = "AMURO_DATA_DIR"


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    value = explicit if explicit is not None else os.environ.get(DATA_DIR_ENV)
    return Path(value) if value else None


def split_path(root: Path, set_name: str, split: str) -> Path:
    return root / set_name / f"{split}.jsonl"


def check_row(ts, row: object) -> None:
    """Raise AmuroError (without location) if `row` is not a row of `ts` (a TaskSet, a registry Source or a training
    source): a used column missing or of the wrong type, a value outside the column's allowed ones (a label of 7),
    or a malformed structure (answer options, endings). Every reader of a row goes through here, so a bad row is
    refused where it is read, whatever reads it."""
    if not isinstance(row, dict):
        raise AmuroError(f"a row must be a JSON object, got {type(row).__name__}")
    for column in _used(ts):
        if column not in row:
            raise AmuroError(f"missing field {column!r}")
        expected = ts.columns[column]
        value = row[column]
        # bool is an int subclass: a True label is malformed unless the column is a bool.
        wrong_bool = isinstance(value, bool) and bool not in (expected if isinstance(expected, tuple) else (expected,))
        if not isinstance(value, expected) or wrong_bool:
            names = "/".join(t.__name__ for t in expected) if isinstance(expected, tuple) else expected.__name__
            raise AmuroError(f"field {column!r} must be {names}, got {type(value).__name__} {value!r:.60}")
    for column, allowed in getattr(ts, "values", {}).items():
        if row[column] not in allowed:
            wanted = str(allowed) if isinstance(allowed, Between) else "one of " + ", ".join(map(repr, allowed))
            raise AmuroError(f"field {column!r} must be {wanted}, got {row[column]!r:.60}")
    shape = _SHAPES.get(getattr(ts, "name", None)) if isinstance(ts, TaskSet) else None
    if shape:
        shape(row)


def _used(ts) -> tuple[str, ...]:
    return tuple(ts.rename) + ("label",) if isinstance(ts, Source) else ts.used


def _keyed_choices(row: dict) -> None:  # ARC, OpenBookQA
    choices = row["choices"]
    if not (isinstance(choices.get("text"), list) and isinstance(choices.get("label"), list)
            and len(choices["text"]) == len(choices["label"]) >= 2
            and all(isinstance(t, str) for t in choices["text"] + choices["label"])):
        raise AmuroError("field 'choices' must be {'text': [...], 'label': [...]} with two or more options")
    if row["answerKey"].strip() not in choices["label"]:
        raise AmuroError(f"answerKey {row['answerKey']!r} is not among choices.label {choices['label']}")


def _endings(row: dict) -> None:  # HellaSwag
    if not (len(row["endings"]) == 4 and all(isinstance(e, str) for e in row["endings"])):
        raise AmuroError("field 'endings' must be a list of 4 strings")


def _answers(row: dict) -> None:  # TweetQA
    if not all(isinstance(a, str) for a in row["Answer"]):
        raise AmuroError("field 'Answer' must be a list of strings")


_SHAPES = {"arc_easy": _keyed_choices, "arc_challenge": _keyed_choices, "openbookqa": _keyed_choices,
           "hellaswag": _endings, "tweetqa": _answers}


def read_jsonl(path: Path, ts) -> list[dict]:
    if not path.is_file():
        raise AmuroError(f"{path}: no such file (set {path.parent.name!r} reads "
                         f"<{DATA_DIR_ENV}>/{path.parent.name}/{path.name})")
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


def load_hub(ts, split: str, set_name: str | None = None) -> list[dict]:
    """A split from the Hub (`ts`: a TaskSet, a registry Source or a training source), every row checked."""
    import datasets

    name = set_name or ts.name
    where = f"{ts.hf_path}" + (f" ({ts.hf_name})" if ts.hf_name else "")
    local = ts.local if isinstance(ts, Source) else split
    why = hub_unreachable()
    if why:
        raise AmuroError(f"set {name!r}: cannot load {where} split {split!r} from the Hub: {why}; set "
                         f"{DATA_DIR_ENV} to read local JSONL (DIR/{name}/{local}.jsonl)")
    try:
        ds = datasets.load_dataset(ts.hf_path, ts.hf_name, split=split, **getattr(ts, "hf_kwargs", {}))
    except Exception as e:  # the Hub's own errors are long; keep the cause on one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AmuroError(f"set {name!r}: cannot load {where} split {split!r} from the Hub "
                         f"({first}); set {DATA_DIR_ENV} to read local JSONL instead") from e
    rows = ds.to_list()
    for i, row in enumerate(rows):
        try:
            check_row(ts, row)
        except AmuroError as e:
            raise AmuroError(f"{where} split {split!r} row {i}: {e}") from None
    return rows


def authors_source(set_name: str, split: str, authors: bool) -> Source | None:
    """The authors' copy of a set's scored split (`amuro_splits: authors`), where the registry has one."""
    ts = get_set(set_name)
    return ts.authors_eval if authors and split == ts.eval_split else None


def locate(set_name: str, split: str, root: str | os.PathLike | None = None, authors: bool = False):
    """`where(i)`: where row i of `load_split(set_name, split, root, authors)` comes from, for error messages:
    `DIR/mnli/train.jsonl:7`, or `nyu-mll/glue (mnli) split 'train' row 6`."""
    ts, base, src = get_set(set_name), data_dir(root), authors_source(set_name, split, authors)
    if base:
        path = split_path(base, set_name, src.local if src else split)
        return lambda i: f"{path}:{row_lines(path)[i]}"
    hub = src or ts
    return lambda i: (f"{hub.hf_path}" + (f" ({hub.hf_name})" if hub.hf_name else "")
                      + f" split {src.split if src else split!r} row {i}")


def load_split(set_name: str, split: str, root: str | os.PathLike | None = None, authors: bool = False) -> list[dict]:
    """The rows of one split of a set, as plain dicts in the HF schema. With `authors`, the scored split comes from
    the authors' copy where the registry names one (its columns renamed into the set's schema)."""
    ts = get_set(set_name)
    if split not in ts.splits():
        raise AmuroError(f"set {set_name!r} does not use split {split!r} (it uses {', '.join(ts.splits())})")
    base, src = data_dir(root), authors_source(set_name, split, authors)
    if src is None:
        return read_jsonl(split_path(base, set_name, split), ts) if base else load_hub(ts, split)
    rows = read_jsonl(split_path(base, set_name, src.local), src) if base else load_hub(src, src.split, set_name)
    return [{src.rename.get(k, k): v for k, v in row.items()} for row in rows]
