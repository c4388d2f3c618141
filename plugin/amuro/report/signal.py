"""Is more pre-training still paying off? What a pre-training run can read from its own checkpoints.

Two questions, each a function of a results table (the `amuro.study.results` schema, reduced once by
`amuro.report.cells.analysed`), default format, per group of (eval, train) pairs (the fine-tuning-gain groups of
the report) and per pair:

1. **Where does the fine-tuned outcome plateau, and where its gain?** The fine-tuned score, the BASE score and
   the fine-tuning gain (fine-tuned - BASE, cell by cell) against the checkpoint step are each fitted by isotonic
   regression: the least-squares non-decreasing curve (for the gain, which may shrink as the BASE model learns a
   task, the monotone curve of whichever direction fits it better). It assumes only that more pre-training does
   not hurt (or, for the gain, that it changes one way), pools the noise of single evaluations, and is defined on
   as few as two checkpoints, where a three-parameter saturating curve is not identifiable. The *plateau step* is
   the earliest checkpoint (before the last) from which the fit changes by less than `threshold` score points
   (0-1 scale) per `unit` steps to every later checkpoint: by default 0.005 per 100k steps (half a point of
   accuracy or Rouge-L, the paper's slope unit); a run whose last checkpoint is before step 100k uses the largest
   power of ten below it. OLMo-1B's `main` counts as step 750,000 in the slopes, as in the authors' Table 6
   (`PAPER_SLOPE_STEP`). When no checkpoint qualifies, no plateau is visible yet: the quantity is still changing
   (for the fine-tuned score: pre-training is still paying off). The CI is a seeded bootstrap over cells: each
   replicate resamples the group's pairs, then the runs (seeds, draws of demonstrations) of each picked cell, and
   draws every cell's score from N(score, stderr²) where lm-eval's stderr is known (the gain's: both stderrs in
   quadrature); the plateau step's 2.5% and 97.5% quantiles over the replicates are the 95% CI (a bound of `None`
   means "no plateau yet" in that share of replicates).
2. **Which base-model measure tracks the fine-tuned outcome?** Across the checkpoints of each pair, the Spearman
   rank correlation between a measure of the BASE checkpoint i and the fine-tuned score and the fine-tuning gain
   (fine-tuned - BASE) at i. Measures: `base` (BASE score on the set), `base_slope` (its change per `unit` steps
   since the previous checkpoint), `format_spread` (max - min of the BASE score over the prompt formats) and
   `completion_loss` (the BASE model's loss on the fine-tuning set's completions, from the sweep's
   base_measures.csv, `amuro.study.measures`). A group's rho is the mean of its pairs' rhos (pairs with at least
   4 checkpoints); its 95% CI resamples each pair's checkpoints with replacement, then the runs of the target at
   each picked checkpoint. The gain contains -BASE, so a
   negative rho of `base` with the gain is partly arithmetic; the report says so.

summary.json's `signal` entry (`build(...)["summary"]`; scores on the 0-1 scale, steps as integers, NaN as null):

    fit, threshold, unit_steps, n_resamples, seed   how the plateau is read (above)
    measures_available   the measures with at least one value in this table
    plateaus             one record per level ("group" | "pair"), group, eval and train ("" for a group),
                         quantity ("finetuned" | "base" | "gain"): direction (+1: the fit rises, -1: it falls;
                         always +1 but for the gain), plateau_step (null: none visible yet), ci_low, ci_high
                         (null high bound: no plateau in more than 2.5% of the replicates), p_no_plateau,
                         still_paying_off (no plateau visible), rise_after (the fit's steepest average change per
                         unit steps, in its direction, from the plateau step to a later checkpoint; with no
                         plateau, over the last segment), n_pairs, n_steps
    correlations         one record per group, measure and target ("finetuned" | "gain"): rho, ci_low, ci_high,
                         n_pairs (pairs with >= 4 checkpoints), n_cells
    best_measure         group -> {measure, rho, ci_low, ci_high} of the measure tracking the gain best, or null
The report's tables/ get signal_plateaus.csv, signal_curves.csv (means and fits per step), signal_cells.csv
(each cell's scores and measures) and signal_correlations.csv.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from amuro.report.cells import PAPER_SLOPE_STEP, analysed, per_cell, runs_of
from amuro.report.plateau import (FIT, PAPER_UNIT, THRESHOLD, isotonic, nanmean, pair_cells,  # noqa: F401
                                  plateau_index, plateaus, unit_steps)  # isotonic, plateau_index: the API too
from amuro.report.stats import cell_draws, jsonable
from amuro.study.results import BASE

MEASURES = ("base", "base_slope", "format_spread", "completion_loss")
TARGETS = ("finetuned", "gain")
MIN_CELLS = 4  # checkpoints a pair needs for a rank correlation
GAIN_COLOR = "#55A868"


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


def correlations(mc: pd.DataFrame, groups: dict, n_resamples: int = 1000, seed: int = 0,
                 runs: dict | None = None) -> pd.DataFrame:
    """Per group, measure and target: the mean over the group's pairs of the pair's Spearman rho across its
    checkpoints, with a 95% bootstrap CI (each pair's checkpoints resampled with replacement, then, with `runs`
    (target -> one array of run values per row of `mc`), the target's runs at each picked checkpoint)."""
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
                    y_runs = [runs[target][i] for i in s.index] if runs else [[v] for v in y]
                    boot.append(_rank_corr(m[pick], cell_draws(y_runs, pick, rng)))
                    cells += len(s)
                rho = float(nanmean(np.array(point, dtype=float))) if point else math.nan
                lo = hi = math.nan
                if boot:
                    means = nanmean(np.vstack(boot))
                    if np.isfinite(means).any():
                        lo, hi = (float(q) for q in np.nanquantile(means, [0.025, 0.975]))
                rows.append({"group": group, "measure": measure, "target": target, "rho": rho, "ci_low": lo,
                             "ci_high": hi, "n_pairs": int(np.isfinite(point).sum()), "n_cells": cells})
    return pd.DataFrame(rows, columns=["group", "measure", "target", "rho", "ci_low", "ci_high", "n_pairs",
                                       "n_cells"])


def best_measures(corr: pd.DataFrame, target: str = "gain") -> dict:
    """Per group with correlations: the measure whose rho with `target` is largest in size among those whose CI
    excludes 0, or None."""
    out = {}
    for group, s in corr[(corr["target"] == target) & (corr["n_pairs"] > 0)].groupby("group", sort=False):
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
    plateau, fits = plateaus(c, groups, threshold, unit, n_resamples, seed, a)
    mc = measure_cells(a, c, measures, unit)
    runs = {t: per_cell(runs_of(a, mc, "change" if t == "gain" else t, t)) for t in TARGETS} if len(mc) else None
    corr = correlations(mc, groups, n_resamples, seed, runs)
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
    """A plateau CI in words: a missing high bound means some replicates found no plateau at all."""
    if lo is None:
        return "-"
    return f"{lo:,} to {hi:,}" if hi is not None else f"{lo:,} to none yet"


NAMES = {"finetuned": "the fine-tuned score", "gain": "the fine-tuning gain (fine-tuned - BASE)",
         "base": "the BASE score"}


def plateau_text(r: dict, unit: int, threshold: float) -> str:
    """One quantity's plateau in words, naming the quantity: where it plateaus (with CI), or how fast it still
    changes."""
    name, moves = NAMES[r["quantity"]], "rises" if r.get("direction", 1) > 0 else "falls"
    if r["plateau_step"] is not None:
        return (f"{name} plateaus at step {r['plateau_step']:,} (95% CI {_steps(r['ci_low'], r['ci_high'])}): from "
                f"there on it changes by less than {threshold:g} per {unit:,} steps")
    if r["n_steps"] < 2:
        return f"{name}: one checkpoint only, no curve to read"
    text = (f"{name} shows no plateau yet: it still {moves} by {abs(r['rise_after']):.3g} per {unit:,} steps "
            f"between the last two checkpoints (no plateau in {r['p_no_plateau']:.0%} of the bootstrap replicates)")
    return text + (", so more pre-training is still paying off" if r["quantity"] == "finetuned" else "")


def findings(summary: dict) -> list[str]:
    """One sentence per group for report.md: the plateau (with CI) of the fine-tuned score, the fine-tuning gain
    and the BASE score, each named, or that none is visible; and the measure that tracks the gain best."""
    unit, threshold = summary["unit_steps"], summary["threshold"]
    best = summary["best_measure"]
    by = {(r["group"], r["quantity"]): r for r in summary["plateaus"] if r["level"] == "group"}
    out = []
    for g in dict.fromkeys(group for group, _ in by):
        rows = [by[(g, q)] for q in ("finetuned", "gain", "base") if (g, q) in by]
        text = "; ".join(plateau_text(r, unit, threshold) for r in rows)
        b = best.get(g)
        if b:
            text += (f". The BASE measure that tracks the fine-tuning gain best: `{b['measure']}` (Spearman rho "
                     f"{b['rho']:+.2f}, 95% CI {b['ci_low']:+.2f} to {b['ci_high']:+.2f})")
            if b["measure"] == "base" and b["rho"] < 0:
                text += ", negative partly by construction: the gain is fine-tuned minus BASE"
        else:
            text += ". No BASE measure tracks the gain reliably here (every CI includes 0, or too few checkpoints)"
        r = rows[0]
        few = f", only {r['n_steps']} checkpoints: read with care" if r["n_steps"] < 5 else ""
        out.append(f"**{g}** ({r['n_pairs']} pairs{few}): {text}.")
    return out


def figure(sig: dict, path) -> str | None:
    """figures/signal.png. Per group: mean fine-tuned and BASE score and gain (dots), their monotone fits (lines),
    the plateau steps of the fine-tuned score and of the gain with their 95% CIs (shaded); last panel: each
    measure's rank correlation with the gain, 95% CIs."""
    # The look of every report figure (amuro.report.figures), whose helpers this reuses.
    from amuro.report.figures import BASE_COLOR, FT_COLOR, _dodge, _legend_below, _plt, _save, _step_axis

    curves, plat, corr = (sig["frames"][k] for k in ("signal_curves", "signal_plateaus", "signal_correlations"))
    curves = curves[curves["level"] == "group"]
    groups = list(dict.fromkeys(curves["group"]))
    if not groups:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(groups) + 1, figsize=(4.6 * (len(groups) + 1), 3.9), squeeze=False)
    for ax, group in zip(axes[0], groups):
        c = curves[curves["group"] == group]
        # Each quantity its marker and line style, dodged: the BASE score and the gain can coincide (a gain of
        # about the BASE score), the fine-tuned score and the BASE score too.
        for i, (quantity, color, marker, line, label) in enumerate((
                ("finetuned", FT_COLOR, "o", "-", "fine-tuned"), ("base", BASE_COLOR, "D", "--", "BASE"),
                ("gain", GAIN_COLOR, "s", ":", "gain, fine-tuned - BASE"))):
            q = c[c["quantity"] == quantity]
            _dodge(ax, [ax.plot(q["step"], q["mean"], marker, ms=4, color=color, label=f"{label} (mean over pairs)"),
                        ax.plot(q["step"], q["fit"], line, color=color, lw=1.5,
                                label=f"{label}, {'monotone' if quantity == 'gain' else 'isotonic'} fit")], i, 3)
        row = plat[(plat["level"] == "group") & (plat["group"] == group)]
        for quantity, color in (("finetuned", FT_COLOR), ("gain", GAIN_COLOR)):
            r = row[row["quantity"] == quantity]
            if len(r) and pd.notna(r["plateau_step"].iloc[0]):
                r = r.iloc[0]
                ax.axvline(r["plateau_step"], color=color, ls="-.", lw=1, label="plateau of the " + (
                    "fine-tuned score" if quantity == "finetuned" else "gain") + " (shaded: its 95% CI)")
                lo, hi = r["ci_low"], r["ci_high"] if pd.notna(r["ci_high"]) else c["step"].max()
                if pd.notna(lo):
                    ax.axvspan(lo, hi, color=color, alpha=0.12, lw=0)
        row = row[row["quantity"] == "finetuned"]
        ax.set_title(f"{group}\n({int(row['n_pairs'].iloc[0]) if len(row) else 0} pairs)")
        ax.set_ylabel("score (0-1)")
        _step_axis(ax, c["step"])
    ax = axes[0][-1]
    target = "gain" if corr.loc[corr["target"] == "gain", "rho"].notna().any() else "finetuned"
    g = corr[corr["target"] == target]
    measures = [m for m in MEASURES if g.loc[g["measure"] == m, "rho"].notna().any()]
    colors = plt.get_cmap("tab10").colors[4:]  # not the BASE, fine-tuned or gain colours of the panels beside
    width = 0.8 / len(groups)
    for j, group in enumerate(groups):
        s = g[g["group"] == group].set_index("measure").reindex(measures)
        xs = np.arange(len(measures)) + (j - (len(groups) - 1) / 2) * width
        err = np.nan_to_num(np.abs(np.vstack([s["rho"] - s["ci_low"], s["ci_high"] - s["rho"]])))
        ax.bar(xs, s["rho"].fillna(0), width, yerr=err, capsize=3, color=colors[j % len(colors)],
               label=f"rho in group: {group}")
    ax.set_xticks(np.arange(len(measures)))
    ax.set_xticklabels([m.replace("_", " ") for m in measures], rotation=20)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylim(-1.05, 1.05)
    what = "the gain" if target == "gain" else "the fine-tuned score"
    ax.set_ylabel(f"Spearman rho with {what} at the same checkpoint")
    ax.set_title(f"Which BASE measure tracks {what}?\n(mean over pairs, 95% bootstrap CI)")
    _legend_below(fig, ncol=3)
    fig.suptitle(f"Is more pre-training still paying off? (plateau: the fit rises < {sig['summary']['threshold']:g} "
                 f"per {sig['summary']['unit_steps']:,} steps)", fontsize=11)
    return _save(plt, fig, path, rect=(0, 0, 1, 0.95))
