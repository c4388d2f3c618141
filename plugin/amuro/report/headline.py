"""The study's headline findings, each a mean over cells, with the runs behind each cell: what `--compare`
(`amuro.report.compare`), the replication table (`amuro.report.replication`) and the report's section on seeds
read.

| finding | cells | value |
|---|---|---|
| cross-task MRC, each way | the MRC pairs, default format | ratio (fine-tuned - BASE) / BASE |
| fine-tuning gain, each Table 6 group | the group's pairs | raw change; also at the last checkpoint |
| out-of-domain transfer, each family | the registry's OOD pairs, default format | raw change |
| format spread, BASE and fine-tuned | in-domain sets scored in several formats | max - min over the formats |

A finding's CI resamples its cells, then the runs within each cell (fine-tuning seeds x draws of demonstrations:
`amuro.report.stats.hierarchical_ci`); its variance split says how much of one run's spread is checkpoint and pair
(between cells), seed, demonstrations, or their residual (`amuro.report.stats.variance_split`). The format spread is
read from each cell's mean score: its cells have one run each.

summary.json's `findings` (and tables/findings.csv): one record per finding: finding, what, value, ci_low, ci_high,
n_cells, runs_per_cell (the most runs of a cell), share_cells, share_seed, share_fewshot_seed, share_residual (null
where nothing varies).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from amuro.report import analysis as A
from amuro.report.stats import hierarchical_ci, hierarchical_means, percentile_ci, variance_split

KEYS = ["step", "eval", "train", "format", "copy"]
COLUMNS = ["finding", "what", "value", "ci_low", "ci_high", "n_cells", "runs_per_cell", "share_cells", "share_seed",
           "share_fewshot_seed", "share_residual"]


def findings(t) -> list[tuple[str, str]]:
    """(finding, what its value is) for every headline finding the tables hold."""
    out = [(f"MRC: {d}", "mean ratio of change") for d in A.MRC_PAIRS]
    for g in t.groups:
        out += [(f"gain: {g}", "mean raw change"), (f"gain at the last checkpoint: {g}", "mean raw change")]
    out += [(f"OOD transfer: {f}", "mean raw change") for f in dict.fromkeys(t["ood_by_family"].get("family", []))]
    out += [(f"format spread: {m}", "mean max - min over formats") for m in ("base", "fine-tuned")]
    return out


def cells(t, finding: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One finding's cells in one study's tables (KEYS and value, the cell's mean) and their runs
    (`amuro.report.cells.runs_of`: cell, seed, fewshot_seed, value; `cell` numbers the rows of the first)."""
    kind, _, name = finding.partition(": ")
    column = "change"
    if kind == "MRC":
        c = t["mrc_cells"]
        c = c[(c["direction"] == name) & (c["status"] == A.OK)].assign(value=lambda x: x["ratio"])
        column = "ratio"
    elif kind in ("gain", "gain at the last checkpoint"):
        c = A.present(t["ft_gain_cells"])
        c = c[c["group"] == name].assign(value=lambda x: x["change"])
        if kind != "gain":
            c = c[c["step"] == c["step"].max()] if len(c) else c
    elif kind == "OOD transfer":
        c = A.present(t["ood_cells"]).assign(family=lambda x: x["eval"].map(lambda d: A.SETS[d].family))
        c = c[c["family"] == name].assign(value=lambda x: x["change"])
    else:  # format spread: base | fine-tuned
        fs = t["format_sensitivity"].dropna(subset=["spread"])
        c = fs[fs["model"] == name].assign(value=lambda x: x["spread"], format="all")
        c = c.assign(train=np.where(c["model"] == "base", "base", c["train"]))
        column = None
    c = c.reset_index(drop=True)
    c["copy"] = c.groupby(["step", "eval", "train", "format"]).cumcount()  # SciQ counted twice stays twice
    if column is None or c.empty:
        runs = pd.DataFrame({"cell": range(len(c)), "seed": "", "fewshot_seed": "", "value": c["value"]})
    else:
        runs = A.runs_of(t.a, c, column)
    return c[KEYS + ["value"]], runs


def paired(a: tuple, b: tuple) -> tuple[np.ndarray, list, list]:
    """The cells two studies share (the same KEYS), from two `cells` results: B - A of each shared cell's mean,
    and each side's runs per shared cell (for `amuro.report.stats.hierarchical_means(runs_a, paired=runs_b)`)."""
    (ca, ra), (cb, rb) = a, b
    m = ca.reset_index().merge(cb.reset_index(), on=KEYS, suffixes=("_a", "_b"))
    pa, pb = A.per_cell(ra), A.per_cell(rb)
    return ((m["value_b"] - m["value_a"]).to_numpy(), [pa[i] for i in m["index_a"]],
            [pb[i] for i in m["index_b"]])


def paired_ci(a: tuple, b: tuple, seed: int = 0, n_resamples: int = 10_000) -> tuple[np.ndarray, float, float]:
    """The shared cells' differences B - A and the 95% CI of their mean (shared cells, then runs on each side)."""
    diff, runs_a, runs_b = paired(a, b)
    means = hierarchical_means(runs_a, n_resamples, seed, paired=runs_b)
    return (diff, *((math.nan, math.nan) if means is None else percentile_ci(means)))


def summarise(t, seed: int = 0, n_resamples: int = 10_000) -> pd.DataFrame:
    """One row per finding: its value (mean over cells), 95% CI (cells, then runs), cells, runs per cell and the
    shares of its variance split."""
    rows = []
    for finding, what in findings(t):
        c, runs = cells(t, finding)
        lo, hi = hierarchical_ci(A.per_cell(runs), 0.95, n_resamples, seed)
        split = variance_split(runs) if len(c) else {"shares": {}, "runs_per_cell": 0}
        rows.append({"finding": finding, "what": what, "value": c["value"].mean() if len(c) else math.nan,
                     "ci_low": lo, "ci_high": hi, "n_cells": len(c), "runs_per_cell": split["runs_per_cell"],
                     **{f"share_{k}": split["shares"].get(k) for k in ("cells", "seed", "fewshot_seed", "residual")}})
    return pd.DataFrame(rows, columns=COLUMNS)
