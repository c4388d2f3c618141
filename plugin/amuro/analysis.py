"""The study's quantities, each a function of a results table (the `amuro.results` schema).

A *cell* is one (checkpoint step, training set t, evaluation set d, format): the fine-tuned model's score next to
the BASE model's score at the same step on the same set, format and shot count (REFERENCE_STUDY §7.2):

    change = Perf_t(d) - Perf_BASE(d)          ratio = change / Perf_BASE(d)

A cell whose fine-tuned or BASE row is absent is `missing`; one whose BASE score is 0 is `zero_base` (its ratio is
undefined). Both are skipped by the averages that need them and counted, never filled. Each evaluation set is read
at its primary metric (the registry's first: `acc`, or `rougeL` for generation) and at one shot count: the count
most of its rows use (ties: the larger), unless `num_fewshot` is given. The authors compared 4-shot BASE with
4-shot fine-tuned runs (REFERENCE_STUDY §3.2, §7.1).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from amuro.errors import AmuroError
from amuro.registry import SETS, TRAINING_SETS
from amuro.results import BASE, validate

CLS_FAMILIES = ("nli", "paraphrase")
GEN_FAMILIES = ("summarization", "question_generation")
CLS_TRAIN = tuple(t for t in TRAINING_SETS if SETS[t].family in CLS_FAMILIES)  # mnli, paws
GEN_TRAIN = tuple(t for t in TRAINING_SETS if SETS[t].family in GEN_FAMILIES)  # xsum, socialiqa

# Cross-task MRC (REFERENCE_STUDY §7.3): models trained on one kind of task, scored on the in-domain evaluation set
# of each training set of the other kind, i.e. the set named like that training set (xsum, socialiqa, mnli, paws;
# not xlsum or mnli_mm, which the authors never scored for these models). Pairs are (eval, train).
MRC_PAIRS = {
    "cls_to_gen": tuple((d, t) for t in CLS_TRAIN for d in GEN_TRAIN),
    "gen_to_cls": tuple((d, t) for t in GEN_TRAIN for d in CLS_TRAIN),
}

# The paper's Table 6 / Fig. 4 groups of (eval, train) pairs (REFERENCE_STUDY §7.4).
LEARNED_IN_FT = (("mnli", "mnli"), ("mnli_mm", "mnli"), ("paws", "paws"), ("xsum", "xsum"), ("xlsum", "xsum"),
                 ("socialiqa", "socialiqa"), ("boolq", "tulu"))
# sciq_mc is listed twice on purpose: the authors' list that produced Table 6 has (sciq, tulu) twice, so SciQ
# weighs double in their averages (REFERENCE_STUDY §7.4, a defect kept so the paper's numbers come out). Pass
# your own `groups` to count it once.
LEARNED_IN_PT = (("sciq_mc", "tulu"), ("hellaswag", "tulu"), ("arc_challenge", "tulu"), ("arc_easy", "tulu"),
                 ("openbookqa", "tulu"), ("sciq_mc", "tulu"))
PAPER_GROUPS = {"learned in fine-tuning": LEARNED_IN_FT, "learned in pre-training": LEARNED_IN_PT}

# The authors' slope treats OLMo-1B's final checkpoint `main` (step 738020) as step 750,000 (REFERENCE_STUDY §6,
# §7.4); kept so their slopes come out. Only the slope's x uses it; tables show the real step.
PAPER_SLOPE_STEP = {738020: 750_000}

IMPROVES, FLAT = "base improves in pre-training", "base flat in pre-training"


def primary_metric(eval_set: str) -> str:
    return SETS[eval_set].metrics[0]


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
    rows = df[df["metric"] == df["eval"].map(primary_metric)]
    if num_fewshot is not None:
        return {d: int(num_fewshot) for d in rows["eval"].unique()}
    return {d: _mode(g["num_fewshot"]) for d, g in rows.groupby("eval")}


def analysed(df: pd.DataFrame, num_fewshot: int | None = None) -> pd.DataFrame:
    """One row per (step, train, eval, format): primary metric, the set's shot count. Duplicated rows (a rerun
    appended twice) are averaged and their count kept in `n_rows`."""
    df = validate(df)
    shots = shots_by_set(df, num_fewshot)
    keep = (df["metric"] == df["eval"].map(primary_metric)) & (df["num_fewshot"] == df["eval"].map(shots))
    rows = df[keep]
    if rows.empty:
        raise AmuroError(f"no rows at the primary metric and shot count of any set (num_fewshot={num_fewshot})")
    out = rows.groupby(["step", "train", "eval", "format"], as_index=False).agg(
        value=("value", "mean"), stderr=("stderr", "mean"), num_fewshot=("num_fewshot", "first"),
        n_rows=("value", "size"))
    out["metric"] = out["eval"].map(primary_metric)
    return out


def input_summary(df: pd.DataFrame, num_fewshot: int | None = None) -> dict:
    """What was read and what was left out: for the report's first lines."""
    df = validate(df)
    a = analysed(df, num_fewshot)
    shots = shots_by_set(df, num_fewshot)
    dup = a[a["n_rows"] > 1]
    return {
        "rows": int(len(df)), "rows_used": int(a["n_rows"].sum()), "rows_ignored": int(len(df) - a["n_rows"].sum()),
        "duplicated_keys": int(len(dup)), "steps": sorted(int(s) for s in a["step"].unique()),
        "trains": sorted(a["train"].unique()), "evals": [d for d in SETS if d in set(a["eval"])],
        "formats": sorted(a["format"].unique()), "num_fewshot": {d: shots[d] for d in SETS if d in shots},
    }


