"""The results table: one row per (model, checkpoint, training set, evaluation set, format, shots, metric).

Written by the sweep, read by `amuro report`. Columns (extra columns are allowed and kept):

    model        repo id or path of the evaluated model
    revision     its revision (empty for a local path)
    step         pre-training step of the checkpoint (int)
    tokens       pre-training tokens of the checkpoint (int, empty if unknown)
    train        `base` for no fine-tuning, else the training set (`mnli`, `tulu`, ...)
    eval         the evaluated task set (a name from `amuro.registry.SETS`)
    format       default | io | instruct
    num_fewshot  demonstrations per prompt (int)
    metric       acc | acc_norm | rougeL
    value        the score, a fraction (accuracy, Rouge-L F-measure)
    stderr       its standard error (may be empty)
    n            documents scored (int, may be empty)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from amuro.errors import AmuroError
from amuro.registry import FORMATS, INSTRUCTION_TUNING, SETS, TRAINING_SETS

if TYPE_CHECKING:
    import pandas as pd  # imported where used: the sweep imports this module and stays light

COLUMNS = ("model", "revision", "step", "tokens", "train", "eval", "format", "num_fewshot", "metric", "value",
           "stderr", "n")
METRICS = ("acc", "acc_norm", "rougeL")
BASE = "base"  # the `train` value of a model that was not fine-tuned
TRAINS = (BASE, *TRAINING_SETS, INSTRUCTION_TUNING)

_INTS, _OPTIONAL_INTS = ("step", "num_fewshot"), ("tokens", "n")
_FLOATS, _OPTIONAL_FLOATS = ("value",), ("stderr",)
_CHOICES = {"train": TRAINS, "eval": tuple(SETS), "format": FORMATS, "metric": METRICS}


def read_results(path) -> pd.DataFrame:
    """Read and validate a results CSV; a bad table raises a one-line AmuroError naming the file."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise AmuroError(f"{path}: no such results file")
    try:
        # Everything as text first, so that a bad cell can be named instead of silently becoming NaN.
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise AmuroError(f"{path}: not a readable CSV ({str(e).splitlines()[0]})") from None
    return validate(df, source=str(path), first_line=2)


def validate(df: pd.DataFrame, source: str = "results table", first_line: int | None = None) -> pd.DataFrame:
    """A typed copy of `df` in the results schema. Rows are named by CSV line when `first_line` (the line of the
    first data row) is given, else by DataFrame position."""
    import pandas as pd

    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise AmuroError(f"{source}: missing column(s) {', '.join(missing)}; the results schema is "
                         f"{','.join(COLUMNS)}")
    if len(df) == 0:
        raise AmuroError(f"{source}: no result rows")

    def where(i: int) -> str:
        return f"line {first_line + i}" if first_line is not None else f"row {i}"

    def text(series: pd.Series) -> pd.Series:
        return series.astype("string").fillna("").str.strip()

    out = df.copy().reset_index(drop=True)
    for col in ("model", "revision", "train", "eval", "format", "metric"):
        out[col] = text(out[col]).astype(str)
    for col in _INTS + _OPTIONAL_INTS + _FLOATS + _OPTIONAL_FLOATS:
        if pd.api.types.is_numeric_dtype(out[col]):  # already typed (a DataFrame, or a second validation)
            num = out[col].astype(float)
            empty, unreadable = num.isna(), pd.Series(False, index=out.index)
        else:
            raw = text(out[col])
            empty = raw == ""
            num = pd.to_numeric(raw.where(~empty), errors="coerce").astype(float)
            unreadable = ~empty & num.isna()
        bad = unreadable | (empty if col in _INTS + _FLOATS else False)
        if col in _INTS + _OPTIONAL_INTS:
            bad |= num.notna() & (num != num.round())
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            kind = "an integer" if col in _INTS + _OPTIONAL_INTS else "a number"
            shown = "" if empty.iloc[i] else str(out[col].iloc[i]).strip()
            raise AmuroError(f"{source}: {where(i)}: {col} {shown!r} is not {kind}"
                             + ("" if col in _INTS + _FLOATS else " or empty"))
        out[col] = num.astype("Int64") if col in _INTS + _OPTIONAL_INTS else num
    for col, allowed in _CHOICES.items():
        bad = ~out[col].isin(allowed)
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            what = {"eval": "task set", "train": "training set", "format": "prompt format"}.get(col, col)
            raise AmuroError(f"{source}: {where(i)}: unknown {what} {out[col].iloc[i]!r}; known: {', '.join(allowed)}")
    out["step"] = out["step"].astype(int)
    out["num_fewshot"] = out["num_fewshot"].astype(int)
    return out
