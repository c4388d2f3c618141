"""The study's quantities, each a function of a results table (the `amuro.study.results` schema): cross-task MRC,
fine-tuning gain by checkpoint, what the BASE model learns in pre-training, out-of-domain transfer and format
sensitivity. Cells, the rows they rest on and the (eval, train) pairs are in `amuro.report.cells`, re-exported here.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from amuro.errors import AmuroError
from amuro.report.cells import (  # noqa: F401  (re-exported: the analysis API in one namespace)
    ABSENT, CLS_TRAIN, FLAT, GEN_TRAIN, IMPROVES, LEARNED_IN_FT, LEARNED_IN_PT, MRC_PAIRS, PAPER_GROUPS,
    PAPER_SLOPE_STEP, OK, analysed, cells, cross_task_pairs, in_domain_pairs, in_format, input_summary,
    ood_pairs, per_cell, present, primary_metric, runs_of, shots_by_set, status_counts)
from amuro.report.stats import hierarchical_ci, t_test_p
from amuro.study.results import BASE
from amuro.tasks.registry import SETS


def mrc(df: pd.DataFrame, direction: str, num_fewshot: int | None = None, seed: int = 0,
        n_resamples: int = 10_000) -> dict:
    """Cross-task mean ratio of change, default format (docs/study.md §5): the flat mean of the per-cell ratios
    over every (checkpoint, pair) cell, as the authors' printed means (-61.4% cls_to_gen, +0.3% gen_to_cls).
    Also the median, the ratio of means (sum of changes / sum of BASE scores over the same cells), a seeded
    bootstrap 95% CI of the mean (over cells, then the runs within each: `amuro.report.stats`), a t-test against 0 (cells of one checkpoint are not independent: read the p-value
    as indicative), n and the skipped cells."""
    if direction not in MRC_PAIRS:
        raise AmuroError(f"unknown MRC direction {direction!r}; known: {', '.join(MRC_PAIRS)}")
    a = analysed(df, num_fewshot)
    c = cells(a, MRC_PAIRS[direction], "default", num_fewshot)
    ok = c[c["status"] == OK]
    r = ok["ratio"].to_numpy()
    lo, hi = ci(a, ok, "ratio", n_resamples, seed)
    return {
        "mean": float(r.mean()) if len(r) else math.nan,
        "median": float(np.median(r)) if len(r) else math.nan,
        "ratio_of_means": float(ok["change"].sum() / ok["base"].sum()) if len(r) else math.nan,
        "ci_low": lo, "ci_high": hi, "p_value": t_test_p(r), "n": int(len(r)), **status_counts(c),
        "pairs": [list(p) for p in MRC_PAIRS[direction]],
    }


def ci(a: pd.DataFrame, c: pd.DataFrame, column: str, n_resamples: int = 10_000, seed: int = 0):
    """95% CI of the mean of `column` over the cells `c`: cells resampled, then the runs within each."""
    return hierarchical_ci(per_cell(runs_of(a, c, column)) if len(c) else [], 0.95, n_resamples, seed)


def mrc_by_step(df: pd.DataFrame, num_fewshot: int | None = None) -> pd.DataFrame:
    """The paper's per-checkpoint MRC^i_t formula, both directions: mean ratio over the step's cells."""
    rows = []
    for direction, pairs in MRC_PAIRS.items():
        c = cells(df, pairs, "default", num_fewshot)
        for step, s in c.groupby("step"):
            ok = s[s["status"] == OK]
            rows.append({"direction": direction, "step": int(step),
                         "mrc": ok["ratio"].mean() if len(ok) else math.nan, "n": int(len(ok)), **status_counts(s)})
    return pd.DataFrame(rows)


def ft_gain(df: pd.DataFrame, groups: dict | None = None, num_fewshot: int | None = None, fmt: str = "default",
            seed: int = 0) -> pd.DataFrame:
    """Fine-tuning gain by checkpoint (Table 6 / Fig. 4, docs/study.md §5), per group and step:
    avg_raw_change = mean change over the group's present pairs; avg_ratio = mean ratio over those with a non-zero
    BASE (a fraction); n_pairs; slope_per_100k = (avg_i - avg_{i-1}) / (step_i - step_{i-1}) * 1e5 between the
    group's consecutive steps, 0 on its first step (the authors' convention), with PAPER_SLOPE_STEP applied to x.
    ci_low/ci_high: seeded bootstrap 95% CI of avg_raw_change over the pairs (and the runs of each cell)."""
    groups = PAPER_GROUPS if groups is None else groups
    a = analysed(df, num_fewshot)
    rows = []
    for group, pairs in groups.items():
        c = cells(a, pairs, fmt, num_fewshot)
        prev = None
        for step, s in c.groupby("step"):
            have = present(s)
            if have.empty:
                continue
            avg = float(have["change"].mean())
            x = PAPER_SLOPE_STEP.get(int(step), int(step))
            slope = 0.0 if prev is None else (avg - prev[1]) / (x - prev[0]) * 1e5
            prev = (x, avg)
            ratios = s.loc[s["status"] == OK, "ratio"]
            lo, hi = ci(a, have, "change", seed=seed)
            rlo, rhi = ci(a, s[s["status"] == OK], "ratio", seed=seed)
            rows.append({"step": int(step), "group": group, "avg_raw_change": avg,
                         "avg_ratio": float(ratios.mean()) if len(ratios) else math.nan, "n_pairs": int(len(have)),
                         "slope_per_100k": float(slope), "ci_low": lo, "ci_high": hi, "ratio_ci_low": rlo,
                         "ratio_ci_high": rhi, **status_counts(s)})
    return pd.DataFrame(rows, columns=["step", "group", "avg_raw_change", "avg_ratio", "n_pairs", "slope_per_100k",
                                       "ci_low", "ci_high", "ratio_ci_low", "ratio_ci_high", "n_missing",
                                       "n_not_in_spec", "n_failed", "n_zero_base"])


def pt_improvement(df: pd.DataFrame, num_fewshot: int | None = None, fmt: str = "default",
                   min_share: float = 0.10, z: float = 2.0) -> pd.DataFrame:
    """Which sets the BASE model learns during pre-training (the Fig. 2 dichotomy), from the data.

    gain = mean BASE score over the later checkpoints - BASE score at the set's first checkpoint. A set *improves*
    when the gain closes at least `min_share` of the headroom (1 - first score; scores are fractions, so this
    compares accuracy and Rouge-L on one scale) and, where stderr is known, exceeds `z` standard errors. On the
    authors' numbers this gives the paper's grouping (hellaswag, arc_*, openbookqa, sciq improve; mnli, paws,
    xsum, socialiqa, boolq do not)."""
    a = in_format(analysed(df, num_fewshot), fmt)
    base = a[a["train"] == BASE]
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
        rows.append({"eval": d, "family": SETS[d].family, "metric": s["metric"].iloc[0], "first_step": int(first["step"]),
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
    a = analysed(df, num_fewshot)
    c = cells(a, ood_pairs(), "default", num_fewshot)
    c["family"] = c["eval"].map(lambda d: SETS[d].family)
    rows = []
    for key, s in c.groupby(by, sort=False):
        have, ok = present(s), s[s["status"] == OK]
        lo, hi = ci(a, have, "change", seed=seed)
        rlo, rhi = ci(a, ok, "ratio", seed=seed)
        named = have if len(have) else s  # the sets that have data
        rows.append({by: key, "sets": " ".join(dict.fromkeys(named["eval"])),
                     "train": " ".join(dict.fromkeys(named["train"])),
                     "mean_change": have["change"].mean() if len(have) else math.nan, "change_ci_low": lo,
                     "change_ci_high": hi, "mean_ratio": ok["ratio"].mean() if len(ok) else math.nan,
                     "ratio_ci_low": rlo, "ratio_ci_high": rhi, "n": int(len(have)), **status_counts(s)})
    return pd.DataFrame(rows)


def format_sensitivity(df: pd.DataFrame, num_fewshot: int | None = None) -> pd.DataFrame:
    """Fig. 5: for each in-domain pair scored in more than one format, BASE and fine-tuned scores in each format per
    step, and spread = max - min over the formats present (the harness format counts where a set has it)."""
    from amuro.tasks.registry import ALL_FORMATS as FORMATS

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
    a = in_format(analysed(df, num_fewshot), fmt)
    out = a[a["train"] == BASE][["eval", "step", "value", "stderr", "metric"]]
    return out.sort_values(["eval", "step"]).reset_index(drop=True)


def changes(df: pd.DataFrame, num_fewshot: int | None = None) -> pd.DataFrame:
    """Every fine-tuned row that has its BASE row: all cells in the table, every format."""
    a = analysed(df, num_fewshot)
    base = a[a["train"] == BASE][["step", "eval", "format", "value"]].rename(columns={"value": "base"})
    ft = a[a["train"] != BASE][["step", "train", "eval", "format", "value"]].rename(columns={"value": "finetuned"})
    out = ft.merge(base, on=["step", "eval", "format"], how="inner")
    out["change"] = out["finetuned"] - out["base"]
    out["ratio"] = (out["change"] / out["base"]).where(out["base"] != 0)
    return out.sort_values(["train", "eval", "format", "step"]).reset_index(drop=True)
