"""The results table: one row per (model, checkpoint, training set, evaluation set, format, shots, metric).

Written by the sweep (`rows_from_lm_eval`, `append_rows`), read by `amuro report` (`read_results`). Columns (extra columns are allowed and kept):

    model        repo id or path of the evaluated model
    revision     its revision (empty for a local path)
    step         pre-training step of the checkpoint (int)
    tokens       pre-training tokens of the checkpoint (int, empty if unknown)
    train        `base` for no fine-tuning, else the training set (`mnli`, `tulu`, ...)
    eval         the evaluated task set (a name from `amuro.tasks.registry.SETS`)
    format       default | io | instruct | harness (the instruction-tuning sets only)
    num_fewshot  demonstrations per prompt (int)
    metric       acc | acc_norm | rougeL, or catwalk's acc_per_token | acc_per_char | acc_uncond (a harness-format
                 row of a sweep whose instruction-tuning sets are scored as catwalk did: each set's catwalk metric)
    value        the score, a fraction (accuracy, Rouge-L F-measure)
    stderr       its standard error (may be empty)
    n            documents scored (int, may be empty)
    source       (written by the sweep) the lm-eval JSON a row comes from, relative to the sweep's folder
    profile      (optional) the study profile of the sweep (paper | corrected); the JSON's amuro.provenance has
                 every knob
    method       (optional) full | lora: how the model was fine-tuned; missing in older tables = full
    family       (optional) the model family a spec names (`family:`, or a spec's `families:`); the report
                 analyses each family apart (each `model` where empty), never pooling two
    seed         (optional) the fine-tuning seed (a spec's `seeds:`), an integer; empty: no seed axis (BASE rows)
    fewshot_seed (optional) the seed of the demonstrations' draw (`evaluate: fewshot_seeds:`, lm-eval's
                 --fewshot_random_seed); empty: no demonstration axis. Rows that differ only in these two are
                 replicates of one cell: the report averages them and resamples them (amuro.report.stats)

Beside it, a sweep with `evaluate: {completion_loss: N}` writes base_measures.csv, the BASE checkpoints' own
measures (`amuro.study.measures`), which `amuro report` reads from the same folder for its "Is more pre-training
still paying off?" section: model, revision, step, tokens (the BASE checkpoint), train (the training set whose
completions were scored), measure (`completion_loss`), value (nats per completion byte, mean over the N fixed
examples), n. They are not rows of this table: the fine-tuning sets they score (Tulu among them) are not
evaluation sets, and a measure is not an lm-eval metric.
    predictions, empty_generations, examples
                 (written by the sweep) what the model predicted: `amuro.study.diagnostics`
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from amuro.errors import AmuroError
from amuro.files import remove_stale_temporaries, write_atomic
from amuro.study.diagnostics import diagnostic_columns
from amuro.tasks.registry import (ALL_FORMATS, CATWALK_METRICS, HARNESS, INSTRUCTION_TUNING, SETS, TRAINING_SETS,
                                  parse_task_name)

if TYPE_CHECKING:
    import pandas as pd  # imported where used: the sweep imports this module and stays light

COLUMNS = ("model", "revision", "step", "tokens", "train", "eval", "format", "num_fewshot", "metric", "value",
           "stderr", "n")
KEY = ("model", "revision", "train", "method", "eval", "format", "num_fewshot", "metric", "seed",
       "fewshot_seed")  # one row per key
# Columns older tables lack, and what they mean there.
OPTIONAL = {"profile": "", "method": "full", "family": "", "seed": "", "fewshot_seed": ""}
SEEDS = ("seed", "fewshot_seed")  # integers or empty, kept as text labels ("" = no such axis)
METRICS = ("acc", "acc_norm", "rougeL", *CATWALK_METRICS)
BASE = "base"  # the `train` value of a model that was not fine-tuned
METHODS = ("full", "lora")  # how a model was fine-tuned (the `method` column; BASE rows say full)
TRAINS = (BASE, *TRAINING_SETS, INSTRUCTION_TUNING)

VALIDATED = "amuro_validated"  # DataFrame.attrs key
_INTS, _OPTIONAL_INTS = ("step", "num_fewshot"), ("tokens", "n")
_FLOATS, _OPTIONAL_FLOATS = ("value",), ("stderr",)
_CHOICES = {"train": TRAINS, "eval": tuple(SETS), "format": ALL_FORMATS, "metric": METRICS, "method": METHODS}


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
    first data row) is given, else by DataFrame position. A validated table (marked in `attrs`) is returned as is."""
    import pandas as pd

    if df.attrs.get(VALIDATED):
        return df

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
    for col, default in OPTIONAL.items():  # tables written before these columns existed
        if col not in out.columns:
            out[col] = default
    for col in ("model", "revision", "train", "eval", "format", "metric", *OPTIONAL):
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
    for col in SEEDS:
        num = pd.to_numeric(out[col].where(out[col] != ""), errors="coerce")
        bad = (out[col] != "") & (num.isna() | (num != num.round()))
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise AmuroError(f"{source}: {where(i)}: {col} {out[col].iloc[i]!r} is not an integer or empty")
        out[col] = [("" if v == "" else str(int(n))) for v, n in zip(out[col], num)]
    for col, allowed in _CHOICES.items():
        bad = ~out[col].isin(allowed)
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            what = {"eval": "task set", "train": "training set", "format": "prompt format"}.get(col, col)
            raise AmuroError(f"{source}: {where(i)}: unknown {what} {out[col].iloc[i]!r}; known: {', '.join(allowed)}")
    out["step"] = out["step"].astype(int)
    out["num_fewshot"] = out["num_fewshot"].astype(int)
    out.attrs[VALIDATED] = True
    return out


