"""The rows the analysis reads, and its unit, the cell.

A *cell* is one (checkpoint step, training set t, evaluation set d, format): the fine-tuned model's score next to
the BASE model's score at the same step on the same set, format and shot count (docs/study.md §5):

    change = Perf_t(d) - Perf_BASE(d)          ratio = change / Perf_BASE(d)

A cell whose fine-tuned or BASE row is absent is `not_in_spec` (the sweep's plan.json never asked for it), `failed`
(its job failed) or `missing` (planned, no result; also every absent cell when no plan is known); one whose BASE
score is 0 is `zero_base` (its ratio is undefined). All are skipped by the averages that need them and counted,
never filled. Each evaluation set is read
at its primary metric (the registry's first: `acc`, or `rougeL` for generation; catwalk's metric of an
instruction-tuning set where the table holds it, `read_metric`) and at one shot count: the count
most of its rows use (ties: the larger), unless `num_fewshot` is given. The authors compared 4-shot BASE with
4-shot fine-tuned runs (docs/study.md, "Scoring").

A table is one *study*: one model (or one `family`, where a spec names it), one fine-tuning method. A table of
several studies is split by `amuro.report.build` and each is analysed apart (`study_units`); nothing is averaged
across models. Within a study, rows that differ only in `seed` (the fine-tuning seed) and `fewshot_seed` (the draw
of demonstrations) are the *runs* of one cell: its score is their mean, and the report's bootstrap resamples them
within the cell (`runs_of`, `amuro.report.stats.hierarchical_ci`). Any other repeated key is an error.

Every function here and in `amuro.report.analysis` takes the results table (the `amuro.study.results` schema) or
the output of `analysed` on it: `validate` and `analysed` mark their output in `DataFrame.attrs` and return a
marked table unchanged, so a report validates and reduces the table once, however many quantities it computes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from amuro.errors import AmuroError
from amuro.study.results import BASE, validate
from amuro.tasks.registry import INSTRUCTION_TUNING as IT
from amuro.tasks.registry import HARNESS, SETS, TRAINING_SETS

CLS_FAMILIES = ("nli", "paraphrase")
GEN_FAMILIES = ("summarization", "question_generation")
CLS_TRAIN = tuple(t for t in TRAINING_SETS if SETS[t].family in CLS_FAMILIES)  # mnli, paws
GEN_TRAIN = tuple(t for t in TRAINING_SETS if SETS[t].family in GEN_FAMILIES)  # xsum, socialiqa

# Cross-task MRC (docs/study.md §5): models trained on one kind of task, scored on the in-domain evaluation set
# of each training set of the other kind, i.e. the set named like that training set (xsum, socialiqa, mnli, paws;
# not xlsum or mnli_mm, which the authors never scored for these models). Pairs are (eval, train).
MRC_PAIRS = {
    "cls_to_gen": tuple((d, t) for t in CLS_TRAIN for d in GEN_TRAIN),
    "gen_to_cls": tuple((d, t) for t in GEN_TRAIN for d in CLS_TRAIN),
}

# The paper's Table 6 / Fig. 4 groups of (eval, train) pairs (docs/study.md §5).
LEARNED_IN_FT = (("mnli", "mnli"), ("mnli_mm", "mnli"), ("paws", "paws"), ("xsum", "xsum"), ("xlsum", "xsum"),
                 ("socialiqa", "socialiqa"), ("boolq", IT))
# sciq_mc is listed twice on purpose: the authors' list that produced Table 6 has (sciq, tulu) twice, so SciQ
# weighs double in their averages (docs/study.md §5, a defect kept so the paper's numbers come out). Pass
# your own `groups` to count it once.
LEARNED_IN_PT = (("sciq_mc", IT), ("hellaswag", IT), ("arc_challenge", IT), ("arc_easy", IT),
                 ("openbookqa", IT), ("sciq_mc", IT))
PAPER_GROUPS = {"learned in fine-tuning": LEARNED_IN_FT, "learned in pre-training": LEARNED_IN_PT}

# The authors' slope treats OLMo-1B's final checkpoint `main` (step 738020) as step 750,000 (docs/study.md §1,# §7.4); kept so their slopes come out. Only the slope's x uses it; tables show the real step.
PAPER_SLOPE_STEP = {738020: 750_000}

IMPROVES, FLAT = "base improves in pre-training", "base flat in pre-training"

# Cell statuses. An absent row is `not_in_spec`, `failed` or `missing` (in that order of precedence).
OK, ZERO_BASE, NOT_IN_SPEC, FAILED, MISSING = "ok", "zero_base", "not_in_spec", "failed", "missing"
ABSENT = (NOT_IN_SPEC, FAILED, MISSING)
PLAN = "amuro_plan"  # DataFrame.attrs key: the sweep's plan (amuro.report.runinfo.RunPlan), when known
DIAGNOSTIC_COLUMNS = ("n", "predictions", "empty_generations", "examples")  # kept per row by `analysed`


def primary_metric(eval_set: str) -> str:
    return SETS[eval_set].metrics[0]


def read_metric(df: pd.DataFrame) -> pd.Series:
    """Per row, whether it holds the metric its (eval, format) is read at: catwalk's metric for the set where the
    table holds it (a paper-profile run of the instruction-tuning sets), else the registry's first."""
    catwalk = df["eval"].map(lambda d: SETS[d].catwalk_metric or "")
    has_catwalk = (df["metric"] == catwalk) & (catwalk != "") & (df["metric"] != df["eval"].map(primary_metric))
    holds = has_catwalk.groupby([df["eval"], df["format"]]).transform("any")
    return df["metric"] == catwalk.where(holds, df["eval"].map(primary_metric))


