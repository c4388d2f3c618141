"""Where does a score stop changing with pre-training? Isotonic fits and the plateau step, with a bootstrap CI over
cells (`amuro.report.signal` documents the method and uses it for the fine-tuned score, the BASE score and the
fine-tuning gain).

The fit is isotonic regression: the least-squares non-decreasing curve. For the fine-tuned and BASE scores it
assumes only that more pre-training does not hurt, pools the noise of single evaluations, and is defined on as few
as two checkpoints, where a three-parameter saturating curve is not identifiable. The fine-tuning gain may as well
shrink as the BASE model learns a task: it is fitted by the monotone curve of the direction that fits it better
(least squares; non-decreasing or non-increasing). The plateau step is the earliest checkpoint (before the last)
from which the fit changes by less than `threshold` per `unit` steps to every later checkpoint.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from amuro.report.cells import PAPER_SLOPE_STEP, in_format, per_cell, runs_of
from amuro.report.stats import cell_draws
from amuro.study.results import BASE

QUANTITIES = ("finetuned", "base", "gain")  # the gain: fine-tuned - BASE, cell by cell
THRESHOLD = 0.005  # score points per unit steps
PAPER_UNIT = 100_000
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
    rows = in_format(a, fmt)
    base = rows[rows["train"] == BASE][["step", "eval", "format", "value", "stderr"]].rename(
        columns={"value": "base", "stderr": "base_se"})
    out = []
    for d, t in dict.fromkeys(pairs):
        ft = rows[(rows["train"] == t) & (rows["eval"] == d)][["step", "eval", "format", "value", "stderr"]]
        m = ft.rename(columns={"value": "finetuned", "stderr": "finetuned_se"}).merge(
            base, on=["step", "eval", "format"])
        out.append(m.assign(train=t))
    cols = ["eval", "train", "step", "format", "base", "finetuned", "gain", "base_se", "finetuned_se"]
    if not out:
        return pd.DataFrame(columns=cols)
    c = pd.concat(out, ignore_index=True)
    c["gain"] = c["finetuned"] - c["base"]
    c["gain_se"] = np.sqrt(c["finetuned_se"] ** 2 + c["base_se"] ** 2)
    return c[[*cols, "gain_se"]].sort_values(["train", "eval", "step"]).reset_index(drop=True)


def _matrix(c: pd.DataFrame, pairs, column: str, steps) -> np.ndarray:
    """pairs x steps, NaN where a pair lacks a step; one row per listed pair (a pair listed twice, the paper's
    SciQ, weighs twice)."""
    return np.vstack([c[(c["eval"] == d) & (c["train"] == t)].set_index("step")[column].reindex(steps)
                      .to_numpy(float) for d, t in pairs])


def _runs(c: pd.DataFrame, runs: list, pairs, steps) -> list:
    """The runs of each (pair, step) cell, flattened pair by pair as `_matrix`'s entries; [NaN] where absent."""
    at = {(d, t, s): r for d, t, s, r in zip(c["eval"], c["train"], c["step"], runs)}
    return [at.get((d, t, s), np.array([np.nan])) for d, t in pairs for s in steps]


def monotone_fit(values, direction: int = 1) -> np.ndarray:
    """The isotonic fit in `direction` (+1 non-decreasing, -1 non-increasing), of each row of a 2-D `values`."""
    return direction * isotonic(direction * np.asarray(values, dtype=float))


