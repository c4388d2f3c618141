"""The signal ("Is more pre-training still paying off?"): plateau and correlations by hand, on paper-shaped tables,
and end to end: a real tiny sweep over 5 checkpoints with the BASE completion loss, then `amuro report`."""

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from amuro.report import signal as S
from amuro.report.cells import PAPER_GROUPS
from amuro.study.results import COLUMNS

from test_report import paper_shaped_table

STEPS = (10_000, 50_000, 100_000, 200_000, 300_000, 400_000)


def test_plateau_is_the_first_checkpoint_from_which_every_later_rise_is_below_the_threshold():
    x = np.array([0, 1, 2, 3]) * 100_000.0
    assert S.plateau_index(x, np.array([0.1, 0.3, 0.301, 0.302]), 0.005, 100_000) == 1
    assert S.plateau_index(x, np.array([0.1, 0.2, 0.3, 0.4]), 0.005, 100_000) is None  # still paying off
    assert S.plateau_index(x, np.array([0.3, 0.3, 0.3, 0.3]), 0.005, 100_000) == 0
    # Two checkpoints 20 steps apart (OLMo-1B's step738000 and main) cannot fake a steep last segment.
    close = np.array([1000, 342_000, 738_000, 738_020], dtype=float)
    assert S.plateau_index(close, np.array([0.1, 0.5, 0.5, 0.5001]), 0.005, 100_000) == 1
    assert list(S.isotonic([0.1, 0.3, 0.2, 0.4])) == pytest.approx([0.1, 0.25, 0.25, 0.4])
    rows = np.random.default_rng(1).normal(size=(50, 8))  # the vectorised fit is scipy's, row by row
    from scipy.optimize import isotonic_regression

    assert np.allclose(S.isotonic(rows), [isotonic_regression(r).x for r in rows])
    assert S.unit_steps([5, 100, 400]) == 100 and S.unit_steps([1000, 738020]) == 100_000


def table(rows, stderr=0.002):
    return pd.DataFrame([{"model": "m", "revision": f"step{r['step']}", "tokens": "", "format": "default",
                          "num_fewshot": 0, "metric": "acc", "stderr": stderr, "n": 1000, **r} for r in rows],
                        columns=COLUMNS)


def rising_table(saturate: bool, stderr=0.002) -> pd.DataFrame:
    """mnli: BASE flat at 0.34; fine-tuned rises to 0.80 by 100k and stays (saturate) or keeps rising."""
    rows = []
    for i, step in enumerate(STEPS):
        ft = min(0.5 + 0.3 * step / 100_000, 0.8) if saturate else 0.5 + 0.06 * i
        for d in ("mnli", "mnli_mm"):
            rows += [{"step": step, "train": "base", "eval": d, "value": 0.34},
                     {"step": step, "train": "mnli", "eval": d, "value": ft + (0.01 if d == "mnli_mm" else 0)}]
    return table(rows, stderr)


def test_a_saturating_fine_tuned_score_plateaus_and_a_rising_one_does_not():
    groups = {"nli": (("mnli", "mnli"), ("mnli_mm", "mnli"))}
    flat = S.build(rising_table(True), groups, n_resamples=200)["summary"]
    row = next(r for r in flat["plateaus"] if r["level"] == "group" and r["quantity"] == "finetuned")
    assert row["plateau_step"] == 100_000 and row["ci_low"] <= 100_000 <= row["ci_high"]
    assert not row["still_paying_off"] and row["n_pairs"] == 2 and row["n_steps"] == 6
    assert "plateaus at step 100,000" in S.findings(flat)[0]
    rising = S.build(rising_table(False), groups, n_resamples=200)["summary"]
    row = next(r for r in rising["plateaus"] if r["level"] == "group" and r["quantity"] == "finetuned")
    assert row["plateau_step"] is None and row["still_paying_off"] and row["p_no_plateau"] > 0.9
    assert "the fine-tuned score shows no plateau yet" in S.findings(rising)[0]
    # Noisier scores (stderr 0.03) leave the plateau less certain: in some replicates the fit still rises.
    noisy = S.build(rising_table(True, stderr=0.03), groups, n_resamples=200)["summary"]
    row = next(r for r in noisy["plateaus"] if r["level"] == "group" and r["quantity"] == "finetuned")
    assert row["plateau_step"] == 100_000 and row["ci_high"] is None and row["p_no_plateau"] > 0.025
    json.dumps(flat, allow_nan=False)  # plain JSON: no NaN, no numpy types


