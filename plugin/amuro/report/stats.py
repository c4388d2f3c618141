"""Statistics of the report: seeded percentile bootstrap CIs (flat, and hierarchical over cells and the runs within
them), the variance split of a finding, a t-test, and JSON-safe values.

The hierarchical bootstrap (Davison & Hinkley 1997, §3.8, "two-stage" resampling) has two stages per replicate:
first the cells (checkpoint x pair) are resampled with replacement, then, in each resampled cell, its runs (the
fine-tuning seeds x draws of demonstrations, `amuro.report.cells.runs_of`) are resampled with replacement
and averaged. A finding's CI so covers both the checkpoint-and-pair spread and the seed and demonstration noise.
With one run per cell the second stage draws nothing and the CI is the flat bootstrap's, number for number.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

CHUNK = 1000  # bootstrap replicates drawn at once in the second stage (memory: CHUNK x cells x runs floats)


def bootstrap_ci(x, level: float = 0.95, n_resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean, resampling values with a seeded numpy Generator."""
    return hierarchical_ci([[v] for v in np.asarray(x, dtype=float)], level, n_resamples, seed)


def hierarchical_ci(runs, level: float = 0.95, n_resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile CI of the mean over cells of each cell's mean run: `runs` holds one array of run values per
    cell; the cells are resampled, then the runs within each resampled cell (module docstring)."""
    means = hierarchical_means(runs, n_resamples, seed)
    if means is None:
        return math.nan, math.nan
    return percentile_ci(means, level)


def hierarchical_means(runs, n_resamples: int = 10_000, seed: int = 0, paired=None) -> np.ndarray | None:
    """The bootstrap replicates of the finding's mean (None without cells). With `paired` (a second list of runs
    per cell, e.g. another model's at the same cells), the replicates of mean(paired) - mean(runs): both sides
    resampled at the same cells, each cell's runs on its own side."""
    if len(runs) == 0:
        return None
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(runs), size=(n_resamples, len(runs)))
    means = cell_draws(runs, pick, rng).mean(axis=1)
    if paired is not None:
        means = cell_draws(paired, pick, rng).mean(axis=1) - means
    return means


def percentile_ci(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    return float(np.percentile(replicates, tail)), float(np.percentile(replicates, 100 - tail))


def cell_draws(runs, pick: np.ndarray, rng) -> np.ndarray:
    """The second stage: for each resampled slot (`pick[b, j]`, a cell), the mean of that cell's runs drawn with
    replacement. Cells of one run give their value, and then no random number is drawn."""
    k = np.array([len(r) for r in runs])
    if (k == 1).all():
        return np.array([r[0] for r in runs], dtype=float)[pick]
    width = int(k.max())
    padded = np.zeros((len(runs), width))
    for i, r in enumerate(runs):
        padded[i, :len(r)] = r
    out = np.empty(pick.shape)
    slots = np.arange(width)
    for start in range(0, len(pick), CHUNK):
        p = pick[start:start + CHUNK]
        kk = k[p][..., None]
        draw = (rng.random((*p.shape, width)) * kk).astype(int)  # run indices < k of each slot's cell
        values = np.take_along_axis(padded[p], draw, axis=-1)
        out[start:start + CHUNK] = np.where(slots < kk, values, 0.0).sum(axis=-1) / kk[..., 0]
    return out


SPLIT = ("cells", "seed", "fewshot_seed", "residual")


def variance_split(runs: pd.DataFrame) -> dict:
    """How much of the spread of one run's value is checkpoint and pair (between cells), fine-tuning seed,
    demonstrations, or neither (their interaction and what is left): random-effects ANOVA estimators of the
    variance components of y = cell + seed(cell) + draw(cell) + residual, from `runs` (columns cell, seed,
    fewshot_seed, value). Within each cell the runs form a seed x draw grid; the within-cell parts are pooled over
    the cells whose grid is complete, weighted by their degrees of freedom; components estimated below 0 count as
    0. Returns the shares (summing to 1; None without any spread), the components and the counts."""
    y = runs["value"]
    by_cell = y.groupby(runs["cell"])
    n_s, n_f = runs.groupby("cell")["seed"].nunique(), runs.groupby("cell")["fewshot_seed"].nunique()
    full = by_cell.size() == n_s * n_f
    r = runs[runs["cell"].map(full)]
    seed_means, draw_means = (r.groupby(["cell", k])["value"].mean() for k in ("seed", "fewshot_seed"))
    fit = (r.groupby(["cell", "seed"])["value"].transform("mean") + r.groupby(["cell", "fewshot_seed"])["value"]
           .transform("mean") - r.groupby("cell")["value"].transform("mean"))
    df_res = ((n_s - 1) * (n_f - 1))[full].sum()
    residual = float(((r["value"] - fit) ** 2).sum() / df_res) if df_res else 0.0

    def pooled(means, k, other):  # var of the seed (draw) means in each cell, less the residual's share of it
        v = means.groupby(level="cell").var(ddof=1).dropna()
        weights = (k[v.index] - 1).to_numpy()
        return max(float(np.average(v - residual / other[v.index], weights=weights)), 0.0) if len(v) else 0.0

    seed, draw = pooled(seed_means, n_s, n_f), pooled(draw_means, n_f, n_s)
    within = (seed / n_s + draw / n_f + residual / (n_s * n_f)).mean() if len(n_s) else 0.0
    cells = max(float(by_cell.mean().var(ddof=1)) - within, 0.0) if len(n_s) > 1 else 0.0
    parts = dict(zip(SPLIT, (cells, seed, draw, residual)))
    total = sum(parts.values())
    return {"shares": {k: (v / total if total > 0 else None) for k, v in parts.items()}, "components": parts,
            "n_cells": int(len(n_s)), "runs_per_cell": int(by_cell.size().max()) if len(n_s) else 0}


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


def jsonable(x):
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if math.isnan(x) or math.isinf(x) else float(x)
    if x is pd.NA:
        return None
    return x