def in_domain_pairs() -> tuple[tuple[str, str], ...]:
    """(eval, train) for every set and each training set it measures in-domain (registry `in_domain_for`)."""
    return tuple((d, t) for d, s in SETS.items() for t in s.in_domain_for)


def ood_pairs() -> tuple[tuple[str, str], ...]:
    return tuple((d, t) for d, s in SETS.items() for t in s.ood_for)


def cross_task_pairs() -> tuple[tuple[str, str], ...]:
    """Each SFT training set scored on the other training sets' own evaluation sets (Fig. 11/12)."""
    return tuple((d, t) for t in TRAINING_SETS for d in TRAINING_SETS if d != t)


# --- the rows the analysis reads -------------------------------------------------------------------------------

def _mode(values: pd.Series) -> int:
    counts = values.value_counts()
    return int(max(counts[counts == counts.max()].index))


def shots_by_set(df: pd.DataFrame, num_fewshot: int | None = None) -> dict[str, int]:
    """The shot count each evaluation set is analysed at."""
    df = validate(df)
    rows = df[read_metric(df)]
    if num_fewshot is not None:
        return {d: int(num_fewshot) for d in rows["eval"].unique()}
    return {d: _mode(g["num_fewshot"]) for d, g in rows.groupby("eval")}


ANALYSED = "amuro_analysed_at"  # DataFrame.attrs key: the num_fewshot an analysed table was reduced at
REPLICATES = "amuro_replicates"  # DataFrame.attrs key of an analysed table: its replicate rows (`replicate_rows`)
REPLICATE_KEY = ["step", "train", "eval", "format", "seed", "fewshot_seed"]


class Shared:
    """A value kept in `DataFrame.attrs` that pandas passes along by reference (it deep-copies attrs on every
    operation; a table of replicates copied each time would cost more than the analysis)."""

    def __init__(self, value):
        self.value = value

    def __deepcopy__(self, memo):
        return self


def study_units(df: pd.DataFrame) -> pd.Series:
    """The study each row belongs to: its `family` where the table names one, else its `model`. Analyses are done
    per study and never pool two (steps mean different things in different families). Fine-tuned rows that name a
    model of their own (a table from elsewhere: `sft/mnli-1000`) belong to the table's one BASE model; when the
    table has several, they must name their family."""
    df = validate(df)
    unit = df["family"].where(df["family"] != "", df["model"])
    studies = list(dict.fromkeys(unit[df["train"] == BASE]))
    stray = ~unit.isin(studies)
    if stray.any() and len(studies) == 1:
        unit = unit.where(~stray, studies[0])
    elif stray.any() and studies:
        i = int(stray.to_numpy().nonzero()[0][0])
        raise AmuroError(f"row {i}: fine-tuned model {df['model'].iloc[i]!r} is none of the table's BASE models "
                         f"({', '.join(studies)}); give the rows a `family` column naming the study they belong to")
    return unit


