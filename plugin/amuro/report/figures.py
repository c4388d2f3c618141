"""The report's PNG figures (matplotlib, Agg). Each function draws one figure from analysis tables and saves it.

Scores are fractions (accuracy, Rouge-L F-measure); changes are in score points of that scale; ratios in %.
The step axis is logarithmic when the checkpoints span a factor of 10 or more (the paper's 1k ... 738k, the demo's
log-spaced 20 ... 400), else linear; every checkpoint has a tick mark, labelled where the labels do not collide.
The bar charts (MRC, fine-tuning gain, out-of-domain transfer) are in `amuro.report.charts`.
"""

from __future__ import annotations

import math

from amuro.report.cells import in_format
from amuro.tasks.registry import SETS

BASE_COLOR, FT_COLOR = "#4C72B0", "#DD8452"
FORMAT_STYLE = {"default": "-", "io": ":", "instruct": "--", "harness": "-."}


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
    """Log (symlog when a step is 0) when the steps span >= 10x, else linear. The ticks are placed by `_save`, once
    the layout is final and the axis width known."""
    steps = sorted({int(s) for s in steps})
    positive = [s for s in steps if s > 0]
    log = len(positive) >= 2 and positive[-1] / positive[0] >= 10
    if log and steps[0] <= 0:
        ax.set_xscale("symlog", linthresh=positive[0])
    elif log:
        ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xlabel("pre-training step" + (" (log scale)" if log else ""))
    ax.amuro_steps = (steps, log)


def _step_ticks(ax) -> None:
    """A labelled tick at each checkpoint whose (slanted) label has room after the previous one, the final
    checkpoint always; the others get an unlabelled tick mark, so that no checkpoint goes unmarked."""
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
    ax.minorticks_off()
    ax.set_xticks(ticks)
    ax.set_xticklabels([step_label(s) for s in ticks], rotation=30, ha="right", rotation_mode="anchor")
    ax.set_xticks([s for s in steps if s not in ticks], minor=True)


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
    default = in_format(a)  # the instruction-tuning sets in their harness prompt where they have it
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
        ax.set_title(f"{g} ({len(evals)} set{'s' if len(evals) != 1 else ''})")
        ax.set_ylabel("BASE score (accuracy or Rouge-L F1, 0-1)")
        _step_axis(ax, bc["step"])
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), title="set (metric)")
    fig.suptitle("BASE model across pre-training (default format; dashed: Rouge-L)", fontsize=11)
    return _save(plt, fig, path)


def format_sensitivity(fs, path) -> str | None:
    """Fig. 5: BASE and fine-tuned x the formats (three, or four with harness), per step, one panel per in-domain set scored in several."""
    from amuro.tasks.registry import ALL_FORMATS as FORMATS

    if fs.empty:
        return None
    pairs = list(dict.fromkeys(zip(fs["eval"], fs["train"])))
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