# --- cells -----------------------------------------------------------------------------------------------------

def cells(df: pd.DataFrame, pairs, fmt: str = "default", num_fewshot: int | None = None) -> pd.DataFrame:
    """Every expected cell of `pairs` (eval, train) at every step of the table, in one format. A pair listed twice
    gives its cells twice (the paper's double-counted SciQ)."""
    a = analysed(df, num_fewshot)
    for d, t in pairs:
        if d not in SETS or t == BASE:
            raise AmuroError(f"bad (eval, train) pair ({d!r}, {t!r}); eval must be a task set, train a training set")
    steps = sorted(a["step"].unique())
    base = a[a["train"] == BASE].set_index(["step", "eval", "format"])["value"].to_dict()
    ft = a[a["train"] != BASE].set_index(["step", "train", "eval", "format"])["value"].to_dict()
    rows = []
    for step in steps:
        for d, t in pairs:
            b, f = base.get((step, d, fmt)), ft.get((step, t, d, fmt))
            status = "missing" if b is None or f is None else "zero_base" if b == 0 else "ok"
            change = f - b if status != "missing" else math.nan
            rows.append({"step": int(step), "eval": d, "train": t, "format": fmt,
                         "base": math.nan if b is None else b, "finetuned": math.nan if f is None else f,
                         "change": change, "ratio": change / b if status == "ok" else math.nan, "status": status})
    return pd.DataFrame(rows, columns=["step", "eval", "train", "format", "base", "finetuned", "change", "ratio",
                                       "status"])


def changes(df: pd.DataFrame, num_fewshot: int | None = None) -> pd.DataFrame:
    """Every fine-tuned row that has its BASE row: all cells in the table, every format."""
    a = analysed(df, num_fewshot)
    base = a[a["train"] == BASE][["step", "eval", "format", "value"]].rename(columns={"value": "base"})
    ft = a[a["train"] != BASE][["step", "train", "eval", "format", "value"]].rename(columns={"value": "finetuned"})
    out = ft.merge(base, on=["step", "eval", "format"], how="inner")
    out["change"] = out["finetuned"] - out["base"]
    out["ratio"] = (out["change"] / out["base"]).where(out["base"] != 0)
    return out.sort_values(["train", "eval", "format", "step"]).reset_index(drop=True)


# --- statistics ------------------------------------------------------------------------------------------------

