"""Do the findings replicate? Each headline finding (`amuro.report.headline`) in each study of a report (a model,
or a family where a spec names one; never pooled), then the verdict across them.

Per study: the finding's value (mean over its cells) with its 95% CI (cells resampled, then the runs, seeds and
draws of demonstrations, within each: `amuro.report.stats`). The *direction* of a finding is the sign of its value
in the reference study (the first one given to `amuro report`; where its value is 0 or missing, the next study's). A finding *holds* in a study whose CI excludes 0
on that side, is *reversed* in one whose CI excludes 0 on the other side, and is neither where the CI includes 0.
The verdict: "holds in k of n" (n: the studies with cells for it), with the reversals. Where a study shares cells
with the reference (the same step, evaluation set, training set and format: two runs of one family), the paired
difference over those cells is given too, with its CI (the same two-stage resampling, each side's runs on its own)
and a paired t-test over the shared cells. Studies of different families share no steps: their steps mean different
amounts of training, so they are compared through their values, and the figure draws them on one axis of tokens
seen.

summary.json's `replication` (NaN as null; ratios and changes on the 0-1 scale):

    reference        the reference study's name; `direction` in each finding is the sign of its value there
    models           the studies, in the order given
    findings         one record per finding: finding, what, direction (+1 | -1 | null), holds, reversed,
                     n_models (studies with cells for it), verdict ("holds in k of n", and the reversals), and
                     models: one record per study: model, value, ci_low, ci_high, n_cells, runs_per_cell, status
                     ("holds" | "reversed" | "CI includes 0" | "no data"), shares (the variance split: cells, seed,
                     fewshot_seed, residual; null without spread) and paired (null for the reference): with,
                     n_shared, difference (mean over the shared cells of this study - the reference), ci_low,
                     ci_high, p_value (null without shared cells)
    plateaus         one record per study, group and quantity ("finetuned" | "gain" | "base"): plateau_step,
                     plateau_tokens (tokens seen at that checkpoint, where the table has `tokens`), ci_low, ci_high
                     (steps), direction (of the gain's fit), still_paying_off

The report's tables/ get replication.csv (one row per finding and study) and figures/ replication.png.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from amuro.report import headline as H
from amuro.report.stats import jsonable, t_test_p

COLUMNS = ["finding", "what", "model", "value", "ci_low", "ci_high", "n_cells", "runs_per_cell", "status",
           "share_cells", "share_seed", "share_fewshot_seed", "share_residual", "paired_with", "n_shared",
           "difference", "diff_ci_low", "diff_ci_high", "p_value", "direction", "verdict"]


def _status(value, lo, hi, direction) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or math.isnan(lo):
        return "no data"
    if lo <= 0 <= hi:
        return "CI includes 0"
    return "holds" if (lo > 0) == (direction >= 0) else "reversed"


def table(studies: dict, seed: int = 0, n_resamples: int = 10_000) -> pd.DataFrame:
    """One row per finding and study (COLUMNS), each finding's verdict across the studies on all its rows."""
    names = list(studies)
    ref_name, ref = names[0], studies[names[0]]
    wanted = list(dict.fromkeys(f for t in studies.values() for f in H.findings(t)))
    rows = []
    for finding, what in wanted:
        found = {n: t["findings"].set_index("finding").loc[finding] if finding in set(t["findings"]["finding"])
                 else None for n, t in studies.items()}
        values = [found[n]["value"] if found[n] is not None else math.nan for n in names]
        first = next((v for v in values if not math.isnan(v) and v != 0), math.nan)
        direction = 0 if math.isnan(first) else (1 if first > 0 else -1)
        ref_cells = H.cells(ref, finding) if found[ref_name] is not None else None
        for n in names:
            f = found[n]
            row = {"finding": finding, "what": what, "model": n, "direction": direction or None}
            if f is None:
                rows.append({**row, "status": "no data", "n_cells": 0})
                continue
            row.update({k: f[k] for k in ("value", "ci_low", "ci_high", "n_cells", "runs_per_cell", "share_cells",
                                          "share_seed", "share_fewshot_seed", "share_residual")})
            row["status"] = _status(f["value"], f["ci_low"], f["ci_high"], direction)
            if n != ref_name and ref_cells is not None:
                diff, lo, hi = H.paired_ci(ref_cells, H.cells(studies[n], finding), seed, n_resamples)
                row.update({"paired_with": ref_name, "n_shared": len(diff),
                            "difference": diff.mean() if len(diff) else math.nan, "diff_ci_low": lo,
                            "diff_ci_high": hi, "p_value": t_test_p(diff)})
            rows.append(row)
        mine = [r for r in rows if r["finding"] == finding]
        for r in mine:
            r["verdict"] = verdict(mine)
    return pd.DataFrame(rows, columns=COLUMNS)


def verdict(rows) -> str:
    """"holds in k of n", with the reversals and the studies without data."""
    statuses = [r["status"] for r in rows]
    n = sum(s != "no data" for s in statuses)
    if n == 0:
        return "no data"
    text = f"holds in {statuses.count('holds')} of {n}"
    if statuses.count("reversed"):
        text += f", reversed in {statuses.count('reversed')}"
    if n < len(statuses):
        text += f" (no data in {len(statuses) - n})"
    return text