# --- writing: what the sweep does with each model's lm-eval JSON ---------------------------------------------------

def rows_from_lm_eval(results: dict, source: str) -> list[dict]:
    """Rows in the results schema from one model's lm-eval results JSON (with the sweep's `amuro` block)."""
    meta, rows = results["amuro"], []
    catwalk = meta.get("provenance", {}).get("harness") == "catwalk"
    for task, metrics in sorted(results["results"].items()):
        set_name, fmt = parse_task_name(task)
        # The paper profile reports the metric catwalk reported for the set; otherwise lm-eval's own.
        wanted = (SETS[set_name].catwalk_metric,) if catwalk and fmt == HARNESS else SETS[set_name].metrics
        for metric in wanted:
            stderr = metrics.get(f"{metric}_stderr,none")
            rows.append({
                "model": meta["model"], "revision": meta["revision"], "step": meta["step"],
                "tokens": "" if meta["tokens"] is None else meta["tokens"], "train": meta["train"],
                "eval": set_name, "format": fmt, "num_fewshot": results["n-shot"][task], "metric": metric,
                "value": metrics[f"{metric},none"],
                "stderr": stderr if isinstance(stderr, (int, float)) else "",
                "n": results["n-samples"][task]["effective"], "source": source,
                "profile": meta.get("provenance", {}).get("profile", ""), "method": meta.get("method", "full"),
                **{k: "" if meta.get(k) is None else meta[k] for k in ("family", *SEEDS)},
                **diagnostic_columns(meta.get("diagnostics", {}).get(task)),
            })
    return rows


def _order(row: dict) -> tuple:
    """Checkpoints by step, each one's base model before its fine-tunings, then the key's columns."""
    def number(v) -> float:
        try:
            return float(v)
        except (TypeError, ValueError):
            return float("inf")

    train = str(row.get("train", ""))
    rest = (k for k in KEY if k not in ("model", "revision", "train"))
    return (str(row.get("model", "")), number(row.get("step")), str(row.get("revision", "")), train != BASE, train,
            *(str(row.get(k, OPTIONAL.get(k, ""))) for k in rest))


def append_rows(path: Path, rows: list[dict]) -> None:
    """Add rows to a results CSV, replacing any with the same key; rewritten whole and renamed under a lock, so
    readers never see half a file and concurrent jobs never lose each other's rows."""
    import csv
    import fcntl
    import io

    if not rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = list(csv.DictReader(open(path, newline=""))) if path.is_file() else []
        def key(row: dict) -> tuple:
            return tuple(str(row.get(k, OPTIONAL.get(k, ""))) for k in KEY)

        merged = {key(r): r for r in old}
        for row in rows:
            merged[key(row)] = row
        remove_stale_temporaries(path.parent, path.name)  # a killed rewrite's; we hold the writers' lock
        header = list(dict.fromkeys([*COLUMNS, *(c for r in merged.values() for c in r)]))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=header, restval="")
        writer.writeheader()
        writer.writerows(sorted(merged.values(), key=_order))  # one order, whichever job finished first
        write_atomic(path, text.getvalue())
