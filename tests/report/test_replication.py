"""Several models in one report: each analysed apart (never averaged together), the replication table's verdicts,
seeds as a study axis (the hierarchical bootstrap and the variance split, on planted noise), and the plateau of the
fine-tuning gain. Tables are hand-made with answers known by construction."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from amuro.cli import main
from amuro.report import analysis as A
from amuro.report import headline as H
from amuro.report import signal as S
from amuro.report.build import by_study
from amuro.report.stats import hierarchical_ci, variance_split
from amuro.report.tables import build

from test_analysis import table

STEPS = (1000, 2000, 3000, 4000)


def mrc_table(model: str, ratio: float, spread: float = 0.02) -> pd.DataFrame:
    """One model's cross-task MRC cells (4 checkpoints x the 4 cls_to_gen pairs; BASE 0.2): ratios about `ratio`,
    each cell off by up to `spread`; the mirror direction with ratios about 0."""
    rows = []
    for i, step in enumerate(STEPS):
        for d in ("xsum", "socialiqa", "mnli", "paws"):
            rows.append((step, "base", d, 0.2))
        for j, (d, t) in enumerate(A.MRC_PAIRS["cls_to_gen"] + A.MRC_PAIRS["gen_to_cls"]):
            r = (ratio if t in A.CLS_TRAIN else 0.0) + spread * (1 if (i + j) % 2 else -1)
            rows.append((step, t, d, 0.2 * (1 + r)))
    return table(*rows).assign(model=model)


def test_two_models_in_one_table_each_get_their_findings_and_the_verdict_is_holds_in_1_of_2(tmp_path, capsys):
    """Model a loses half its score cross-task (the paper's finding); model b gains 30%: reversed. Concatenated into
    one table, the report gives each its own MRC (as a report on its rows alone would), and the replication
    verdict: holds in 1 of 2, reversed in 1. Nothing is averaged across them."""
    a, b = mrc_table("org/model-a", -0.5), mrc_table("org/model-b", +0.3, spread=0.05)
    both = tmp_path / "both.csv"
    pd.concat([a, b]).to_csv(both, index=False)
    assert main(["report", str(both), "--out", str(tmp_path / "report")]) == 0
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    rep = {f["finding"]: f for f in summary["replication"]["findings"]}
    mrc = rep["MRC: cls_to_gen"]
    assert summary["replication"]["models"] == ["org/model-a", "org/model-b"]
    assert mrc["verdict"] == "holds in 1 of 2, reversed in 1" and mrc["direction"] == -1
    values = {m["model"]: m for m in mrc["models"]}
    alone = {name: A.mrc(t, "cls_to_gen")["mean"] for name, t in (("org/model-a", a), ("org/model-b", b))}
    assert values["org/model-a"]["value"] == pytest.approx(alone["org/model-a"]) == pytest.approx(-0.5)
    assert values["org/model-b"]["value"] == pytest.approx(alone["org/model-b"]) == pytest.approx(0.3)
    assert values["org/model-a"]["status"] == "holds" and values["org/model-b"]["status"] == "reversed"
    # The two share every cell (the same steps): the paired difference b - a over them, with its test.
    paired = values["org/model-b"]["paired"]
    assert paired["with"] == "org/model-a" and paired["n_shared"] == 16
    assert paired["difference"] == pytest.approx(0.8) and paired["ci_low"] > 0 and paired["p_value"] < 1e-6
    # Each model has its own report, with its own MRC; the top report holds the verdicts and the figure.
    for name, value in (("org_model-a", "-50.00%"), ("org_model-b", "+30.00%")):
        own = json.loads((tmp_path / "report" / name / "summary.json").read_text())
        assert own["mrc"]["cls_to_gen"]["mean"] == pytest.approx(float(value[:-1]) / 100)
        assert f"| cls_to_gen | {value} |" in (tmp_path / "report" / name / "report.md").read_text()
    top = (tmp_path / "report" / "report.md").read_text()
    assert "**MRC: cls_to_gen** (mean ratio of change): holds in 1 of 2, reversed in 1" in top
    assert "duplicated keys averaged" not in top and (tmp_path / "report" / "figures" / "replication.png").is_file()
    # The same studies from two files (`amuro report a.csv b.csv`), and a key held twice within one model is an
    # error that names it.
    files = [tmp_path / "a.csv", tmp_path / "b.csv"]
    a.to_csv(files[0], index=False)
    b.to_csv(files[1], index=False)
    studies = by_study(files)
    assert list(studies) == ["org/model-a", "org/model-b"] and [s for _, s in studies.values()] == [[files[0]],
                                                                                                [files[1]]]
    assert studies["org/model-b"][0]["value"].tolist() == pytest.approx(b["value"].tolist())
    pd.concat([a, a.iloc[:1]]).to_csv(files[0], index=False)
    assert main(["report", *map(str, files), "--out", str(tmp_path / "dup")]) == 2
    assert "model 'org/model-a': 2 rows share one key (step 1000, train base" in capsys.readouterr().err


def seeded_table(seed_sd: float, draw_sd: float, cell_sd: float = 0.03, seeds=3, draws=3, rng_seed=0):
    """A gain finding over 20 checkpoints x 8 in-domain pairs = 160 cells, each fine-tuned with `seeds` seeds and
    evaluated on `draws` draws of demonstrations: change = cell effect + seed effect + draw effect (independent,
    normal, with the given standard deviations), BASE 0.3 on every draw."""
    rng = np.random.default_rng(rng_seed)
    pairs = [("mnli", "mnli"), ("mnli_mm", "mnli"), ("paws", "paws"), ("xsum", "xsum"), ("xlsum", "xsum"),
             ("socialiqa", "socialiqa"), ("boolq", "tulu"), ("arc_easy", "tulu")]
    rows = []
    for step in range(1000, 21000, 1000):
        for d in dict.fromkeys(d for d, _ in pairs):
            rows += [(step, "base", d, 0.3, "", f) for f in range(draws)]
        for d, t in pairs:
            cell, seed_fx, draw_fx = rng.normal(0.1, cell_sd), rng.normal(0, seed_sd, seeds), rng.normal(0, draw_sd,
                                                                                                       draws)
            rows += [(step, t, d, 0.4 + cell - 0.1 + seed_fx[s] + draw_fx[f], s, f) for s in range(seeds)
                     for f in range(draws)]
    t = table(*[r[:4] for r in rows])
    t["seed"], t["fewshot_seed"] = [r[4] for r in rows], [r[5] for r in rows]
    return t, {"g": tuple(pairs)}


def gain_finding(t, groups):
    a = A.analysed(t)
    c = A.present(A.cells(a, groups["g"]))
    runs = A.runs_of(a, c, "change")
    return c, runs


def test_planted_seed_noise_widens_the_ci_and_the_variance_split_recovers_its_share():
    widths = []
    for seed_sd in (0.0, 0.02, 0.06):
        c, runs = gain_finding(*seeded_table(seed_sd, 0.0))
        lo, hi = hierarchical_ci(A.per_cell(runs), n_resamples=2000)
        widths.append(hi - lo)
        assert lo < c["change"].mean() < hi
    assert widths[0] < widths[1] < widths[2]
    # Planted shares of one run's variance: cells 0.03^2, seeds 0.02^2, draws 0.015^2 -> 58%, 26%, 15%.
    planted = np.array([0.03, 0.02, 0.015]) ** 2
    planted = planted / planted.sum()
    for rng_seed in (0, 1, 2):
        _, runs = gain_finding(*seeded_table(0.02, 0.015, rng_seed=rng_seed))
        shares = variance_split(runs)["shares"]
        found = np.array([shares["cells"], shares["seed"], shares["fewshot_seed"]])
        assert np.abs(found - planted).max() < 0.10, (rng_seed, found, planted)
        assert shares["residual"] < 0.05  # none planted
    # Seed noise alone: the cells' means vary by it too, which the split does not count as between-cell spread.
    _, runs = gain_finding(*seeded_table(0.06, 0.0, cell_sd=0.0))
    assert variance_split(runs)["shares"]["cells"] < 0.05
    # Without runs, the CI is the flat bootstrap's over cells, number for number.
    flat, groups = seeded_table(0.0, 0.0, seeds=1, draws=1)
    flat = flat.assign(seed="", fewshot_seed="")
    c, runs = gain_finding(flat, groups)
    from amuro.report.stats import bootstrap_ci

    assert hierarchical_ci(A.per_cell(runs)) == bootstrap_ci(c["change"])


def test_the_report_gives_each_finding_its_ci_over_seeds_and_its_variance_split(tmp_path):
    t, groups = seeded_table(0.02, 0.015)
    tables = build(t, groups)
    row = tables["findings"].set_index("finding").loc["gain: g"]
    assert row["n_cells"] == 160 and row["runs_per_cell"] == 9
    assert row["share_cells"] + row["share_seed"] + row["share_fewshot_seed"] + row["share_residual"] == \
        pytest.approx(1.0)
    # The gain table's CI per checkpoint resamples the runs too: wider than over the cell means alone.
    gain = tables["ft_gain"].iloc[0]
    means = A.cells(t, groups["g"])
    means = means[means["step"] == gain["step"]]
    from amuro.report.stats import bootstrap_ci

    lo, hi = bootstrap_ci(means["change"])
    assert gain["ci_high"] - gain["ci_low"] > hi - lo
    # --compare resamples the same way: a run compared with itself differs by 0, within the seeds' noise.
    from amuro.report.compare import compare

    same = compare(tables, tables, n_resamples=2000).set_index("finding").loc["gain: g"]
    assert same["n_paired"] == 160 and same["difference"] == 0 and same["diff_ci_low"] < 0 < same["diff_ci_high"]
    assert (same["a_ci_low"], same["a_ci_high"]) == pytest.approx((row["ci_low"], row["ci_high"]), abs=2e-3)
    from amuro.report.markdown import render

    md = render(tmp_path / "results.csv", tables, {})
    section = md.split("## Seeds and demonstrations")[1].split("\n## ")[0]
    assert "Fine-tuning seeds: 0, 1, 2; draws of demonstrations: 0, 1, 2; up to 9 runs per cell" in section
    assert "| gain: g |" in section


def gain_plateau_table(plateau_at: int = 400_000) -> pd.DataFrame:
    """The paper's "learned in pre-training" pairs over 9 checkpoints (0 to 800k): the BASE score keeps rising (0.04
    per 100k), the fine-tuning gain rises 0.03 per 100k until `plateau_at` and stays; the fine-tuned score is their
    sum, so it keeps rising too."""
    rows = []
    for step in range(0, 900_000, 100_000):
        base = 0.3 + 0.04 * step / 100_000
        gain = 0.03 * min(step, plateau_at) / 100_000
        for d, t in dict.fromkeys(A.LEARNED_IN_PT):
            rows += [(step, "base", d, base, "harness", 0, 0.002), (step, t, d, base + gain, "harness", 0, 0.002)]
    return table(*rows)


def test_the_report_names_the_gains_plateau_where_the_base_score_keeps_rising():
    sig = S.build(gain_plateau_table(), {"learned in pre-training": A.LEARNED_IN_PT}, n_resamples=300)["summary"]
    by = {r["quantity"]: r for r in sig["plateaus"] if r["level"] == "group"}
    assert abs(by["gain"]["plateau_step"] - 400_000) <= 100_000 and by["gain"]["direction"] == 1
    assert by["base"]["plateau_step"] is None and by["finetuned"]["plateau_step"] is None
    line = S.findings(sig)[0]
    assert "the fine-tuning gain (fine-tuned - BASE) plateaus at step 400,000" in line
    assert "the fine-tuned score shows no plateau yet" in line and "the BASE score shows no plateau yet" in line
    # A gain that shrinks as the BASE model learns the task (the paper's reading of these sets) plateaus too.
    falling = gain_plateau_table()
    falling.loc[falling["train"] != "base", "value"] = [
        v - 2 * (0.03 * min(s, 400_000) / 100_000) for v, s in zip(falling.loc[falling["train"] != "base", "value"],
                                                                    falling.loc[falling["train"] != "base", "step"])]
    sig = S.build(falling, {"g": A.LEARNED_IN_PT}, n_resamples=300)["summary"]
    gain = next(r for r in sig["plateaus"] if r["level"] == "group" and r["quantity"] == "gain")
    assert gain["direction"] == -1 and abs(gain["plateau_step"] - 400_000) <= 100_000


def test_findings_of_a_study_without_runs_match_the_compare_numbers():
    t = build(mrc_table("m", -0.5))
    row = t["findings"].set_index("finding").loc["MRC: cls_to_gen"]
    c, runs = H.cells(t, "MRC: cls_to_gen")
    assert row["value"] == pytest.approx(-0.5) and row["runs_per_cell"] == 1 and len(runs) == len(c) == 16
    assert row["share_seed"] == 0 and row["share_cells"] == 1
    assert not math.isnan(row["ci_low"])
