"""`amuro report A.csv --compare B.csv`: findings side by side, paired differences and verdicts, on hand-made tables
whose answers were worked out by hand."""

import json

import pandas as pd
import pytest

from amuro.cli import main
from amuro.report import compare as C
from amuro.report.tables import build

from test_analysis import table

# Two checkpoints; xsum BASE 0.2 at both. A: mnli -> xsum 0.10, 0.15 (ratios -0.5, -0.25);
# B: 0.20, 0.10 (ratios 0, -0.5). Paired differences B - A: +0.5, -0.25.
BASE_ROWS = [(1000, "base", "xsum", 0.2), (2000, "base", "xsum", 0.2)]
A_TABLE = table(*BASE_ROWS, (1000, "mnli", "xsum", 0.10), (2000, "mnli", "xsum", 0.15))
B_TABLE = table(*BASE_ROWS, (1000, "mnli", "xsum", 0.20), (2000, "mnli", "xsum", 0.10))


def finding(df, name):
    return df.set_index("finding").loc[name]


def test_mrc_side_by_side_with_a_paired_difference():
    out = C.compare(build(A_TABLE), build(B_TABLE))
    mrc = finding(out, "MRC: cls_to_gen")
    assert mrc["a"] == pytest.approx(-0.375) and mrc["b"] == pytest.approx(-0.25)
    assert mrc["difference"] == pytest.approx(0.125) and mrc["n_paired"] == 2
    # Bootstrap of two values: the resampled means are the two values and their mean, so the 95% percentile
    # interval spans the two values themselves.
    assert (mrc["a_ci_low"], mrc["a_ci_high"]) == pytest.approx((-0.5, -0.25))
    assert (mrc["b_ci_low"], mrc["b_ci_high"]) == pytest.approx((-0.5, 0.0))
    assert (mrc["diff_ci_low"], mrc["diff_ci_high"]) == pytest.approx((-0.25, 0.5))
    assert not mrc["difference_excludes_0"]
    assert mrc["verdict"] == "weakens (B's CI includes 0)"  # A's CI excludes 0, B's reaches it


@pytest.mark.parametrize("a,b,verdict", [
    ((-0.5, -0.25), (-0.4, -0.1), "holds"),
    ((-0.5, -0.25), (0.1, 0.3), "reverses"),
    ((-0.5, 0.25), (0.1, 0.3), "not a finding in A (its CI includes 0)"),
    ((0.1, 0.2), (-0.1, 0.1), "weakens (B's CI includes 0)"),
    ((float("nan"),) * 2, (0.1, 0.2), "no data in A"),
    # a zero-width CI (one cell, or cells all alike) says nothing about uncertainty: never a verdict
    ((-1.0, -1.0), (-1.0, -1.0), "no verdict (A's CI has zero width: its cells all have one value)"),
    ((-0.5, -0.25), (0.2, 0.2), "no verdict (B's CI has zero width: its cells all have one value)"),
])
def test_verdicts(a, b, verdict):
    assert C._verdict(*a, *b) == verdict


def test_the_cli_writes_the_comparison(tmp_path, capsys):
    a, b = tmp_path / "paper" / "results.csv", tmp_path / "corrected" / "results.csv"
    for path, t in ((a, A_TABLE), (b, B_TABLE)):
        path.parent.mkdir()
        t.to_csv(path, index=False)
    assert main(["report", str(a), "--compare", str(b), "--out", str(tmp_path / "report")]) == 0
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Which findings survive: paper vs corrected" in md  # named by their folders (no profile column)
    assert "| MRC: cls_to_gen | -0.3750 |" in md and "weakens" in md
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["compare"]["a"] == "paper" and summary["compare"]["b"] == "corrected"
    rows = {r["finding"]: r for r in summary["compare"]["findings"]}
    assert rows["MRC: cls_to_gen"]["difference"] == pytest.approx(0.125)
    assert (tmp_path / "report" / "figures" / "compare.png").is_file()
    assert pd.read_csv(tmp_path / "report" / "tables" / "compare.csv")["finding"].tolist()[0] == "MRC: cls_to_gen"


def test_two_runs_alike_get_distinct_labels_or_the_given_ones(tmp_path):
    """Two demos: both profile `corrected`, both in a folder named `sweep` -> told apart by the path's end."""
    a, b = tmp_path / "demo" / "sweep" / "results.csv", tmp_path / "demo2" / "sweep" / "results.csv"
    for path, t in ((a, A_TABLE), (b, B_TABLE)):
        path.parent.mkdir(parents=True)
        t.assign(profile="corrected").to_csv(path, index=False)
    assert main(["report", str(a), "--compare", str(b), "--out", str(tmp_path / "r1")]) == 0
    md = (tmp_path / "r1" / "report.md").read_text()
    assert "## Which findings survive: demo/sweep vs demo2/sweep" in md
    names = json.loads((tmp_path / "r1" / "summary.json").read_text())["compare"]
    assert (names["a"], names["b"]) == ("demo/sweep", "demo2/sweep")
    assert main(["report", str(a), "--compare", str(b), "--labels", "seed 0,seed 1", "--out",
                 str(tmp_path / "r2")]) == 0
    assert "## Which findings survive: seed 0 vs seed 1" in (tmp_path / "r2" / "report.md").read_text()
    assert main(["report", str(a), "--compare", str(a), "--out", str(tmp_path / "r3")]) == 0  # one file twice
    assert "## Which findings survive: sweep [A] vs sweep [B]" in (tmp_path / "r3" / "report.md").read_text()
    assert main(["report", str(a), "--labels", "x,x", "--compare", str(b), "--out", str(tmp_path / "r4")]) == 2
    side = tmp_path / "demo" / "sweep" / "other.csv"  # two tables in one folder: their file names
    B_TABLE.to_csv(side, index=False)
    assert main(["report", str(a), "--compare", str(side), "--out", str(tmp_path / "r5")]) == 0
    assert "## Which findings survive: results.csv vs other.csv" in (tmp_path / "r5" / "report.md").read_text()
