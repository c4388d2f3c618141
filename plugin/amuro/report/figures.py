"""The report's PNG figures (matplotlib, Agg). Each function draws one figure from analysis tables and saves it.

Scores are fractions (accuracy, Rouge-L F-measure); changes are in score points of that scale; ratios in %.
The step axis is logarithmic when the checkpoints span more than a factor of 20 (the paper's 1k ... 738k), else
linear, with a tick at each checkpoint where the ticks do not collide.
"""

from __future__ import annotations

import math

import numpy as np

from amuro.tasks.registry import SETS

BASE_COLOR, FT_COLOR = "#4C72B0", "#DD8452"
FORMAT_STYLE = {"default": "-", "io": ":", "instruct": "--"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3, "axes.titlesize": 10,
                         "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 8})
    return plt


def step_label(step: int) -> str:
    """A short axis label: 738020 -> 738k (bar charts, where neighbours must differ, print the full step)."""
    if step >= 1_000_000:
        return f"{step / 1e6:.3g}M"
    if step >= 10_000:
        return f"{round(step / 1000)}k"
    if step >= 1000:
        return f"{step / 1000:g}k"
    return str(step)


def _step_axis(ax, steps) -> None:
    """Log (symlog when a step is 0) when the steps span > 20x, else linear. The ticks are placed by `_save`, once
    the layout is final and the axis width known."""
    steps = sorted({int(s) for s in steps})
    positive = [s for s in steps if s > 0]
    log = len(positive) >= 2 and positive[-1] / positive[0] > 20
    if log and steps[0] <= 0:
        ax.set_xscale("symlog", linthresh=positive[0])
    elif log:
        ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xlabel("pre-training step" + (" (log scale)" if log else ""))
    ax.amuro_steps = (steps, log)


def _step_ticks(ax) -> None:
    """A tick at each checkpoint whose (slanted) label has room after the previous one; the final checkpoint
    always gets one."""
    steps, log = ax.amuro_steps
    positive = [s for s in steps if s > 0] or [1]
    pos = (lambda s: math.log10(max(s, positive[0] / 2))) if log else float
    span = (pos(steps[-1]) - pos(steps[0])) or 1.0
    gap = 0.25 / max(ax.get_position().width * ax.figure.get_figwidth(), 0.5)  # inches between ticks
    ticks = [steps[0]]
    for s in steps[1:]:
        if (pos(s) - pos(ticks[-1])) / span >= gap:
            ticks.append(s)
    if ticks[-1] != steps[-1]:  # replace a neighbour too close to the final checkpoint
        if len(ticks) > 1:
            ticks.pop()
        ticks.append(steps[-1])
    ax.set_xticks(ticks)
    ax.set_xticklabels([step_label(s) for s in ticks], rotation=30, ha="right", rotation_mode="anchor")
    ax.minorticks_off()


def _metric_label(evals) -> str:
    metrics = {SETS[d].metrics[0] for d in evals}
    if metrics == {"rougeL"}:
        return "Rouge-L F1 (0-1)"
    if metrics == {"acc"}:
        return "accuracy (0-1)"
    return "score (accuracy or Rouge-L F1, 0-1)"


def _grid(plt, n: int, ncols: int = 4, w: float = 3.6, h: float = 2.7):
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows + 0.8), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _save(plt, fig, path, rect=(0, 0, 1, 1)) -> str:
    steps_axes = [ax for ax in fig.axes if hasattr(ax, "amuro_steps")]
    for ax in steps_axes:  # provisional ticks, so that the layout makes room for slanted labels
        _step_ticks(ax)
    fig.tight_layout(rect=rect)
    for ax in steps_axes:  # the final ticks, for the final axis widths (labels of the same height)
        _step_ticks(ax)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return str(path)


def _line(ax, s, color, label, steps, style="-", marker="o"):
    """Score against step; a checkpoint missing from `s` leaves a gap instead of being bridged."""
    s = s.set_index("step").reindex(sorted(set(steps)))
    x = s.index.to_numpy()
    ax.plot(x, s["value"], style, marker=marker, ms=3.5, color=color, label=label)
    if s["stderr"].notna().any():
        ax.fill_between(x, s["value"] - s["stderr"], s["value"] + s["stderr"], color=color, alpha=0.2, lw=0)


def curves(a, pairs, title: str, path, ncols: int = 4) -> str | None:
    """BASE vs fine-tuned score per step, one panel per (eval, train) pair; ±1 stderr bands (Fig. 3/8/9/10/11/12)."""
    from amuro.study.results import BASE

    pairs = [(d, t) for d, t in dict.fromkeys(pairs) if ((a["eval"] == d) & (a["train"] == t)).any()]
    if not pairs:
        return None
    plt = _plt()
    fig, axes = _grid(plt, len(pairs), ncols)
    default = a[a["format"] == "default"]
    for ax, (d, t) in zip(axes, pairs):
        _line(ax, default[(default["eval"] == d) & (default["train"] == BASE)], BASE_COLOR, "BASE", a["step"])
        _line(ax, default[(default["eval"] == d) & (default["train"] == t)], FT_COLOR, f"fine-tuned on {t}",
              a["step"])
        ax.set_title(f"{d} (trained on {t})")
        ax.set_ylabel(_metric_label([d]))
        _step_axis(ax, a["step"])
        ax.legend(loc="best")
    fig.suptitle(f"{title}\ndefault format; shaded: ±1 standard error", fontsize=11)
    return _save(plt, fig, path)


