"""`amuro report A.csv --compare B.csv`: the study's headline findings side by side for two runs of it (typically the
`paper` and `corrected` profiles), each with its difference and whether that difference's CI excludes 0.

Every finding is a mean over cells (a cell: checkpoint step x training set x evaluation set x format, or for the
format spread: step x set x BASE/fine-tuned). Cells present in both tables are paired, and the difference B - A is
bootstrapped over those pairs (10,000 seeded resamples, percentile 95% CI); each side's own CI is bootstrapped over
its own cells. A finding *holds* in B when A's CI excludes 0 and B's CI excludes 0 on the same side; it *weakens*
when B's CI includes 0, *reverses* when B's excludes 0 on the other side; *not a finding in A* when A's CI includes 0.

| finding | cells | value |
|---|---|---|
| cross-task MRC, each way | the MRC pairs, default format | ratio (fine-tuned - BASE) / BASE |
| fine-tuning gain, each Table 6 group | the group's pairs | raw change; also at the last checkpoint, and the plateau step of the pre-training signal |
| out-of-domain transfer, each family | the registry's OOD pairs, default format | raw change |
| format spread, BASE and fine-tuned | in-domain sets scored in several formats | max - min over the formats |
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from amuro.report import analysis as A
from amuro.report.stats import bootstrap_ci

KEYS = ["step", "eval", "train", "format", "copy"]
COLUMNS = ["finding", "what", "a", "a_ci_low", "a_ci_high", "n_a", "b", "b_ci_low", "b_ci_high", "n_b",
           "difference", "diff_ci_low", "diff_ci_high", "n_paired", "difference_excludes_0", "verdict"]


def _cells(t, finding: str) -> pd.DataFrame:
    """(keys..., value) of one finding's cells in one report's tables."""
    kind, _, name = finding.partition(": ")
    if kind == "MRC":
        c = t["mrc_cells"]
        c = c[(c["direction"] == name) & (c["status"] == A.OK)].assign(value=lambda x: x["ratio"])
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
    c = c.copy()
    c["copy"] = c.groupby(["step", "eval", "train", "format"]).cumcount()  # SciQ counted twice stays twice
    return c[KEYS + ["value"]]


def findings(t) -> list[tuple[str, str]]:
    """(finding, what its value is) for every headline finding the tables hold."""
    out = [(f"MRC: {d}", "mean ratio of change") for d in A.MRC_PAIRS]
    for g in t.groups:
        out += [(f"gain: {g}", "mean raw change"), (f"gain at the last checkpoint: {g}", "mean raw change")]
    out += [(f"OOD transfer: {f}", "mean raw change") for f in dict.fromkeys(t["ood_by_family"].get("family", []))]
    out += [(f"format spread: {m}", "mean max - min over formats") for m in ("base", "fine-tuned")]
    return out


def _verdict(a_lo, a_hi, b_lo, b_hi) -> str:
    if any(math.isnan(x) for x in (a_lo, a_hi)):
        return "no data in A"
    if any(math.isnan(x) for x in (b_lo, b_hi)):
        return "no data in B"
    if a_lo <= 0 <= a_hi:
        return "not a finding in A (its CI includes 0)"
    if b_lo <= 0 <= b_hi:
        return "weakens (B's CI includes 0)"
    return "holds" if (a_lo > 0) == (b_lo > 0) else "reverses"


def compare(ta, tb, seed: int = 0, n_resamples: int = 10_000) -> pd.DataFrame:
    """One row per finding: A, B, B - A with CIs, and the verdict."""
    rows = []
    for finding, what in findings(ta):
        ca, cb = _cells(ta, finding), _cells(tb, finding)
        paired = ca.merge(cb, on=KEYS, suffixes=("_a", "_b"))
        diff = (paired["value_b"] - paired["value_a"]).to_numpy()
        a_lo, a_hi = bootstrap_ci(ca["value"], 0.95, n_resamples, seed)
        b_lo, b_hi = bootstrap_ci(cb["value"], 0.95, n_resamples, seed)
        d_lo, d_hi = bootstrap_ci(diff, 0.95, n_resamples, seed)
        rows.append({"finding": finding, "what": what,
                     "a": ca["value"].mean() if len(ca) else math.nan, "a_ci_low": a_lo, "a_ci_high": a_hi,
                     "n_a": len(ca), "b": cb["value"].mean() if len(cb) else math.nan, "b_ci_low": b_lo,
                     "b_ci_high": b_hi, "n_b": len(cb), "difference": diff.mean() if len(diff) else math.nan,
                     "diff_ci_low": d_lo, "diff_ci_high": d_hi, "n_paired": len(diff),
                     "difference_excludes_0": bool(len(diff) and not d_lo <= 0 <= d_hi),
                     "verdict": _verdict(a_lo, a_hi, b_lo, b_hi)})
    return pd.DataFrame(rows, columns=COLUMNS)


def plateaus(ta, tb) -> pd.DataFrame:
    """Where each group's fine-tuned score stops paying off (the pre-training signal), in A and in B."""
    def per_group(t):
        rows = [p for p in (t.signal.get("summary") or {}).get("plateaus", [])
                if p.get("level") == "group" and p.get("score") == "finetuned"]
        return {p["group"]: p for p in rows}

    a, b = per_group(ta), per_group(tb)
    return pd.DataFrame([{"group": g, **{f"a_{k}": a.get(g, {}).get(k) for k in ("plateau_step", "ci_low", "ci_high")},
                          **{f"b_{k}": b.get(g, {}).get(k) for k in ("plateau_step", "ci_low", "ci_high")}}
                         for g in dict.fromkeys([*a, *b])])