def direction_of(values) -> int:
    """+1 or -1: the monotone direction whose least-squares fit is closer to the finite `values`."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return 1
    return 1 if ((monotone_fit(v, 1) - v) ** 2).sum() <= ((monotone_fit(v, -1) - v) ** 2).sum() else -1


def _plateau(steps, x, values, threshold, unit, direction=1):
    keep = np.isfinite(values)
    if keep.sum() < 2:
        return None, math.nan, None
    fit, xs = monotone_fit(values[keep], direction), x[keep]
    k = plateau_index(xs, direction * fit, threshold, unit)
    at = len(xs) - 2 if k is None else k  # the change compared with the threshold: from the plateau on, or the last
    rise = float(direction * ((direction * (fit[at + 1:] - fit[at])) / (xs[at + 1:] - xs[at]) * unit).max())
    return (int(steps[keep][k]) if k is not None else None), rise, fit


def plateaus(c: pd.DataFrame, groups: dict, threshold: float = THRESHOLD, unit: int | None = None,
             n_resamples: int = 1000, seed: int = 0, a: pd.DataFrame | None = None
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(plateau table, fitted curves). One plateau row per (level, group, pair, quantity): level `group` (the
    mean over the group's pairs) or `pair`; quantity `finetuned`, `base` or `gain` (with `direction` +1 where its
    fit rises, -1 where it falls). `a`, the analysed table `c` comes from (`pair_cells`), gives each cell's runs
    (seeds, draws of demonstrations) to the bootstrap; without it each cell is one run."""
    steps = np.array(sorted(c["step"].unique()), dtype=int)
    unit = unit or (unit_steps(steps) if len(steps) else PAPER_UNIT)
    x = np.array([PAPER_SLOPE_STEP.get(int(s), int(s)) for s in steps], dtype=float)
    runs = {q: per_cell(runs_of(a, c, "change" if q == "gain" else q, q)) if a is not None and len(c) else
            [np.array([v]) for v in c[q]] for q in QUANTITIES}
    rows, fits = [], []
    units = [("group", g, None, pairs) for g, pairs in groups.items()]
    units += [("pair", g, p, (p,)) for g, pairs in groups.items() for p in dict.fromkeys(pairs)]
    for level, group, pair, pairs in units:
        present = [p for p in pairs if ((c["eval"] == p[0]) & (c["train"] == p[1])).any()]
        if not present:
            continue
        for quantity in QUANTITIES:
            values = _matrix(c, present, quantity, steps)
            se = _matrix(c, present, f"{quantity}_se", steps)
            mean = nanmean(values)
            direction = direction_of(mean) if quantity == "gain" else 1
            step, rise, fit = _plateau(steps, x, mean, threshold, unit, direction)
            lo, hi, p_none = _bootstrap(values, se, _runs(c, runs[quantity], present, steps), steps, x, threshold,
                                        unit, n_resamples, seed, direction)
            d, t = pair or ("", "")
            rows.append({"level": level, "group": group, "eval": d, "train": t, "quantity": quantity,
                         "direction": direction, "plateau_step": step, "ci_low": lo, "ci_high": hi,
                         "p_no_plateau": p_none, "still_paying_off": step is None and fit is not None,
                         "rise_after": rise, "n_pairs": int(np.isfinite(values).any(axis=1).sum()),
                         "n_steps": int(np.isfinite(mean).sum())})
            if fit is not None:
                keep = np.isfinite(mean)
                fits += [{"level": level, "group": group, "eval": d, "train": t, "quantity": quantity,
                          "step": int(s), "mean": float(m), "fit": float(f)}
                         for s, m, f in zip(steps[keep], mean[keep], fit)]
    cols = ["level", "group", "eval", "train", "quantity", "direction", "plateau_step", "ci_low", "ci_high",
            "p_no_plateau", "still_paying_off", "rise_after", "n_pairs", "n_steps"]
    fits = pd.DataFrame(fits, columns=["level", "group", "eval", "train", "quantity", "step", "mean", "fit"])
    table = pd.DataFrame(rows, columns=cols).astype({c: "Int64" for c in ("plateau_step", "ci_low", "ci_high")})
    return table, fits


def nanmean(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Means over the finite entries along `axis`; NaN where there are none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


def _bootstrap(values, se, runs, steps, x, threshold, unit, n, seed, direction=1):
    """95% CI of the plateau step (None: no plateau) and the share of replicates without one. A replicate
    resamples the pairs (rows of `values`), then each picked cell's runs (`runs`, one array per entry of `values`,
    row by row; `amuro.report.stats.cell_draws`), and draws each cell from N(its mean, stderr^2)."""
    keep = np.isfinite(nanmean(values))
    if keep.sum() < 2:
        return None, None, math.nan
    n_steps = values.shape[1]
    runs = [r for i, r in enumerate(runs) if keep[i % n_steps]]
    values, se, steps, x = values[:, keep], np.nan_to_num(se[:, keep]), steps[keep], x[keep]
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(values), (n, len(values)))
    cell = (pick[:, :, None] * values.shape[1] + np.arange(values.shape[1])).reshape(n, -1)
    drawn = cell_draws(runs, cell, rng).reshape(n, *values.shape)
    means = nanmean(drawn + rng.standard_normal((n, *values.shape)) * se[pick], axis=1)
    found = np.full(n, math.inf)
    whole = np.isfinite(means).all(axis=1)  # a replicate may miss a step that only some pairs have
    k = plateau_index(x, direction * monotone_fit(means[whole], direction), threshold, unit)
    found[np.flatnonzero(whole)[k >= 0]] = steps[k[k >= 0]]
    for i in np.flatnonzero(~whole):
        step, _, _ = _plateau(steps, x, means[i], threshold, unit, direction)
        found[i] = math.inf if step is None else step
    lo, hi = np.quantile(found, [0.025, 0.975], method="inverted_cdf")
    as_step = lambda q: int(q) if math.isfinite(q) else None  # noqa: E731
    return as_step(lo), as_step(hi), float(np.mean(~np.isfinite(found)))