def bootstrap_ci(x, level: float = 0.95, n_resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean, resampling values with a seeded numpy Generator."""
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_resamples, len(x)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def t_test_p(x) -> float:
    """Two-sided one-sample t-test of mean 0 (the MRC is a mean, so a test of the mean); nan when n < 2 or the
    values are all equal."""
    from scipy.stats import ttest_1samp

    x = np.asarray(x, dtype=float)
    if len(x) < 2 or np.all(x == x[0]):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(ttest_1samp(x, 0.0).pvalue)


def mrc(df: pd.DataFrame, direction: str, num_fewshot: int | None = None, seed: int = 0,
        n_resamples: int = 10_000) -> dict:
    """Cross-task mean ratio of change, default format (REFERENCE_STUDY §7.3): the flat mean of the per-cell ratios
    over every (checkpoint, pair) cell, as the authors' printed means (-61.4% cls_to_gen, +0.3% gen_to_cls).
    Also the median, the ratio of means (sum of changes / sum of BASE scores over the same cells), a seeded
    bootstrap 95% CI of the mean, a t-test against 0 (cells of one checkpoint are not independent: read the p-value
    as indicative), n and the skipped cells."""
    if direction not in MRC_PAIRS:
        raise AmuroError(f"unknown MRC direction {direction!r}; known: {', '.join(MRC_PAIRS)}")
    c = cells(df, MRC_PAIRS[direction], "default", num_fewshot)
    ok = c[c["status"] == "ok"]
    r = ok["ratio"].to_numpy()
    lo, hi = bootstrap_ci(r, 0.95, n_resamples, seed)
    return {
        "mean": float(r.mean()) if len(r) else math.nan,
        "median": float(np.median(r)) if len(r) else math.nan,
        "ratio_of_means": float(ok["change"].sum() / ok["base"].sum()) if len(r) else math.nan,
        "ci_low": lo, "ci_high": hi, "p_value": t_test_p(r), "n": int(len(r)),
        "n_missing": int((c["status"] == "missing").sum()), "n_zero_base": int((c["status"] == "zero_base").sum()),
        "pairs": [list(p) for p in MRC_PAIRS[direction]],
    }


def mrc_by_step(df: pd.DataFrame, num_fewshot: int | None = None) -> pd.DataFrame:
    """The paper's per-checkpoint MRC^i_t formula, both directions: mean ratio over the step's cells."""
    rows = []
    for direction, pairs in MRC_PAIRS.items():
        c = cells(df, pairs, "default", num_fewshot)
        for step, s in c.groupby("step"):
            ok = s[s["status"] == "ok"]
            rows.append({"direction": direction, "step": int(step),
                         "mrc": ok["ratio"].mean() if len(ok) else math.nan, "n": int(len(ok)),
                         "n_missing": int((s["status"] == "missing").sum()),
                         "n_zero_base": int((s["status"] == "zero_base").sum())})
    return pd.DataFrame(rows)


def ft_gain(df: pd.DataFrame, groups: dict | None = None, num_fewshot: int | None = None, fmt: str = "default",
            seed: int = 0) -> pd.DataFrame:
    """Fine-tuning gain by checkpoint (Table 6 / Fig. 4, REFERENCE_STUDY §7.4), per group and step:
    avg_raw_change = mean change over the group's present pairs; avg_ratio = mean ratio over those with a non-zero
    BASE (a fraction); n_pairs; slope_per_100k = (avg_i - avg_{i-1}) / (step_i - step_{i-1}) * 1e5 between the
    group's consecutive steps, 0 on its first step (the authors' convention), with PAPER_SLOPE_STEP applied to x.
    ci_low/ci_high: seeded bootstrap 95% CI of avg_raw_change over the pairs."""
    groups = PAPER_GROUPS if groups is None else groups
    rows = []
    for group, pairs in groups.items():
        c = cells(df, pairs, fmt, num_fewshot)
        prev = None
        for step, s in c.groupby("step"):
            have = s[s["status"] != "missing"]
            if have.empty:
                continue
            avg = float(have["change"].mean())
            x = PAPER_SLOPE_STEP.get(int(step), int(step))
            slope = 0.0 if prev is None else (avg - prev[1]) / (x - prev[0]) * 1e5
            prev = (x, avg)
            ratios = s.loc[s["status"] == "ok", "ratio"]
            lo, hi = bootstrap_ci(have["change"], 0.95, seed=seed)
            rows.append({"step": int(step), "group": group, "avg_raw_change": avg,
                         "avg_ratio": float(ratios.mean()) if len(ratios) else math.nan, "n_pairs": int(len(have)),
                         "slope_per_100k": float(slope), "ci_low": lo, "ci_high": hi,
                         "n_missing": int((s["status"] == "missing").sum()),
                         "n_zero_base": int((s["status"] == "zero_base").sum())})
    return pd.DataFrame(rows, columns=["step", "group", "avg_raw_change", "avg_ratio", "n_pairs", "slope_per_100k",
                                       "ci_low", "ci_high", "n_missing", "n_zero_base"])


def pt_improvement(df: pd.DataFrame, num_fewshot: int | None = None, fmt: str = "default",
                   min_share: float = 0.10, z: float = 2.0) -> pd.DataFrame:
    """Which sets the BASE model learns during pre-training (the Fig. 2 dichotomy), from the data.

    gain = mean BASE score over the later checkpoints - BASE score at the set's first checkpoint. A set *improves*
    when the gain closes at least `min_share` of the headroom (1 - first score; scores are fractions, so this
    compares accuracy and Rouge-L on one scale) and, where stderr is known, exceeds `z` standard errors. On the
    authors' numbers this gives the paper's grouping (hellaswag, arc_*, openbookqa, sciq improve; mnli, paws,
    xsum, socialiqa, boolq do not)."""
    a = analysed(df, num_fewshot)
    base = a[(a["train"] == BASE) & (a["format"] == fmt)]
    paper = {d: g for g, pairs in PAPER_GROUPS.items() for d, _ in pairs}
    rows = []
    for d in [d for d in SETS if d in set(base["eval"])]:
        s = base[base["eval"] == d].sort_values("step")
        if len(s) < 2:
            continue
        first, later = s.iloc[0], s.iloc[1:]
        gain = float(later["value"].mean() - first["value"])
        headroom = 1.0 - float(first["value"])
        share = gain / headroom if headroom > 0 else math.nan
        se = (math.sqrt(first["stderr"] ** 2 + (later["stderr"] ** 2).sum() / len(later) ** 2)
              if s["stderr"].notna().all() else math.nan)
        improves = bool(share >= min_share and (math.isnan(se) or gain > z * se))
        rows.append({"eval": d, "family": SETS[d].family, "metric": primary_metric(d), "first_step": int(first["step"]),
                     "first": float(first["value"]), "later_mean": float(later["value"].mean()), "gain": gain,
                     "headroom_share": share, "gain_stderr": se, "group": IMPROVES if improves else FLAT,
                     "paper_group": paper.get(d, "")})
    return pd.DataFrame(rows, columns=["eval", "family", "metric", "first_step", "first", "later_mean", "gain",
                                       "headroom_share", "gain_stderr", "group", "paper_group"])


def auto_groups(df: pd.DataFrame, num_fewshot: int | None = None) -> dict:
    """In-domain (eval, train) pairs of the training sets in the table, grouped by `pt_improvement`."""
    pt = pt_improvement(df, num_fewshot).set_index("eval")["group"]
    trains = set(analysed(df, num_fewshot)["train"])
    groups = {FLAT: [], IMPROVES: []}  # the order of PAPER_GROUPS: learned in fine-tuning, then in pre-training
    for d, t in in_domain_pairs():
        if t in trains and d in pt.index:
            groups[pt[d]].append((d, t))
    return {g: tuple(p) for g, p in groups.items() if p}


def ood_transfer(df: pd.DataFrame, by: str = "family", num_fewshot: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Out-of-domain transfer (Fig. 7/10): the registry's OOD pairs, default format, averaged over all
    (set, checkpoint) cells of each family (or each set, by="eval"): mean change (what Fig. 7 plots), mean ratio,
    bootstrap 95% CIs of both."""
    c = cells(df, ood_pairs(), "default", num_fewshot)
    c["family"] = c["eval"].map(lambda d: SETS[d].family)
    rows = []
    for key, s in c.groupby(by, sort=False):
        have, ok = s[s["status"] != "missing"], s[s["status"] == "ok"]
        lo, hi = bootstrap_ci(have["change"], seed=seed)
        rlo, rhi = bootstrap_ci(ok["ratio"], seed=seed)
        named = have if len(have) else s  # the sets that have data
        rows.append({by: key, "sets": " ".join(dict.fromkeys(named["eval"])),
                     "train": " ".join(dict.fromkeys(named["train"])),
                     "mean_change": have["change"].mean() if len(have) else math.nan, "change_ci_low": lo,
                     "change_ci_high": hi, "mean_ratio": ok["ratio"].mean() if len(ok) else math.nan,
                     "ratio_ci_low": rlo, "ratio_ci_high": rhi, "n": int(len(have)),
                     "n_missing": int((s["status"] == "missing").sum()),
                     "n_zero_base": int((s["status"] == "zero_base").sum())})
    return pd.DataFrame(rows)