def base_curves(bc, pt, path) -> str | None:
    """Fig. 2: BASE score per set against step, split by the data's own grouping."""
    from amuro.report.analysis import FLAT, IMPROVES

    if bc.empty:
        return None
    plt = _plt()
    single = "BASE score (a single checkpoint: no trend)"
    group = {d: dict(zip(pt["eval"], pt["group"])).get(d, single) for d in bc["eval"].unique()}
    panels = [g for g in (IMPROVES, FLAT, single) if g in group.values()]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.4), squeeze=False)
    colors, markers = plt.get_cmap("tab10").colors, "osD^v<>"
    for ax, g in zip(axes.flat, panels):
        evals = [d for d in SETS if group.get(d) == g]
        for i, d in enumerate(evals):
            s = bc[bc["eval"] == d]
            style = "--" if SETS[d].metrics[0] == "rougeL" else "-"
            _line(ax, s, colors[i % len(colors)], f"{d} ({SETS[d].metrics[0]})", bc["step"], style,
                  markers[i % len(markers)])
        ax.set_title(f"{g} ({len(evals)} sets)")
        ax.set_ylabel("BASE score (accuracy or Rouge-L F1, 0-1)")
        _step_axis(ax, bc["step"])
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), title="set (metric)")
    fig.suptitle("BASE model across pre-training (default format; dashed: Rouge-L)", fontsize=11)
    return _save(plt, fig, path)


def mrc(summary_mrc: dict, by_step, path) -> str | None:
    """Cross-task MRC: the overall mean ratio with its 95% CI, and per checkpoint."""
    if all(m["n"] == 0 for m in summary_mrc.values()):
        return None
    by_step = by_step.dropna(subset=["mrc"])
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1, 1.6]})
    names = {"cls_to_gen": "trained on classification,\nscored on generation",
             "gen_to_cls": "trained on generation,\nscored on classification"}
    colors = {"cls_to_gen": "#C44E52", "gen_to_cls": "#55A868"}
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
    for d, s in by_step.groupby("direction", sort=False):
        right.plot(s["step"], 100 * s["mrc"], marker="o", color=colors[d], label=names[d].replace("\n", " "))
    right.axhline(0, color="black", lw=0.8)
    if len(by_step):
        _step_axis(right, by_step["step"])
    right.set_ylabel("MRC at the checkpoint (%)")
    right.set_title("Cross-task MRC per checkpoint (default format)")
    right.legend(loc="best")
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
    _grouped_bars(right, gain, "avg_ratio", None, None, 100.0)
    right.set_ylabel("mean change / BASE (%)")
    right.set_title("Average change ratio")
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), bbox_to_anchor=(0.5, 0.94), frameon=False,
               fontsize=9)
    fig.suptitle(title, fontsize=11)
    return _save(plt, fig, path, rect=(0, 0, 1, 0.9))


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


def format_sensitivity(fs, path, evals=None) -> str | None:
    """Fig. 5: BASE and fine-tuned x the three formats, per step, one panel per in-domain set."""
    from amuro.tasks.registry import FORMATS

    if fs.empty:
        return None
    pairs = list(dict.fromkeys(zip(fs["eval"], fs["train"])))
    if evals:
        pairs = [p for p in pairs if p[0] in evals] or pairs
    plt = _plt()
    fig, axes = _grid(plt, len(pairs), ncols=min(4, len(pairs)), w=3.6, h=2.8)
    for ax, (d, t) in zip(axes, pairs):
        s = fs[(fs["eval"] == d) & (fs["train"] == t)]
        for model, color in (("base", BASE_COLOR), ("fine-tuned", FT_COLOR)):
            m = s[s["model"] == model].sort_values("step")
            for f in FORMATS:
                if m[f].notna().any():
                    ax.plot(m["step"], m[f], FORMAT_STYLE[f], marker="o", ms=3, color=color,
                            label=f"{'BASE' if model == 'base' else 'fine-tuned'} {f}")
        ax.set_title(f"{d} (trained on {t})")
        ax.set_ylabel(_metric_label([d]))
        _step_axis(ax, fs["step"])
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=6 if len(pairs) > 2 else 3, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle("Format sensitivity: BASE (blue) and fine-tuned (orange) in each prompt format", fontsize=11)
    return _save(plt, fig, path, rect=(0, 0.06, 1, 1))


def format_spread(spread, path) -> str | None:
    """Mean spread (max - min over formats) per step, BASE vs fine-tuned."""
    if spread.empty:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for model, color in (("base", BASE_COLOR), ("fine-tuned", FT_COLOR)):
        s = spread[spread["model"] == model].sort_values("step")
        ax.plot(s["step"], s["mean_spread"], marker="o", color=color, label="BASE" if model == "base" else model)
    _step_axis(ax, spread["step"])
    ax.set_ylabel("mean spread, max - min over formats (score points)")
    ax.set_title("Format sensitivity: spread between prompt formats,\nmean over in-domain sets")
    ax.legend(loc="best")
    return _save(plt, fig, path)