def plateaus(studies: dict) -> pd.DataFrame:
    """Each study's group-level plateau steps (`amuro.report.signal`), with the tokens seen there."""
    rows = []
    for name, t in studies.items():
        for p in (t.signal.get("summary") or {}).get("plateaus", []):
            if p["level"] == "group":
                step = p["plateau_step"]
                rows.append({"model": name, "group": p["group"], "quantity": p["quantity"], "plateau_step": step,
                             "plateau_tokens": t.tokens.get(step) if step is not None else None,
                             "ci_low": p["ci_low"], "ci_high": p["ci_high"], "direction": p.get("direction", 1),
                             "still_paying_off": p["still_paying_off"]})
    return pd.DataFrame(rows, columns=["model", "group", "quantity", "plateau_step", "plateau_tokens", "ci_low",
                                       "ci_high", "direction", "still_paying_off"])


def summary(rep: pd.DataFrame, plat: pd.DataFrame, names: list[str]) -> dict:
    """summary.json's `replication` (the module docstring gives its schema)."""
    findings = []
    for finding, rows in rep.groupby("finding", sort=False):
        first = rows.iloc[0]
        models = []
        for r in rows.to_dict("records"):
            paired = None
            if isinstance(r["paired_with"], str):
                paired = {"with": r["paired_with"], "n_shared": r["n_shared"], "difference": r["difference"],
                          "ci_low": r["diff_ci_low"], "ci_high": r["diff_ci_high"], "p_value": r["p_value"]}
            models.append({"model": r["model"], "value": r["value"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                           "n_cells": r["n_cells"], "runs_per_cell": r["runs_per_cell"], "status": r["status"],
                           "shares": {k: r[f"share_{k}"] for k in ("cells", "seed", "fewshot_seed", "residual")},
                           "paired": paired})
        findings.append({"finding": finding, "what": first["what"], "direction": first["direction"],
                         "holds": int((rows["status"] == "holds").sum()),
                         "reversed": int((rows["status"] == "reversed").sum()),
                         "n_models": int((rows["status"] != "no data").sum()), "verdict": first["verdict"],
                         "models": models})
    return jsonable({"reference": names[0], "models": names, "findings": findings,
                     "plateaus": plat.to_dict("records")})


def figure(rep: pd.DataFrame, studies: dict, path) -> str | None:
    """figures/replication.png: left, each finding in each study with its 95% CI; right, per fine-tuning-gain
    group, the mean gain per checkpoint of each study against the tokens seen (log scale)."""
    from amuro.report.charts import plt_colors
    from amuro.report.figures import _dodge, _legend_below, _plt, _save

    rep = rep.dropna(subset=["value"])
    if rep.empty:
        return None
    plt = _plt()
    names = list(studies)
    groups = list(dict.fromkeys(g for t in studies.values() for g in t["ft_gain"]["group"]))
    findings = list(dict.fromkeys(rep["finding"]))
    fig, axes = plt.subplots(1, 1 + len(groups), figsize=(6 + 4.5 * len(groups), 0.42 * len(findings) + 2.2),
                             squeeze=False)
    ax, colors = axes[0][0], plt_colors(len(names))
    y = np.arange(len(findings))[::-1]
    for j, name in enumerate(names):
        s = rep[rep["model"] == name].set_index("finding").reindex(findings)
        v = s["value"].to_numpy(float)
        err = np.nan_to_num(np.abs(np.vstack([v - s["ci_low"].to_numpy(float), s["ci_high"].to_numpy(float) - v])))
        ax.errorbar(v, y + (j - (len(names) - 1) / 2) * 0.8 / len(names), xerr=err, fmt="o", ms=4, capsize=3,
                    color=colors[j], label=name)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{f}\n{rep.loc[rep['finding'] == f, 'verdict'].iloc[0]}" for f in findings], fontsize=7)
    ax.set_xlabel("value (ratio, change or spread; 0-1 scale)")
    ax.set_title("Each finding in each model (95% CI: cells, then seeds)")
    for ax, group in zip(axes[0][1:], groups):
        tokens_known = True
        for j, (name, t) in enumerate(studies.items()):
            g = t["ft_gain"][t["ft_gain"]["group"] == group].sort_values("step")
            x = [t.tokens.get(int(s)) for s in g["step"]]
            tokens_known &= all(v is not None for v in x)
            x = [v if v is not None else int(s) for v, s in zip(x, g["step"])]
            _dodge(ax, ax.errorbar(x, g["avg_raw_change"], yerr=np.nan_to_num(np.abs(np.vstack(
                [g["avg_raw_change"] - g["ci_low"], g["ci_high"] - g["avg_raw_change"]]))), fmt="-" + "osD^v"[j % 5],
                ms=3, capsize=2, color=colors[j], label=name), j, len(studies))
        ax.set_xscale("log")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel("pre-training tokens seen (log scale)" if tokens_known else
                      "pre-training tokens seen, or the step where a table has no tokens (log scale)")
        ax.set_ylabel("mean change, fine-tuned - BASE (0-1)")
        ax.set_title(f"Fine-tuning gain: {group}")
    _legend_below(fig, title="model")
    fig.suptitle("Do the findings replicate? Each model apart, never averaged", fontsize=11)
    return _save(plt, fig, path, rect=(0, 0, 1, 0.95))