def summary(table: pd.DataFrame, plateaus: pd.DataFrame, names: tuple[str, str], other) -> dict:
    """summary.json's `compare`: {"a", "b", "other_results", "findings": [...], "plateaus": [...]}."""
    from amuro.report.stats import jsonable

    return jsonable({"a": names[0], "b": names[1], "other_results": str(other),
                     "findings": table.to_dict("records"), "plateaus": plateaus.to_dict("records")})


def figure(table: pd.DataFrame, path, a_name: str, b_name: str) -> str | None:
    """A forest plot: each finding's A and B with their CIs, and B - A with its CI."""
    from amuro.report.figures import _plt, _save

    table = table.dropna(subset=["a", "b"], how="all")
    if table.empty:
        return None
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 0.45 * len(table) + 1.6), sharey=True)
    y = np.arange(len(table))[::-1]
    for offset, side, color, name in ((0.15, "a", "#4C72B0", a_name), (-0.15, "b", "#DD8452", b_name)):
        v = table[side].to_numpy(dtype=float)
        err = np.nan_to_num(np.abs(np.vstack([v - table[f"{side}_ci_low"], table[f"{side}_ci_high"] - v])))
        left.errorbar(v, y + offset, xerr=err, fmt="o", color=color, capsize=3, label=name)
    v = table["difference"].to_numpy(dtype=float)
    err = np.nan_to_num(np.abs(np.vstack([v - table["diff_ci_low"], table["diff_ci_high"] - v])))
    right.errorbar(v, y, xerr=err, fmt="s", color="black", capsize=3)
    for ax in (left, right):
        ax.axvline(0, color="grey", lw=0.8)
    left.set_yticks(y)
    left.set_yticklabels(table["finding"], fontsize=8)
    left.set_xlabel("value (ratio, change or spread; 0-1 scale)")
    left.set_title("Each finding in both runs (95% bootstrap CI over cells)")
    left.legend(loc="best", fontsize=8)
    right.set_xlabel(f"{b_name} - {a_name}")
    right.set_title("Difference, paired by cell (95% bootstrap CI)")
    return _save(plt, fig, path)
