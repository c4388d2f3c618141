"""`amuro report A.csv --compare B.csv`: the study's headline findings side by side for two runs of it (typically the
`paper` and `corrected` profiles), each with its difference and whether that difference's CI excludes 0.

Every finding is a mean over cells (`amuro.report.headline`, which lists them). Cells present in both tables are
paired, and the difference B - A is bootstrapped over those pairs (10,000 seeded resamples, percentile 95% CI);
each side's own CI is bootstrapped over its own cells. Both resample the cells, then the runs within each cell
(seeds and draws of demonstrations, where the tables have them: `amuro.report.stats`). A finding *holds* in B
when A's CI excludes 0 and B's CI excludes 0 on the same side; it *weakens* when B's CI includes 0, *reverses*
when B's excludes 0 on the other side; *not a finding in A* when A's CI includes 0; *no verdict* when either CI
has zero width (one cell, or cells that all have the same value: resampling them cannot vary, so the interval says
nothing about uncertainty).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from amuro.report import headline as H
from amuro.report.cells import per_cell
from amuro.report.stats import hierarchical_ci

COLUMNS = ["finding", "what", "a", "a_ci_low", "a_ci_high", "n_a", "b", "b_ci_low", "b_ci_high", "n_b",
           "difference", "diff_ci_low", "diff_ci_high", "n_paired", "difference_excludes_0", "verdict"]


def _verdict(a_lo, a_hi, b_lo, b_hi) -> str:
    if any(math.isnan(x) for x in (a_lo, a_hi)):
        return "no data in A"
    if any(math.isnan(x) for x in (b_lo, b_hi)):
        return "no data in B"
    if a_lo == a_hi or b_lo == b_hi:
        return f"no verdict ({'A' if a_lo == a_hi else 'B'}'s CI has zero width: its cells all have one value)"
    if a_lo <= 0 <= a_hi:
        return "not a finding in A (its CI includes 0)"
    if b_lo <= 0 <= b_hi:
        return "weakens (B's CI includes 0)"
    return "holds" if (a_lo > 0) == (b_lo > 0) else "reverses"


def compare(ta, tb, seed: int = 0, n_resamples: int = 10_000) -> pd.DataFrame:
    """One row per finding: A, B, B - A with CIs, and the verdict."""
    rows = []
    for finding, what in H.findings(ta):
        a, b = H.cells(ta, finding), H.cells(tb, finding)
        (ca, ra), (cb, rb) = a, b
        diff, d_lo, d_hi = H.paired_ci(a, b, seed, n_resamples)
        a_lo, a_hi = hierarchical_ci(per_cell(ra), 0.95, n_resamples, seed)
        b_lo, b_hi = hierarchical_ci(per_cell(rb), 0.95, n_resamples, seed)
        rows.append({"finding": finding, "what": what,
                     "a": ca["value"].mean() if len(ca) else math.nan, "a_ci_low": a_lo, "a_ci_high": a_hi,
                     "n_a": len(ca), "b": cb["value"].mean() if len(cb) else math.nan, "b_ci_low": b_lo,
                     "b_ci_high": b_hi, "n_b": len(cb), "difference": diff.mean() if len(diff) else math.nan,
                     "diff_ci_low": d_lo, "diff_ci_high": d_hi, "n_paired": len(diff),
                     "difference_excludes_0": bool(len(diff) and not d_lo <= 0 <= d_hi),
                     "verdict": _verdict(a_lo, a_hi, b_lo, b_hi)})
    return pd.DataFrame(rows, columns=COLUMNS)


def plateaus(ta, tb) -> pd.DataFrame:
    """Where each group's fine-tuned score, BASE score and fine-tuning gain stop changing (the pre-training
    signal's plateau steps, `amuro.report.signal`), in A and in B."""
    def per_group(t):
        rows = [p for p in (t.signal.get("summary") or {}).get("plateaus", []) if p.get("level") == "group"]
        return {(p["group"], p["quantity"]): p for p in rows}

    a, b = per_group(ta), per_group(tb)
    return pd.DataFrame([{"group": g, "quantity": q,
                          **{f"a_{k}": a.get((g, q), {}).get(k) for k in ("plateau_step", "ci_low", "ci_high")},
                          **{f"b_{k}": b.get((g, q), {}).get(k) for k in ("plateau_step", "ci_low", "ci_high")}}
                         for g, q in dict.fromkeys([*a, *b])],
                        columns=["group", "quantity", *(f"{s}_{k}" for s in "ab"
                                                        for k in ("plateau_step", "ci_low", "ci_high"))])