def format_sensitivity(df: pd.DataFrame, num_fewshot: int | None = None) -> pd.DataFrame:
    """Fig. 5: for each in-domain pair scored in more than one format, BASE and fine-tuned scores in each format per
    step, and spread = max - min over the formats present."""
    from amuro.registry import FORMATS

    a = analysed(df, num_fewshot)
    rows = []
    for d, t in in_domain_pairs():
        if a.loc[a["eval"] == d, "format"].nunique() < 2:
            continue
        for model, train in (("base", BASE), ("fine-tuned", t)):
            s = a[(a["eval"] == d) & (a["train"] == train)]
            for step, g in s.groupby("step"):
                v = g.set_index("format")["value"]
                row = {"step": int(step), "eval": d, "train": t, "model": model}
                row.update({f: float(v[f]) if f in v else math.nan for f in FORMATS})
                row["n_formats"] = int(len(v))
                row["spread"] = float(v.max() - v.min()) if len(v) >= 2 else math.nan
                rows.append(row)
    return pd.DataFrame(rows, columns=["step", "eval", "train", "model", *FORMATS, "n_formats", "spread"])


def format_spread_by_step(fs: pd.DataFrame) -> pd.DataFrame:
    """Mean spread over the sets, per step, BASE vs fine-tuned (from `format_sensitivity`)."""
    return (fs.dropna(subset=["spread"]).groupby(["step", "model"], as_index=False)
            .agg(mean_spread=("spread", "mean"), n_sets=("spread", "size")))


