"""The report's bar charts (matplotlib, Agg): cross-task MRC, fine-tuning gain by checkpoint, out-of-domain
transfer. Shared helpers (styles, the step axis, saving) are in `amuro.report.figures`."""

from __future__ import annotations

import numpy as np

from amuro.report.figures import _dodge, _legend_below, _plt, _save, _step_axis


def mrc(summary_mrc: dict, by_step, path) -> str | None:
    """Cross-task MRC: the overall mean ratio with its 95% CI, and per checkpoint."""
    if all(m["n"] == 0 for m in summary_mrc.values()):
        return None
    all_steps = by_step
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1, 1.6]})
    names = {"cls_to_gen": "trained on classification,\nscored on generation",
             "gen_to_cls": "trained on generation,\nscored on classification"}
    colors = {"cls_to_gen": "#C44E52", "gen_to_cls": "#55A868"}
    markers = {"cls_to_gen": "o-", "gen_to_cls": "s--"}
    labels = []
    for i, (d, m) in enumerate(summary_mrc.items()):
        mean = np.nan if m["mean"] is None else m["mean"]
        lo = mean if m["ci_low"] is None else m["ci_low"]
        hi = mean if m["ci_high"] is None else m["ci_high"]
        left.bar(i, 100 * mean, color=colors[d], width=0.6,
                 yerr=[[100 * (mean - lo)], [100 * (hi - mean)]], capsize=6)
        value = "no cells" if np.isnan(mean) else f"MRC {100 * mean:+.2f}%, n={m['n']}"
        labels.append(f"{names[d]}\n{value}")
    left.axhline(0, color="black", lw=0.8)
    left.set_xticks(range(len(summary_mrc)))
    left.set_xticklabels(labels, fontsize=8)
    left.set_ylabel("MRC: mean (fine-tuned - BASE) / BASE (%)")
    left.set_title("Cross-task MRC over all checkpoints (95% bootstrap CI)")
    steps = sorted(all_steps["step"].unique())
    for i, (d, s) in enumerate(all_steps.groupby("direction", sort=False)):
        s = s.set_index("step")["mrc"].reindex(steps)  # NaN breaks the line: a checkpoint without a ratio
        drawn = right.plot(steps, 100 * s, markers[d], color=colors[d], label=names[d].replace("\n", " "))
        gaps = s[s.isna()].index
        if len(gaps):
            drawn += right.plot(gaps, [0] * len(gaps), "x", ms=8, mew=2, color=colors[d],
                                label=f"no ratio at this checkpoint ({d}: BASE 0 or no cells)")
        _dodge(right, drawn, i, 2)  # the two directions may take one value (e.g. both 0)
    right.axhline(0, color="black", lw=0.8)
    if steps:
        _step_axis(right, steps)
    right.set_ylabel("MRC at the checkpoint (%)")
    right.set_title("Cross-task MRC per checkpoint (default format)")
    _legend_below(fig, ncol=2)
    return _save(plt, fig, path)


def _grouped_bars(ax, table, value: str, lo: str | None, hi: str | None, scale: float, key: str = "group"):
    steps = sorted(table["step"].unique())
    groups = list(dict.fromkeys(table[key]))
    width = 0.8 / max(len(groups), 1)
    colors = plt_colors(len(groups))
    for j, g in enumerate(groups):
        s = table[table[key] == g].set_index("step").reindex(steps)
        x = np.arange(len(steps)) + (j - (len(groups) - 1) / 2) * width
        y = scale * s[value].to_numpy(dtype=float)
        err = None
        if lo and hi:
            err = np.abs(np.vstack([y - scale * s[lo].to_numpy(dtype=float), scale * s[hi].to_numpy(dtype=float) - y]))
            err = np.nan_to_num(err)
        ax.bar(x, y, width, yerr=err, capsize=3, color=colors[j], label=g)
    ax.set_xticks(np.arange(len(steps)))
    ax.set_xticklabels([f"{s:,}" for s in steps], rotation=30)
    ax.set_xlabel("pre-training step of the fine-tuned checkpoint")
    ax.axhline(0, color="black", lw=0.8)


def plt_colors(n: int):
    base = ["#DD8452", "#4C72B0", "#55A868", "#C44E52", "#8172B3", "#937860"]
    return [base[i % len(base)] for i in range(n)]


def ft_gain(gain, path, title: str) -> str | None:
    """Fig. 4 / Table 6: average fine-tuning gain per checkpoint and group."""
    if gain.empty:
        return None
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    _grouped_bars(left, gain, "avg_raw_change", "ci_low", "ci_high", 1.0)
    left.set_ylabel("mean change, fine-tuned - BASE (score points, 0-1)")
    left.set_title("Average raw change (95% bootstrap CI over pairs)")
    _grouped_bars(right, gain, "avg_ratio", "ratio_ci_low", "ratio_ci_high", 100.0)
    right.set_ylabel("mean change / BASE (%)")
    right.set_title("Average change ratio (95% bootstrap CI over pairs with a ratio)")
    _legend_below(fig, ncol=6, title="group")
    fig.suptitle(title, fontsize=11)
    return _save(plt, fig, path)


def ood_transfer(ood, path) -> str | None:
    """Fig. 7: out-of-domain change per task family, all (set, checkpoint) cells."""
    ood = ood[ood["n"] > 0] if not ood.empty else ood
    if ood.empty:
        return None
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    labels = [f"{f.replace('_', ' ')}\n{s.replace(' ', ', ')}\nfrom {t}" for f, s, t in
              zip(ood["family"], ood["sets"], ood["train"])]
    x = np.arange(len(ood))
    for ax, (v, lo, hi), scale, ylabel, title in (
            (left, ("mean_change", "change_ci_low", "change_ci_high"), 1.0,
             "mean change, fine-tuned - BASE (score points, 0-1)", "Mean raw change (what the paper's Fig. 7 plots)"),
            (right, ("mean_ratio", "ratio_ci_low", "ratio_ci_high"), 100.0, "mean change / BASE (%)",
             "Mean change ratio")):
        y = scale * ood[v].to_numpy(dtype=float)
        err = np.nan_to_num(np.abs(np.vstack([y - scale * ood[lo].to_numpy(dtype=float),
                                              scale * ood[hi].to_numpy(dtype=float) - y])))
        ax.bar(x, y, yerr=err, capsize=5, color=plt_colors(len(ood)))
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=8)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("task family: out-of-domain sets, training set")
        ax.set_title(title)
    fig.suptitle("Out-of-domain transfer after fine-tuning (default format, 95% bootstrap CI over cells)",
                 fontsize=11)
    return _save(plt, fig, path)