def summary(table: pd.DataFrame, plateaus: pd.DataFrame, names: tuple[str, str], other) -> dict:
    """summary.json's `compare`: {"a", "b", "other_results", "findings": [...], "plateaus": [...]}."""
    from amuro.report.stats import jsonable

    return jsonable({"a": names[0], "b": names[1], "other_results": str(other),
                     "findings": table.to_dict("records"), "plateaus": plateaus.to_dict("records")})


def figure(table: pd.DataFrame, path, a_name: str, b_name: str) -> str | None:
    """A forest plot with a row of panels per kind of value, each on its own scale (ratios in %, changes and
    spreads in score points: on one axis the small ones would be dots at 0): left, each finding's A and B with their
    CIs; right, B - A with its CI."""
    import textwrap

    from amuro.report.figures import _legend_below, _plt, _save

    table = table.dropna(subset=["a", "b"], how="all")
    if table.empty:
        return None
    plt = _plt()
    kinds = list(dict.fromkeys(table["what"]))
    sizes = [int((table["what"] == k).sum()) for k in kinds]
    fig, axes = plt.subplots(len(kinds), 2, figsize=(13, 0.55 * len(table) + 1.2 * len(kinds) + 1.2), sharey="row",
                             squeeze=False, gridspec_kw={"height_ratios": sizes, "width_ratios": [1.3, 1]})
    for (left, right), kind in zip(axes, kinds):
        rows = table[table["what"] == kind]
        scale, unit = (100.0, "%") if kind == "mean ratio of change" else (1.0, "score points, 0-1 scale")
        y = np.arange(len(rows))[::-1].astype(float)
        for offset, side, color, marker, name in ((0.15, "a", "#4C72B0", "o", a_name),
                                                  (-0.15, "b", "#DD8452", "s", b_name)):
            v = scale * rows[side].to_numpy(dtype=float)
            err = np.nan_to_num(np.abs(np.vstack([v - scale * rows[f"{side}_ci_low"].to_numpy(dtype=float),
                                                  scale * rows[f"{side}_ci_high"].to_numpy(dtype=float) - v])))
            left.errorbar(v, y + offset, xerr=err, fmt=marker, ms=6, color=color, capsize=4, label=name)
        v = np.round(scale * rows["difference"].to_numpy(dtype=float), 10)  # float noise, not a 1e-14 axis
        err = np.nan_to_num(np.abs(np.vstack([v - scale * rows["diff_ci_low"].to_numpy(dtype=float),
                                              scale * rows["diff_ci_high"].to_numpy(dtype=float) - v])))
        right.errorbar(v, y, xerr=err, fmt="D", ms=6, color="black", capsize=4,
                       label=f"{b_name} - {a_name}, paired by cell")
        for ax in (left, right):
            ax.axvline(0, color="grey", lw=0.8)
            ax.tick_params(labelsize=10)
            ax.set_ylim(-0.6, len(rows) - 0.4)
        left.set_yticks(y)
        left.set_yticklabels([textwrap.fill(f, 32) for f in rows["finding"]])
        left.set_xlabel(f"{kind} ({unit})", fontsize=10)
        right.set_xlabel(textwrap.fill(f"{b_name} - {a_name} ({unit})", 60), fontsize=10)
    axes[0][0].set_title("Each finding in both runs (95% bootstrap CI over cells)", fontsize=11)
    axes[0][1].set_title("Difference, paired by cell (95% bootstrap CI)", fontsize=11)
    _legend_below(fig, ncol=3, fontsize=10)
    return _save(plt, fig, path)