def base_curves(df: pd.DataFrame, fmt: str = "default", num_fewshot: int | None = None) -> pd.DataFrame:
    """Fig. 2: BASE score per set and step."""
    a = analysed(df, num_fewshot)
    out = a[(a["train"] == BASE) & (a["format"] == fmt)][["eval", "step", "value", "stderr", "metric"]]
    return out.sort_values(["eval", "step"]).reset_index(drop=True)


def summary(df: pd.DataFrame, groups: dict | None = None, num_fewshot: int | None = None, seed: int = 0) -> dict:
    """Everything `summary.json` holds, NaN as None. Ratios are fractions (-0.614 for -61.4%)."""
    gain = ft_gain(df, groups, num_fewshot, seed=seed)
    keys = ["step", "group", "avg_raw_change", "avg_ratio", "n_pairs", "slope_per_100k", "n_missing", "n_zero_base"]
    auto = auto_groups(df, num_fewshot)
    fs = format_sensitivity(df, num_fewshot)
    out = {
        "mrc": {d: mrc(df, d, num_fewshot, seed) for d in MRC_PAIRS},
        "ft_gain": gain[keys].to_dict("records"),
        "ft_gain_groups": {g: [list(p) for p in pairs]
                           for g, pairs in (PAPER_GROUPS if groups is None else groups).items()},
        "ft_gain_auto": ft_gain(df, auto, num_fewshot, seed=seed)[keys].to_dict("records") if auto else [],
        "pt_groups": pt_improvement(df, num_fewshot)[["eval", "group", "paper_group", "gain", "headroom_share"]]
        .to_dict("records"),
        "ood_transfer": ood_transfer(df, "family", num_fewshot, seed).to_dict("records"),
        "format_spread": format_spread_by_step(fs).to_dict("records"),
        "input": input_summary(df, num_fewshot),
    }
    return _jsonable(out)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if math.isnan(x) or math.isinf(x) else float(x)
    if x is pd.NA:
        return None
    return x
