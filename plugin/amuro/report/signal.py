"""Is more pre-training still paying off? What a pre-training run can read from its own checkpoints.

Two questions, each a function of a results table (the `amuro.study.results` schema, reduced once by
`amuro.report.cells.analysed`), default format, per group of (eval, train) pairs (the fine-tuning-gain groups of
the report) and per pair:

1. **Where does the fine-tuned outcome plateau?** The fine-tuned score (and, beside it, the BASE score) against
   the checkpoint step is fitted by isotonic regression: the least-squares non-decreasing curve. It assumes only
   that more pre-training does not hurt, pools the noise of single evaluations, and is defined on as few as two
   checkpoints, where a three-parameter saturating curve is not identifiable. The *plateau step* is the earliest
   checkpoint (before the last) from which the fit rises by less than `threshold` score points (0-1 scale) per
   `unit` steps to every later checkpoint: by default 0.005 per 100k steps (half a point of accuracy or Rouge-L,
   the paper's slope unit);
   a run whose last checkpoint is before step 100k uses the largest power of ten below it. OLMo-1B's `main`
   counts as step 750,000 in the slopes, as in the authors' Table 6 (`PAPER_SLOPE_STEP`). When no checkpoint
   qualifies, no plateau is visible yet: pre-training is still paying off. The CI is a seeded bootstrap
   over cells: each replicate resamples the group's pairs and draws every cell's score from N(score, stderr²)
   where lm-eval's stderr is known; the plateau step's 2.5% and 97.5% quantiles over the replicates are the 95%
   CI (a bound of `None` means "no plateau yet" in that share of replicates).
2. **Which base-model measure tracks the fine-tuned outcome?** Across the checkpoints of each pair, the Spearman
   rank correlation between a measure of the BASE checkpoint i and the fine-tuned score and the fine-tuning gain
   (fine-tuned - BASE) at i. Measures: `base` (BASE score on the set), `base_slope` (its change per `unit` steps
   since the previous checkpoint), `format_spread` (max - min of the BASE score over the prompt formats) and
   `completion_loss` (the BASE model's loss on the fine-tuning set's completions, from the sweep's
   base_measures.csv, `amuro.study.measures`). A group's rho is the mean of its pairs' rhos (pairs with at least
   4 checkpoints); its 95% CI resamples each pair's checkpoints with replacement. The gain contains -BASE, so a
   negative rho of `base` with the gain is partly arithmetic; the report says so.

summary.json's `signal` entry (`build(...)["summary"]`; scores on the 0-1 scale, steps as integers, NaN as null):

    fit, threshold, unit_steps, n_resamples, seed   how the plateau is read (above)
    measures_available   the measures with at least one value in this table
    plateaus             one record per level ("group" | "pair"), group, eval and train ("" for a group),
                         quantity ("finetuned" | "base"): plateau_step (null: none visible yet), ci_low, ci_high
                         (null high bound: no plateau in more than 2.5% of the replicates), p_no_plateau,
                         still_paying_off, rise_after (the fit's steepest average rise per unit steps from the
                         plateau step to a later checkpoint; with no plateau, over the last segment), n_pairs,
                         n_steps
    correlations         one record per group, measure and target ("finetuned" | "gain"): rho, ci_low, ci_high,
                         n_pairs (pairs with >= 4 checkpoints), n_cells
    best_measure         group -> {measure, rho, ci_low, ci_high} of the measure tracking the gain best, or null
The report's tables/ get signal_plateaus.csv, signal_curves.csv (means and fits per step), signal_cells.csv
(each cell's scores and measures) and signal_correlations.csv.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from amuro.report.cells import PAPER_SLOPE_STEP, analysed
from amuro.report.stats import jsonable
from amuro.study.results import BASE

THRESHOLD = 0.005  # score points per unit steps
PAPER_UNIT = 100_000
MEASURES = ("base", "base_slope", "format_spread", "completion_loss")
TARGETS = ("finetuned", "gain")
MIN_CELLS = 4  # checkpoints a pair needs for a rank correlation
FIT = "isotonic regression (least-squares non-decreasing curve) of the score on the checkpoint step"


def unit_steps(steps) -> int:
    """100k steps, or the largest power of ten below the last step of a shorter run."""
    last = max(int(s) for s in steps)
    return PAPER_UNIT if last >= PAPER_UNIT else 10 ** max(0, int(math.floor(math.log10(max(last, 1)))))


def isotonic(y) -> np.ndarray:
    """Least-squares non-decreasing fit (equal weights) of `y`, or of each row of a 2-D `y` (the bootstrap's
    replicates), by the min-max formula fit_i = max over j <= i of min over k >= i of mean(y_j .. y_k): exact,
    vectorised over rows, and quick for the few checkpoints of a study."""
    y = np.asarray(y, dtype=float)
    rows = np.atleast_2d(y)
    n = rows.shape[1]
    c = np.concatenate([np.zeros((len(rows), 1)), np.cumsum(rows, axis=1)], axis=1)
    j, k = np.triu_indices(n)
    means = np.full((len(rows), n, n), np.nan)
    means[:, j, k] = (c[:, k + 1] - c[:, j]) / (k - j + 1)
    fit = np.stack([np.nanmax(np.nanmin(means[:, :i + 1, i:], axis=2), axis=1) for i in range(n)], axis=1)
    return fit.reshape(y.shape)


def plateau_index(x, fitted, threshold: float, unit: int):
    """Index of the earliest checkpoint k before the last from which the fit rises by less than `threshold` per
    `unit` steps to every later checkpoint (the average slope from k to each j > k): two checkpoints a few steps
    apart (OLMo-1B's step738000 and main) cannot fake a steep rise. None when no such k exists: no plateau is
    visible yet. For a 2-D `fitted` (one fit per row): an array of indices, -1 for none."""
    fits = np.atleast_2d(fitted)
    x = np.asarray(x, dtype=float)
    flat = np.zeros((len(fits), max(len(x) - 1, 0)), dtype=bool)
    for k in range(len(x) - 1):
        flat[:, k] = ((fits[:, k + 1:] - fits[:, [k]]) / (x[k + 1:] - x[k]) * unit < threshold).all(axis=1)
    found = np.where(flat.any(axis=1), flat.argmax(axis=1), -1)
    if np.ndim(fitted) == 2:
        return found
    return int(found[0]) if found[0] >= 0 else None


def pair_cells(a: pd.DataFrame, pairs, fmt: str = "default") -> pd.DataFrame:
    """One row per (eval, train, step) with both runs: BASE and fine-tuned score and stderr, and the gain."""
    rows = a[a["format"] == fmt]
    base = rows[rows["train"] == BASE][["step", "eval", "value", "stderr"]].rename(
        columns={"value": "base", "stderr": "base_se"})
    out = []
    for d, t in dict.fromkeys(pairs):
        ft = rows[(rows["train"] == t) & (rows["eval"] == d)][["step", "eval", "value", "stderr"]]
        m = ft.rename(columns={"value": "finetuned", "stderr": "finetuned_se"}).merge(base, on=["step", "eval"])
        out.append(m.assign(train=t))
    cols = ["eval", "train", "step", "base", "finetuned", "gain", "base_se", "finetuned_se"]
    if not out:
        return pd.DataFrame(columns=cols)
    c = pd.concat(out, ignore_index=True)
    c["gain"] = c["finetuned"] - c["base"]
    return c[cols].sort_values(["train", "eval", "step"]).reset_index(drop=True)


def _matrix(c: pd.DataFrame, pairs, column: str, steps) -> np.ndarray:
    """pairs x steps; one row per listed pair that has data (a pair listed twice, the paper's SciQ, weighs
    twice)."""
    rows = [c[(c["eval"] == d) & (c["train"] == t)].set_index("step")[column].reindex(steps).to_numpy(float)
            for d, t in pairs]
    rows = [r for r in rows if np.isfinite(r).any()] if column in ("finetuned", "base") else rows
    return np.vstack(rows) if rows else np.full((0, len(steps)), np.nan)


def _plateau(steps, x, values, threshold, unit):
    keep = np.isfinite(values)
    if keep.sum() < 2:
        return None, math.nan, None
    fit, xs = isotonic(values[keep]), x[keep]
    k = plateau_index(xs, fit, threshold, unit)
    at = len(xs) - 2 if k is None else k  # the rise compared with the threshold: from the plateau on, or the last
    rise = float(((fit[at + 1:] - fit[at]) / (xs[at + 1:] - xs[at]) * unit).max())
    return (int(steps[keep][k]) if k is not None else None), rise, fit


def plateaus(c: pd.DataFrame, groups: dict, threshold: float = THRESHOLD, unit: int | None = None,
             n_resamples: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(plateau table, fitted curves). One plateau row per (level, group, pair, quantity): level `group` (the
    mean over the group's pairs) or `pair`; quantity `finetuned` or `base`."""
    steps = np.array(sorted(c["step"].unique()), dtype=int)
    unit = unit or (unit_steps(steps) if len(steps) else PAPER_UNIT)
    x = np.array([PAPER_SLOPE_STEP.get(int(s), int(s)) for s in steps], dtype=float)
    rows, fits = [], []
    units = [("group", g, None, pairs) for g, pairs in groups.items()]
    units += [("pair", g, p, (p,)) for g, pairs in groups.items() for p in dict.fromkeys(pairs)]
    for level, group, pair, pairs in units:
        present = [p for p in pairs if ((c["eval"] == p[0]) & (c["train"] == p[1])).any()]
        if not present:
            continue
        for quantity in ("finetuned", "base"):
            values = _matrix(c, present, quantity, steps)
            se = _matrix(c, present, f"{quantity}_se", steps)
            mean = _nanmean(values)
            step, rise, fit = _plateau(steps, x, mean, threshold, unit)
            lo, hi, p_none = _bootstrap(values, se, steps, x, threshold, unit, n_resamples, seed)
            d, t = pair or ("", "")
            rows.append({"level": level, "group": group, "eval": d, "train": t, "quantity": quantity,
                         "plateau_step": step, "ci_low": lo, "ci_high": hi, "p_no_plateau": p_none,
                         "still_paying_off": step is None and fit is not None, "rise_after": rise,
                         "n_pairs": int(np.isfinite(values).any(axis=1).sum()),
                         "n_steps": int(np.isfinite(mean).sum())})
            if fit is not None:
                keep = np.isfinite(mean)
                fits += [{"level": level, "group": group, "eval": d, "train": t, "quantity": quantity,
                          "step": int(s), "mean": float(m), "fit": float(f)}
                         for s, m, f in zip(steps[keep], mean[keep], fit)]
    cols = ["level", "group", "eval", "train", "quantity", "plateau_step", "ci_low", "ci_high", "p_no_plateau",
            "still_paying_off", "rise_after", "n_pairs", "n_steps"]
    fits = pd.DataFrame(fits, columns=["level", "group", "eval", "train", "quantity", "step", "mean", "fit"])
    table = pd.DataFrame(rows, columns=cols).astype({c: "Int64" for c in ("plateau_step", "ci_low", "ci_high")})
    return table, pd.concat([fits, _gain_curves(fits)], ignore_index=True)


def _gain_curves(fits: pd.DataFrame) -> pd.DataFrame:
    """The fine-tuning gain's curve: mean fine-tuned - mean BASE, and the difference of their two fits (the gain
    itself need not rise with pre-training, so it is not fitted on its own)."""
    key = ["level", "group", "eval", "train", "step"]
    both = fits[fits["quantity"] == "finetuned"].merge(fits[fits["quantity"] == "base"], on=key,
                                                       suffixes=("", "_base"))
    return both.assign(quantity="gain", mean=both["mean"] - both["mean_base"],
                       fit=both["fit"] - both["fit_base"])[fits.columns]


def _nanmean(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Means over the finite entries along `axis`; NaN where there are none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


def _bootstrap(values, se, steps, x, threshold, unit, n, seed):
    """95% CI of the plateau step (None: no plateau) and the share of replicates without one. A replicate
    resamples the pairs (rows of `values`) and draws each cell from N(value, stderr^2)."""
    keep = np.isfinite(_nanmean(values))
    if keep.sum() < 2:
        return None, None, math.nan
    values, se, steps, x = values[:, keep], np.nan_to_num(se[:, keep]), steps[keep], x[keep]
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(values), (n, len(values)))
    means = _nanmean(values[pick] + rng.standard_normal((n, *values.shape)) * se[pick], axis=1)
    found = np.full(n, math.inf)
    whole = np.isfinite(means).all(axis=1)  # a replicate may miss a step that only some pairs have
    k = plateau_index(x, isotonic(means[whole]), threshold, unit)
    found[np.flatnonzero(whole)[k >= 0]] = steps[k[k >= 0]]
    for i in np.flatnonzero(~whole):
        step, _, _ = _plateau(steps, x, means[i], threshold, unit)
        found[i] = math.inf if step is None else step
    lo, hi = np.quantile(found, [0.025, 0.975], method="inverted_cdf")
    as_step = lambda q: int(q) if math.isfinite(q) else None  # noqa: E731
    return as_step(lo), as_step(hi), float(np.mean(~np.isfinite(found)))


def measure_cells(a: pd.DataFrame, c: pd.DataFrame, measures: pd.DataFrame | None = None,
                  unit: int | None = None) -> pd.DataFrame:
    """`pair_cells` plus the BASE measures of each cell's checkpoint (NaN where unknown)."""
    out = c.copy()
    unit = unit or (unit_steps(out["step"]) if len(out) else PAPER_UNIT)
    out["x"] = [PAPER_SLOPE_STEP.get(int(s), int(s)) for s in out["step"]]
    out = out.sort_values(["train", "eval", "step"])
    grouped = out.groupby(["eval", "train"])
    out["base_slope"] = grouped["base"].diff() / grouped["x"].diff() * unit
    base_rows = a[a["train"] == BASE]
    spread = base_rows.groupby(["eval", "step"])["value"].agg(lambda v: v.max() - v.min() if len(v) > 1 else np.nan)
    out["format_spread"] = [spread.get((d, s), np.nan) for d, s in zip(out["eval"], out["step"])]
    loss = {}
    if measures is not None and len(measures):
        m = measures[measures["measure"] == "completion_loss"]
        loss = m.groupby(["train", "step"])["value"].mean().to_dict()
    out["completion_loss"] = [loss.get((t, s), np.nan) for t, s in zip(out["train"], out["step"])]
    return out.drop(columns="x").reset_index(drop=True)


def _rank_corr(m: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Spearman rho of each row of m against the same row of t (ties averaged); NaN for constant rows."""
    from scipy.stats import rankdata

    rm, rt = rankdata(m, axis=-1), rankdata(t, axis=-1)
    rm, rt = rm - rm.mean(axis=-1, keepdims=True), rt - rt.mean(axis=-1, keepdims=True)
    with np.errstate(all="ignore"):
        return (rm * rt).sum(axis=-1) / np.sqrt((rm ** 2).sum(axis=-1) * (rt ** 2).sum(axis=-1))


def correlations(mc: pd.DataFrame, groups: dict, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per group, measure and target: the mean over the group's pairs of the pair's Spearman rho across its
    checkpoints, with a 95% bootstrap CI (each pair's checkpoints resampled with replacement)."""
    rows = []
    for group, pairs in groups.items():
        for measure in MEASURES:
            for target in TARGETS:
                rng = np.random.default_rng(seed)
                point, boot, cells = [], [], 0
                for d, t in dict.fromkeys(pairs):
                    s = mc[(mc["eval"] == d) & (mc["train"] == t)][[measure, target]].dropna()
                    if len(s) < MIN_CELLS:
                        continue
                    m, y = s[measure].to_numpy(float), s[target].to_numpy(float)
                    point.append(float(_rank_corr(m, y)))
                    pick = rng.integers(0, len(s), (n_resamples, len(s)))
                    boot.append(_rank_corr(m[pick], y[pick]))
                    cells += len(s)
                rho = float(_nanmean(np.array(point, dtype=float)[:, None])[0]) if point else math.nan
                lo = hi = math.nan
                if boot:
                    means = _nanmean(np.vstack(boot))
                    if np.isfinite(means).any():
                        lo, hi = (float(q) for q in np.nanquantile(means, [0.025, 0.975]))
                rows.append({"group": group, "measure": measure, "target": target, "rho": rho, "ci_low": lo,
                             "ci_high": hi, "n_pairs": int(np.isfinite(point).sum()), "n_cells": cells})
    return pd.DataFrame(rows, columns=["group", "measure", "target", "rho", "ci_low", "ci_high", "n_pairs",
                                       "n_cells"])


def best_measures(corr: pd.DataFrame, target: str = "gain") -> dict:
    """Per group: the measure whose rho with `target` is largest in size among those whose CI excludes 0, or
    None."""
    out = {}
    for group, s in corr[corr["target"] == target].groupby("group", sort=False):
        clear = s[(s["ci_low"] > 0) | (s["ci_high"] < 0)]
        out[group] = None if clear.empty else clear.loc[clear["rho"].abs().idxmax()].to_dict()
    return out


def build(df: pd.DataFrame, groups: dict, measures: pd.DataFrame | None = None, num_fewshot: int | None = None,
          seed: int = 0, threshold: float = THRESHOLD, unit: int | None = None, n_resamples: int = 1000) -> dict:
    """Everything the report's section needs: {"frames": CSV tables, "summary": summary.json's `signal`}."""
    a = analysed(df, num_fewshot)
    pairs = [p for ps in groups.values() for p in ps]
    c = pair_cells(a, pairs)
    unit = unit or (unit_steps(a["step"]))
    plateau, fits = plateaus(c, groups, threshold, unit, n_resamples, seed)
    mc = measure_cells(a, c, measures, unit)
    corr = correlations(mc, groups, n_resamples, seed)
    summary = {
        "fit": FIT, "threshold": threshold, "unit_steps": unit, "n_resamples": n_resamples, "seed": seed,
        "measures_available": [m for m in MEASURES if mc[m].notna().any()] if len(mc) else [],
        "plateaus": jsonable(plateau.to_dict("records")),
        "correlations": jsonable(corr.to_dict("records")),
        "best_measure": jsonable({g: (None if b is None else {k: b[k] for k in ("measure", "rho", "ci_low", "ci_high")})
                                  for g, b in best_measures(corr).items()}),
    }
    return {"frames": {"signal_plateaus": plateau, "signal_curves": fits, "signal_cells": mc,
                       "signal_correlations": corr}, "summary": summary}


def _steps(lo, hi) -> str:
    hi_text = f"{hi:,}" if hi is not None else "not yet"
    return f"{lo:,}-{hi_text}" if lo is not None else "-"


def findings(summary: dict) -> list[str]:
    """One sentence per group for report.md: its plateau (with CI) or that none is visible, and the measure that
    tracks the gain best."""
    unit, threshold = summary["unit_steps"], summary["threshold"]
    best = summary["best_measure"]
    out = []
    for r in summary["plateaus"]:
        if r["level"] != "group" or r["quantity"] != "finetuned":
            continue
        g = r["group"]
        base = next((b for b in summary["plateaus"] if b["level"] == "group" and b["group"] == g
                     and b["quantity"] == "base"), None)
        if r["plateau_step"] is not None:
            text = (f"the fine-tuned score plateaus at step {r['plateau_step']:,} (95% CI {_steps(r['ci_low'], r['ci_high'])}"
                    f"): from there on it rises by less than {threshold:g} per {unit:,} steps")
        elif r["n_steps"] >= 2:
            text = (f"no plateau is visible yet: the fine-tuned score still rises by {r['rise_after']:.3g} per "
                    f"{unit:,} steps between the last two checkpoints (no plateau in {r['p_no_plateau']:.0%} of the "
                    "bootstrap replicates), so more pre-training is still paying off")
        else:
            text = "one checkpoint only: no curve to read"
        if base and base["plateau_step"] is not None:
            text += f"; the BASE score plateaus at step {base['plateau_step']:,} ({_steps(base['ci_low'], base['ci_high'])})"
        elif base and base["n_steps"] >= 2:
            text += "; the BASE score shows no plateau yet"
        b = best.get(g)
        if b:
            text += (f". The BASE measure that tracks the fine-tuning gain best: `{b['measure']}` (Spearman rho "
                     f"{b['rho']:+.2f}, 95% CI {b['ci_low']:+.2f} to {b['ci_high']:+.2f})")
            if b["measure"] == "base" and b["rho"] < 0:
                text += ", negative partly by construction: the gain is fine-tuned minus BASE"
        else:
            text += ". No BASE measure tracks the gain reliably here (every CI includes 0, or too few checkpoints)"
        out.append(f"**{g}** ({r['n_pairs']} pairs): {text}.")
    return out