def replicate_rows(df: pd.DataFrame, num_fewshot: int | None = None) -> pd.DataFrame:
    """One row per (step, train, eval, format, seed, fewshot_seed) of one study, at each set's primary metric and
    shot count: the runs that make up a cell (a fine-tuning seed x a draw of demonstrations; one run where the
    table has no seed axis). A key held twice (a rerun appended to the table) is an error that names it."""
    df = validate(df)
    units = study_units(df).unique()
    if len(units) > 1:
        raise AmuroError(f"the table holds {len(units)} models ({', '.join(units)}); analyse one at a time, never "
                         "pooled (amuro.report.build.by_study)")
    if df.loc[df["train"] != BASE, "method"].nunique() > 1:
        raise AmuroError("the table holds full and LoRA fine-tuning; analyse one method at a time (its fine-tuned "
                         "rows with every BASE row: amuro.report.build.by_method)")
    key = ["step", "train", "method", "eval", "format", "num_fewshot", "metric", "seed", "fewshot_seed"]
    twice = df[df.duplicated(key, keep=False)]
    if len(twice):
        r = twice.iloc[0]
        shown = ", ".join(f"{k} {r[k] if r[k] != '' else '-'}" for k in key)
        n = int((df[key] == r[key]).all(axis=1).sum())
        raise AmuroError(f"model {units[0]!r}: {n} rows share one key ({shown}; "
                         f"revision {r['revision']!r}): a result is in the table twice; keep one row per key")
    shots = shots_by_set(df, num_fewshot)
    keep = read_metric(df) & (df["num_fewshot"] == df["eval"].map(shots))
    rows = df[keep]
    if rows.empty:
        raise AmuroError(f"no rows at the primary metric and shot count of any set (num_fewshot={num_fewshot})")
    return rows[[*REPLICATE_KEY, "value", "stderr", "num_fewshot", "metric",
                 *(c for c in DIAGNOSTIC_COLUMNS if c in rows.columns)]].reset_index(drop=True)


def analysed(df: pd.DataFrame, num_fewshot: int | None = None) -> pd.DataFrame:
    """One row per (step, train, eval, format) of one study: primary metric, the set's shot count; its value and
    stderr the mean over the cell's runs (`replicate_rows`; `n_rows` of them), which stay in `attrs` for the
    resampling (`runs_of`). An analysed table is returned as it is."""
    if ANALYSED in df.attrs and df.attrs[ANALYSED] == num_fewshot:
        return df
    rows = replicate_rows(df, num_fewshot)
    keep = {c: (c, "first") for c in DIAGNOSTIC_COLUMNS if c in rows.columns}
    out = rows.groupby(["step", "train", "eval", "format"], as_index=False).agg(
        value=("value", "mean"), stderr=("stderr", "mean"), num_fewshot=("num_fewshot", "first"),
        n_rows=("value", "size"), **keep)
    metric = rows.groupby(["step", "train", "eval", "format"])["metric"].first()
    out["metric"] = [metric[k] for k in zip(out["step"], out["train"], out["eval"], out["format"])]
    out.attrs[ANALYSED] = num_fewshot
    out.attrs[PLAN] = df.attrs.get(PLAN)
    out.attrs[REPLICATES] = Shared(rows)
    return out


def runs_of(a: pd.DataFrame, c: pd.DataFrame, column: str, own: str | None = None) -> pd.DataFrame:
    """The runs of each row of `c` (a cells table of the analysed `a`: step, eval, train, format), one row per run:
    cell (the row's position in `c`), seed, fewshot_seed and the run's value of `column`: `finetuned` (each seed x
    draw of demonstrations), `base` (each draw), `change` or `ratio` (each fine-tuned run against the BASE run with
    the same demonstrations, or the BASE mean where that draw has no BASE run). A cell without such runs gives its
    own value (its column `own`, by default `column`), as one run."""
    shared = a.attrs[REPLICATES]
    if not hasattr(shared, "index"):  # built once per analysed table
        r = shared.value
        shared.index = ({k: dict(zip(g["fewshot_seed"], g["value"])) for k, g in
                         r[r["train"] == BASE].groupby(["step", "eval", "format"])},
                        {k: list(zip(g["seed"], g["fewshot_seed"], g["value"])) for k, g in
                         r[r["train"] != BASE].groupby(["step", "train", "eval", "format"])})
    base, ft = shared.index
    out = []
    rows = c[["step", "eval", "train", "format", own or column]].itertuples(index=False, name=None)
    for i, (step, d, t, fmt, value) in enumerate(rows):
        b = base.get((step, d, fmt), {})
        if column == "base":
            runs = [("", f, v) for f, v in b.items()]
        else:
            mean = float(np.mean(list(b.values()))) if b else math.nan
            runs = [(s, f, v, b.get(f, mean)) for s, f, v in ft.get((step, t, d, fmt), [])]
            runs = [(s, f, v if column == "finetuned" else v - w if column == "change" else (v - w) / w if w else
                     math.nan) for s, f, v, w in runs]
        runs = [x for x in runs if not math.isnan(x[2])] or [("", "", value)]
        out += [(i, *x) for x in runs]
    return pd.DataFrame(out, columns=["cell", "seed", "fewshot_seed", "value"])


