"""The report's figures as a reader meets them: every figure in report.md has a caption, no legend covers data, no
two tick labels collide, and series with equal values stay apart. The figures are drawn by the real report (the
tiny sweep's table, compared with a copy of itself; two models for the replication) and kept open for inspection
(`amuro.report.figures.KEEP_OPEN`)."""

import itertools
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from amuro.cli import main
from amuro.report import figures as F
from amuro.report.tables import build

from test_analysis import table
from test_replication import mrc_table
from test_report import TINY


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """The report.md files and every figure they drew, still open: {report.md: text}, [Figure]."""
    tmp = tmp_path_factory.mktemp("legible")
    other = tmp / "other" / "results.csv"
    other.parent.mkdir()
    df = pd.read_csv(TINY)
    df.assign(value=(df["value"] * 1.05).clip(0, 1)).to_csv(other, index=False)
    two = tmp / "two" / "results.csv"
    two.parent.mkdir()
    pd.concat([mrc_table("a", -0.5), mrc_table("b", 0.3)]).to_csv(two, index=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(F, "KEEP_OPEN", True)
        mp.setitem(plt.rcParams, "figure.max_open_warning", 0)  # some 20 figures, open on purpose
        plt.close("all")
        assert main(["report", str(TINY), "--compare", str(other), "--out", str(tmp / "r")]) == 0
        assert main(["report", str(two), "--out", str(tmp / "rep")]) == 0
        figs = [plt.figure(n) for n in plt.get_fignums()]
    reports = {p: p.read_text() for p in (tmp / "r" / "report.md", tmp / "rep" / "report.md")}
    yield reports, figs
    plt.close("all")


def test_every_figure_in_report_md_has_a_caption(drawn):
    reports, figs = drawn
    seen = set()
    for path, md in reports.items():
        lines = md.splitlines()
        for i, line in enumerate(lines):
            for name in re.findall(r"!\[[^\]]*\]\(figures/([^)]+)\)", line):
                seen.add(name)
                caption = lines[i + 2] if i + 2 < len(lines) else ""  # the image, a blank line, the caption
                assert lines[i + 1] == "" and re.fullmatch(r"\*.{40,}\*", caption), (path, name, caption)
                assert "rest" in caption.lower(), (name, caption)  # what it shows and what it rests on
    assert {"signal.png", "compare.png", "replication.png", "format_sensitivity.png", "mrc.png"} <= seen
    assert {f.get_label() for f in figs} >= seen  # each one drawn, kept open for the tests below


def _points(ax) -> np.ndarray:
    """Display coordinates of every plotted point: line vertices (with any sideways offset) and bar corners."""
    pts = [line.get_transform().transform(line.get_xydata()) for line in ax.get_lines() if len(line.get_xydata())]
    pts += [p.get_transform().transform(p.get_path().vertices) for p in ax.patches]
    pts = np.vstack(pts) if pts else np.empty((0, 2))
    return pts[np.isfinite(pts).all(axis=1)]


def test_no_legend_covers_data_or_a_panel(drawn):
    _, figs = drawn
    for fig in figs:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
        for legend, ax in itertools.product(legends, [ax for ax in fig.axes if ax.get_visible()]):
            box = legend.get_window_extent(renderer)
            assert not box.overlaps(ax.bbox), (fig.get_label(), ax.get_title())
            assert not box.count_contains(_points(ax)), (fig.get_label(), ax.get_title())


def _collide(a, b, renderer) -> bool:
    """Two tick labels overlap: their boxes do, or, slanted alike (the step axes' labels), their baselines are
    closer than a line of their text (the boxes of slanted text overlap before the letters do)."""
    if not a.get_rotation() % 180:
        return a.get_window_extent(renderer).overlaps(b.get_window_extent(renderer))
    (xa, _), (xb, _) = (t.get_transform().transform(t.get_position()) for t in (a, b))
    return abs(xa - xb) * abs(np.sin(np.radians(a.get_rotation()))) < a.get_fontsize() * a.figure.dpi / 72


def test_no_two_tick_labels_collide(drawn):
    _, figs = drawn
    for fig in figs:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax in (ax for ax in fig.axes if ax.get_visible()):
            for axis in (ax.xaxis, ax.yaxis):
                labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
                for a, b in itertools.combinations(labels, 2):
                    assert not _collide(a, b, renderer), (fig.get_label(), ax.get_title(), a.get_text(), b.get_text())


def test_format_series_with_equal_values_stay_apart(tmp_path, monkeypatch):
    """BASE scores mnli 0.33 in every format at every checkpoint: its three series coincide in value, yet each
    has its own marker and line style and sits beside the others."""
    rows = [(s, "base", "mnli", 0.33, f) for s in (1000, 2000, 3000) for f in ("default", "io", "instruct")]
    rows += [(s, "mnli", "mnli", v, f) for s in (1000, 2000, 3000) for f, v in (("default", 0.8), ("io", 0.8))]
    monkeypatch.setattr(F, "KEEP_OPEN", True)
    path = F.format_sensitivity(build(table(*rows))["format_sensitivity"], tmp_path / "fs.png")
    fig = plt.figure(plt.get_fignums()[-1])
    assert fig.get_label() == "fs.png" and (tmp_path / "fs.png").stat().st_size and path
    fig.canvas.draw()
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert set(lines) == {"BASE default", "BASE io", "BASE instruct", "fine-tuned default", "fine-tuned io"}
    for a, b in itertools.combinations(lines.values(), 2):
        look = lambda line: (line.get_marker(), line.get_linestyle(), line.get_color(), line.get_markerfacecolor())
        assert look(a) != look(b), (a.get_label(), b.get_label())
        assert np.array_equal(a.get_ydata(), b.get_ydata()) <= (a.get_marker() != b.get_marker() and
                                                                a.get_linestyle() != b.get_linestyle())
        xa, xb = (line.get_transform().transform(line.get_xydata())[:, 0] for line in (a, b))
        assert (np.abs(xa - xb) >= 1).all(), (a.get_label(), b.get_label())  # a pixel apart at least, each step
    plt.close(fig)