def test_rank_correlations_by_hand_and_the_best_measure():
    rng = np.random.default_rng(0)
    rows, measures = [], []
    for i, step in enumerate(STEPS):
        gain = 0.05 * i + rng.normal(0, 0.01)
        for d, noise in (("mnli", 0.0), ("mnli_mm", 0.02)):
            base = 0.34 + rng.normal(0, 0.01)
            rows += [{"step": step, "train": "base", "eval": d, "value": base},
                     {"step": step, "train": "mnli", "eval": d, "value": base + gain + noise * i}]
        measures.append({"model": "m", "revision": f"step{step}", "step": step, "tokens": "", "train": "mnli",
                         "measure": "completion_loss", "value": 3.0 - 0.3 * i + rng.normal(0, 0.05), "n": 8})
    sig = S.build(table(rows), {"nli": (("mnli", "mnli"), ("mnli_mm", "mnli"))}, pd.DataFrame(measures),
                  n_resamples=500)
    cells = sig["frames"]["signal_cells"]
    corr = sig["frames"]["signal_correlations"].set_index(["measure", "target"])
    expected = np.mean([spearmanr(c["completion_loss"], c["gain"]).statistic for _, c in cells.groupby("eval")])
    assert corr.loc[("completion_loss", "gain"), "rho"] == pytest.approx(expected)
    assert corr.loc[("completion_loss", "gain"), "ci_high"] < 0 and corr.loc[("completion_loss", "gain"),
                                                                              "n_cells"] == 12
    assert sig["summary"]["best_measure"]["nli"]["measure"] == "completion_loss"
    # base_slope: the BASE score's change per unit steps since the previous checkpoint (none at the first)
    first = cells[cells["eval"] == "mnli"].sort_values("step")
    assert math.isnan(first["base_slope"].iloc[0])
    assert first["base_slope"].iloc[1] == pytest.approx((first["base"].iloc[1] - first["base"].iloc[0]) / 40_000
                                                         * 100_000)


def test_the_papers_learned_in_pre_training_sets_plateau_on_a_paper_shaped_table():
    sig = S.build(paper_shaped_table(), PAPER_GROUPS, n_resamples=200)["summary"]
    by = {(r["group"], r["quantity"]): r for r in sig["plateaus"] if r["level"] == "group"}
    pt = by[("learned in pre-training", "finetuned")]
    assert pt["plateau_step"] is not None and pt["plateau_step"] <= 342_000 and pt["n_pairs"] == 6
    assert set(sig["measures_available"]) == {"base", "base_slope", "format_spread"}


@pytest.mark.slow
def test_report_on_a_tiny_sweep_of_five_checkpoints_shows_the_signal(tmp_path):
    """The acceptance run: 5 tiny checkpoints, base + mnli, the BASE completion loss on; `amuro report` shows the
    section, the figure and the correlations, and summary.json gets `signal`."""
    from amuro.cli import main
    from amuro.demo.tiny import build_tiny_checkpoints
    from amuro.study.spec import load_spec
    from amuro.study.sweep import Sweep

    from conftest import ROOT

    model = build_tiny_checkpoints(tmp_path / "model", 5)
    spec = load_spec(ROOT / "runs" / "tiny.yaml")
    spec = replace(spec, model=str(model), checkpoints=replace(spec.checkpoints, uniform=5),
                   training={**spec.training, "max_steps": 3, "learning_rate": 0.01},
                   evaluate=replace(spec.evaluate, base=("in_domain",), finetuned=("in_domain",), limit=8,
                                    completion_loss=8))
    results = Sweep(spec, tmp_path / "sweep").run()
    measures = pd.read_csv(results.with_name("base_measures.csv"))
    assert len(measures) == 5 and set(measures["measure"]) == {"completion_loss"} and (measures["value"] > 0).all()
    assert main(["report", str(results), "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    section = report.split("## Is more pre-training still paying off?")[1].split("\n## ")[0]
    assert "**learned in fine-tuning** (2 pairs)" in section and "| completion_loss |" in section
    assert "![is more pre-training still paying off](figures/signal.png)" in section
    assert (tmp_path / "report" / "figures" / "signal.png").stat().st_size > 10_000
    signal = json.loads((tmp_path / "report" / "summary.json").read_text())["signal"]
    assert signal["unit_steps"] == 100 and "completion_loss" in signal["measures_available"]
    group = [r for r in signal["plateaus"] if r["level"] == "group"]
    assert {r["quantity"] for r in group} == {"finetuned", "base", "gain"} and all(r["n_steps"] == 5 for r in group)
    assert {(r["measure"], r["target"]) for r in signal["correlations"] if r["n_pairs"]} >= {
        ("completion_loss", "finetuned"), ("base", "finetuned")}
    # A rerun measures nothing again: the records are kept.
    stamp = (tmp_path / "sweep" / "measures" / "step100-tokens1M.json").stat().st_mtime_ns
    Sweep(spec, tmp_path / "sweep").run()
    assert (tmp_path / "sweep" / "measures" / "step100-tokens1M.json").stat().st_mtime_ns == stamp