def per_cell(runs: pd.DataFrame) -> list[np.ndarray]:
    """`runs_of`'s values as one array per cell, in cell order (what `amuro.report.stats.hierarchical_ci` takes)."""
    return [g.to_numpy(float) for _, g in runs.groupby("cell", sort=True)["value"]]


def input_summary(df: pd.DataFrame, num_fewshot: int | None = None) -> dict:
    """What was read and what was left out: for the report's first lines."""
    df = validate(df)
    a = analysed(df, num_fewshot)
    r = a.attrs[REPLICATES].value
    shots = shots_by_set(df, num_fewshot)
    return {
        "rows": int(len(df)), "rows_used": int(a["n_rows"].sum()), "rows_ignored": int(len(df) - a["n_rows"].sum()),
        "steps": sorted(int(s) for s in a["step"].unique()),
        "trains": sorted(a["train"].unique()), "evals": [d for d in SETS if d in set(a["eval"])],
        "formats": sorted(a["format"].unique()), "num_fewshot": {d: shots[d] for d in SETS if d in shots},
        "seeds": sorted((s for s in r["seed"].unique() if s != ""), key=int),
        "fewshot_seeds": sorted((s for s in r["fewshot_seed"].unique() if s != ""), key=int),
        "runs_per_cell": int(a["n_rows"].max()),
    }


# --- cells -----------------------------------------------------------------------------------------------------

def in_format(a: pd.DataFrame, fmt: str = "default") -> pd.DataFrame:
    """The rows read in `fmt`. In the default format, a set that was scored with lm-eval's harness prompt (the six
    instruction-tuning sets, as the paper read them through OLMo-Eval) is read in that format instead."""
    if fmt != "default":
        return a[a["format"] == fmt]
    harness_sets = set(a.loc[a["format"] == HARNESS, "eval"])
    return a[((a["format"] == fmt) & ~a["eval"].isin(harness_sets)) | (a["format"] == HARNESS)]


def cells(df: pd.DataFrame, pairs, fmt: str = "default", num_fewshot: int | None = None) -> pd.DataFrame:
    """Every expected cell of `pairs` (eval, train) at every step of the table, in one format (`in_format`). A
    pair listed twice gives its cells twice (the paper's double-counted SciQ)."""
    a = analysed(df, num_fewshot)
    for d, t in pairs:
        if d not in SETS or t == BASE:
            raise AmuroError(f"bad (eval, train) pair ({d!r}, {t!r}); eval must be a task set, train a training set")
    steps = sorted(a["step"].unique())
    rows = in_format(a, fmt)
    read_in = dict(zip(rows["eval"], rows["format"]))  # the format each set is read in
    base = rows[rows["train"] == BASE].set_index(["step", "eval"])["value"].to_dict()
    ft = rows[rows["train"] != BASE].set_index(["step", "train", "eval"])["value"].to_dict()
    plan = a.attrs.get(PLAN)
    out = []
    for step in steps:
        for d, t in pairs:
            f_d = read_in.get(d, fmt)
            b, f = base.get((step, d)), ft.get((step, t, d))
            if b is None or f is None:
                absent = [BASE] * (b is None) + [t] * (f is None)
                status = MISSING if plan is None else min((plan.absent(int(step), x, d, f_d) for x in absent),
                                                          key=ABSENT.index)
            else:
                status = ZERO_BASE if b == 0 else OK
            change = f - b if status not in ABSENT else math.nan
            out.append({"step": int(step), "eval": d, "train": t, "format": f_d,
                        "base": math.nan if b is None else b, "finetuned": math.nan if f is None else f,
                        "change": change, "ratio": change / b if status == OK else math.nan, "status": status})
    return pd.DataFrame(out, columns=["step", "eval", "train", "format", "base", "finetuned", "change", "ratio",
                                      "status"])


def present(c: pd.DataFrame) -> pd.DataFrame:
    """The cells that have both rows (ok or zero_base)."""
    return c[~c["status"].isin(ABSENT)]


def status_counts(c: pd.DataFrame) -> dict:
    """Skipped cells by reason: n_missing, n_not_in_spec, n_failed, n_zero_base."""
    return {f"n_{s}": int((c["status"] == s).sum()) for s in (MISSING, NOT_IN_SPEC, FAILED, ZERO_BASE)}
