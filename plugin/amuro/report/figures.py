"""The report's PNG figures (matplotlib, Agg). Each function draws one figure from analysis tables and saves it.

Scores are fractions (accuracy, Rouge-L F-measure); changes are in score points of that scale; ratios in %.
The step axis is logarithmic when the checkpoints span a factor of 10 or more (the paper's 1k ... 738k, the demo's
log-spaced 20 ... 400), else linear; every checkpoint has a tick mark, labelled where the labels do not collide.
Legends sit outside the panels (below the figure, or beside a panel), so that they never cover data; series that may
hold equal values differ in marker and line style and are dodged sideways by a few points (`_dodge`), so that one
never hides another. Each figure's caption in report.md is in `amuro.report.captions`.
The bar charts (MRC, fine-tuning gain, out-of-domain transfer) are in `amuro.report.charts`.
"""

from __future__ import annotations

import math
from pathlib import Path

from amuro.report.cells import in_format
from amuro.tasks.registry import SETS

BASE_COLOR, FT_COLOR = "#4C72B0", "#DD8452"
FORMAT_STYLE = {"default": "-", "io": ":", "instruct": "--", "harness": "-."}
FORMAT_MARKER = {"default": "o", "io": "s", "instruct": "^", "harness": "D"}
KEEP_OPEN = False  # tests set it to inspect the drawn figures (pyplot's figure list, each labelled by its file)


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


def _dodge(ax, artists, i: int, n: int, points: float = 2.0):
    """Shift the drawn `artists` of series i of n sideways by a few points (12 at most from first to last):
    series with equal values stay visible side by side, on a linear or log axis alike, while the ticks mark the
    true steps. Set after plotting, so that the axes' limits still come from the data."""
    from matplotlib.cbook import flatten
    from matplotlib.transforms import offset_copy

    step = min(points, 12 / max(n - 1, 1))
    shift = offset_copy(ax.transData, fig=ax.figure, x=(i - (n - 1) / 2) * step, units="points")
    for artist in flatten(artists):  # lines, bands, an errorbar's parts
        if artist is not None:
            artist.set_transform(shift)


def _legend_below(fig, ncol: int | None = None, **kw) -> None:
    """One legend for the whole figure, below its panels, with each label of every panel once: outside every axes,
    it never covers data (`_save` keeps it in the PNG)."""
    entries = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if entries:
        fig.legend(list(entries.values()), list(entries), loc="upper center", bbox_to_anchor=(0.5, 0),
                   ncol=ncol or min(len(entries), 4), frameon=False, **kw)


def _save(plt, fig, path, rect=(0, 0, 1, 1)) -> str:
    steps_axes = [ax for ax in fig.axes if hasattr(ax, "amuro_steps")]
    for ax in steps_axes:  # provisional ticks, so that the layout makes room for slanted labels
        _step_ticks(ax)
    fig.tight_layout(rect=rect)
    for ax in steps_axes:  # the final ticks, for the final axis widths (labels of the same height)
        _step_ticks(ax)
    fig.savefig(path, bbox_inches="tight")  # "tight": the PNG grows to hold legends outside the panels
    fig.set_label(Path(path).name)
    if not KEEP_OPEN:
        plt.close(fig)
    return str(path)


def _line(ax, s, color, label, steps, style="-", marker="o", dodge=None):
    """Score against step; a checkpoint missing from `s` leaves a gap instead of being bridged. `dodge`: (i, n),
    this series' place among the panel's n (`_dodge`)."""
    s = s.set_index("step").reindex(sorted(set(steps)))
    x = s.index.to_numpy()
    drawn = ax.plot(x, s["value"], style, marker=marker, ms=3.5, color=color, label=label)
    if s["stderr"].notna().any():
        drawn.append(ax.fill_between(x, s["value"] - s["stderr"], s["value"] + s["stderr"], color=color, alpha=0.2,
                                     lw=0))
    if dodge:
        _dodge(ax, drawn, *dodge)


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
        _line(ax, default[(default["eval"] == d) & (default["train"] == BASE)], BASE_COLOR, "BASE", a["step"],
              dodge=(0, 2))
        _line(ax, default[(default["eval"] == d) & (default["train"] == t)], FT_COLOR,
              "fine-tuned (on the training set in the panel's title)", a["step"], "--", "s", dodge=(1, 2))
        ax.set_title(f"{d} (trained on {t})")
        ax.set_ylabel(_metric_label([d]))
        _step_axis(ax, a["step"])
    _legend_below(fig)
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
                  markers[i % len(markers)], dodge=(i, len(evals)))
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
        # BASE filled, fine-tuned hollow; each format its marker and line style; every series dodged: formats
        # often score alike, and a series drawn over an equal one must still show.
        series = [(model, f) for model in ("base", "fine-tuned") for f in FORMATS
                  if s.loc[s["model"] == model, f].notna().any()]
        for i, (model, f) in enumerate(series):
            m = s[s["model"] == model].sort_values("step")
            color = BASE_COLOR if model == "base" else FT_COLOR
            _dodge(ax, ax.plot(m["step"], m[f], FORMAT_STYLE[f], marker=FORMAT_MARKER[f], ms=4, color=color,
                               mfc=color if model == "base" else "white",
                               label=f"{'BASE' if model == 'base' else 'fine-tuned'} {f}"), i, len(series))
        ax.set_title(f"{d} (trained on {t})")
        ax.set_ylabel(_metric_label([d]))
        _step_axis(ax, fs["step"])
    _legend_below(fig, ncol=2)  # a column for BASE, one for fine-tuned
    fig.suptitle("Format sensitivity: BASE (blue, filled) and fine-tuned (orange, hollow) in each prompt format",
                 fontsize=11)
    return _save(plt, fig, path)


def format_spread(spread, path) -> str | None:
    """Mean spread (max - min over formats) per step, BASE vs fine-tuned."""
    if spread.empty:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, (model, color, style) in enumerate((("base", BASE_COLOR, "o-"), ("fine-tuned", FT_COLOR, "s--"))):
        s = spread[spread["model"] == model].sort_values("step")
        _dodge(ax, ax.plot(s["step"], s["mean_spread"], style, color=color,
                           label="BASE" if model == "base" else model), i, 2)
    _step_axis(ax, spread["step"])
    ax.set_ylabel("mean spread, max - min over formats\n(score points)")
    ax.set_title("Format sensitivity: spread between prompt formats,\nmean over in-domain sets")
    _legend_below(fig)
    return _save(plt, fig, path)
