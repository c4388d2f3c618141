"""Diagnostics beside each finding: constant predictions, zero scores, zero-width CIs, ratios on small BASE scores,
absent cells by reason (not in the spec, failed, missing), and the "what this was run on" block with its warning."""

import json

import pandas as pd
import pytest

from amuro.cli import main
from amuro.report import diagnostics as D
from amuro.report import tables
from amuro.report.runinfo import RunPlan
from amuro.study.results import COLUMNS
from amuro.tasks.registry import task_name

STEPS = (20, 54, 400)
N = 24  # documents per task


def row(step, train, d, value, **diag):
    return {"model": "tiny", "revision": f"step{step}", "step": step, "tokens": "", "train": train, "eval": d,
            "format": "default", "num_fewshot": 0, "metric": "rougeL" if d == "xsum" else "acc", "value": value,
            "stderr": 0.01, "n": N, "predictions": "", "empty_generations": "", "examples": "", **diag}


def generated(texts, reference="the farmer sold the box", empty=0):
    """The first generations and how many of the N were empty."""
    return {"empty_generations": empty,
            "examples": json.dumps([{"prediction": t, "reference": reference} for t in texts[:3]])}


def predicted(entailment, neutral, contradiction):
    return {"predictions": json.dumps({"entailment": entailment, "neutral": neutral, "contradiction": contradiction})}


def demo_like_table() -> pd.DataFrame:
    """The demo's failure modes at 3 checkpoints: the BASE model predicts `neutral` for every NLI document (0.333),
    the mnli-tuned model writes nothing on xsum (Rouge-L 0, so every cross-task ratio is exactly -100%), and
    BASE Rouge-L on xsum is 0.05, below the default floor."""
    rows = []
    for step in STEPS:
        rows += [row(step, "base", "mnli", 1 / 3, **predicted(0, N, 0)),
                 row(step, "base", "xsum", 0.05, **generated(["the farmer", "a box", "sold"])),
                 row(step, "mnli", "mnli", 0.9, **predicted(8, 8, 8)),
                 row(step, "mnli", "xsum", 0.0, **generated([""] * 3, "Anna sold the old box.", empty=N)),
                 row(step, "xsum", "mnli", 0.5, **predicted(12, 0, 12)),
                 row(step, "xsum", "xsum", 0.3, **generated(["the farmer sold", "a box", "x"]))]
    return pd.DataFrame(rows, columns=[*COLUMNS, "predictions", "empty_generations", "examples"])


def test_constant_predictions_are_found_and_named_beside_the_findings():
    t = tables.build(demo_like_table())
    const = t["constant_predictions"]
    assert const.to_dict("records") == [{"model": "BASE", "eval": "mnli", "constant": 3, "scores": 3,
                                         "labels": "neutral (3)", "values": "0.333"}]
    gen_to_cls = " ".join(t.notes["mrc"]["gen_to_cls"])
    assert "3 of 3 cells rest on constant BASE predictions" in gen_to_cls and "mnli 'neutral'" in gen_to_cls
    assert not any("fine-tuned predictions" in n for n in t.notes["mrc"]["gen_to_cls"])  # the tuned ones vary
    assert t.summary()["diagnostics"]["constant_predictions"][0]["labels"] == "neutral (3)"


def test_zero_scores_are_explained_by_the_generations():
    t = tables.build(demo_like_table())
    zero = t["zero_scores"]
    assert len(zero) == 3 and set(zero["train"]) == {"mnli"} and set(zero["eval"]) == {"xsum"}
    assert zero["empty_generations"].tolist() == [N] * 3 and zero["reference"].iloc[0] == "Anna sold the old box."
    notes = t.notes["mrc"]["cls_to_gen"]
    assert "fine-tuned on mnli scores Rouge-L 0 on xsum at steps 20, 54, 400: 72 of 72 generations empty" in notes
    # A zero score whose model did write something shows what it wrote.
    df = demo_like_table()
    df.loc[(df["train"] == "mnli") & (df["eval"] == "xsum"), "examples"] = json.dumps(
        [{"prediction": "entailment", "reference": "Anna sold the old box."}])
    df.loc[(df["train"] == "mnli") & (df["eval"] == "xsum"), "empty_generations"] = 0
    notes = " ".join(tables.build(df).notes["mrc"]["cls_to_gen"])
    assert "0 of 72 generations empty; e.g. it wrote 'entailment' for 'Anna sold the old box.'" in notes


def test_a_zero_width_ci_and_an_undefined_p_value_say_why():
    t = tables.build(demo_like_table())
    m = t.mrc["cls_to_gen"]
    assert m["mean"] == pytest.approx(-1.0) and m["ci_low"] == m["ci_high"] and m["p_value"] != m["p_value"]
    assert t.notes["mrc"]["cls_to_gen"][0] == ("the 95% CI has zero width: all 3 cells have the same value (-1), so "
                                               "resampling them cannot vary; the p-value is undefined")
    assert D.ci_notes([0.5], 0.5, 0.5) == ["one cell only: no confidence interval or p-value can be computed"]
    assert D.ci_notes([0.1, 0.3], 0.1, 0.3) == []
    gain = pd.DataFrame({"step": [20, 54], "group": ["g", "g"], "ci_low": [0.2, 0.1], "ci_high": [0.2, 0.3],
                         "n_pairs": [2, 2]})
    assert D.zero_width_steps(gain) == ["zero-width CI (g, step 20): all pairs changed by exactly the same amount"]


def test_ratios_on_a_base_score_below_the_floor_are_noted_and_the_floor_is_an_option(tmp_path):
    t = tables.build(demo_like_table())
    low = [n for n in t.notes["mrc"]["cls_to_gen"] if "below" in n]
    assert low == ["3 of 3 ratios rest on a BASE score below 0.1 (lowest 0.050: xsum at step 20): a small BASE "
                   "score inflates the ratio (--base-floor)"]
    assert not any("below" in n for n in tables.build(demo_like_table(), base_floor=0.01).notes["mrc"]["cls_to_gen"])
    csv = tmp_path / "results.csv"
    demo_like_table().to_csv(csv, index=False)
    assert main(["report", str(csv), "--out", str(tmp_path / "r"), "--base-floor", "0.04"]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["diagnostics"]["base_floor"] == 0.04
    assert not any("below" in n for n in summary["diagnostics"]["notes"]["mrc"]["cls_to_gen"])


def plan_for(df: pd.DataFrame, failed: dict) -> dict:
    """A plan.json as the sweep writes it: base + mnli + xsum at every step, each on mnli and xsum."""
    jobs = [{"name": f"step{s}/{t}", "revision": f"step{s}", "step": s, "train": t,
             "tasks": [task_name("mnli", "default"), task_name("xsum", "default")]}
            for s in STEPS for t in ("base", "mnli", "xsum")]
    return {"spec": "demo", "profile": "smoke", "spec_path": "runs/demo.yaml", "model": "tiny",
            "train": ["mnli", "xsum"],
            "data": {"source": "AMURO_DATA_DIR", "dir": "/data", "synthetic": True, "what": "seeded made-up sets"},
            "jobs": jobs, "failed": failed}


def test_absent_cells_are_not_in_spec_failed_or_missing(tmp_path):
    df = demo_like_table()
    df = df[~((df["step"] == 400) & (df["train"] == "xsum"))]  # its job failed
    df = df[~((df["step"] == 54) & (df["train"] == "mnli") & (df["eval"] == "xsum"))]  # planned, never written
    failed = {"step400/xsum": "AmuroError: training step400/xsum failed (CUDA out of memory)"}
    t = tables.build(df, plan=RunPlan(plan_for(df, failed)))
    cells = t["mrc_cells"].set_index(["direction", "step", "eval", "train"])["status"]
    assert cells[("cls_to_gen", 54, "xsum", "mnli")] == "missing"
    assert cells[("gen_to_cls", 400, "mnli", "xsum")] == "failed"
    assert cells[("cls_to_gen", 20, "xsum", "paws")] == "not_in_spec"  # paws never trained
    assert cells[("cls_to_gen", 20, "socialiqa", "mnli")] == "not_in_spec"  # socialiqa never evaluated
    m = t.mrc["cls_to_gen"]
    assert (m["n"], m["n_missing"], m["n_not_in_spec"], m["n_failed"]) == (2, 1, 9, 0)
    assert t.mrc["gen_to_cls"]["n_failed"] == 1
    notes = t.notes["mrc"]["gen_to_cls"]
    assert "failed job step400/xsum: AmuroError: training step400/xsum failed (CUDA out of memory)" in notes
    assert any(n.startswith("9 of 12 cells not in the spec") for n in notes)
    # Without a plan, every absent cell is `missing`.
    bare = tables.build(df).mrc["cls_to_gen"]
    assert (bare["n_missing"], bare["n_not_in_spec"], bare["n_failed"]) == (10, 0, 0)


def test_report_md_opens_with_what_it_was_run_on_and_the_warning(tmp_path):
    df = demo_like_table()
    csv = tmp_path / "results.csv"
    df.to_csv(csv, index=False)
    (tmp_path / "plan.json").write_text(json.dumps(plan_for(df, {})))
    assert main(["report", str(csv), "--out", str(tmp_path / "r")]) == 0
    first_screen = "\n".join((tmp_path / "r" / "report.md").read_text().splitlines()[:25])
    for text in ("## What this was run on", "**Spec**: `demo`, profile `smoke` (runs/demo.yaml)",
                 "**Model**: `tiny`, 3 checkpoint(s): steps 20, 54, 400", "**Documents per task**: 24",
                 "**Data**: AMURO_DATA_DIR=/data (synthetic: seeded made-up sets), not the Hub's datasets",
                 "**Warning: these numbers cannot support the paper's kind of conclusion.**",
                 "only 24 documents per task (fewer than 100)", "synthetic data (seeded made-up sets)"):
        assert text in first_screen, text
    assert "checkpoint(s) (fewer than 3)" not in first_screen  # 3 checkpoints are enough for that
    run_on = json.loads((tmp_path / "r" / "summary.json").read_text())["run_on"]
    assert run_on["spec"] == "demo" and run_on["documents_per_task"] == {"min": 24, "max": 24, "median": 24.0}
    assert len(run_on["warnings"]) == 2
    report = (tmp_path / "r" / "report.md").read_text()
    assert "| stderr of gain | 2 stderr |" in report  # what the 2-standard-error rule compares
    assert "*Cross-task MRC: left, the mean ratio" in report and "rests on 3 of 12 expected cells (9 not in the " \
                                                                 "spec)" in report


def test_a_pre_training_grouping_on_the_edge_of_the_rule_is_noted():
    from amuro.report.analysis import FLAT, IMPROVES

    pt = pd.DataFrame([
        {"eval": "xsum", "group": FLAT, "gain": 0.0500, "headroom_share": 0.0946, "gain_stderr": 0.001},
        {"eval": "cnn", "group": IMPROVES, "gain": 0.0210, "headroom_share": 0.3, "gain_stderr": 0.01},
        {"eval": "mnli", "group": IMPROVES, "gain": 0.3000, "headroom_share": 0.5, "gain_stderr": 0.01}])
    assert D.knife_edge(pt) == [
        "xsum is on the edge of its group (base flat in pre-training): 9.46% of the headroom (threshold 10%)",
        "cnn is on the edge of its group (base improves in pre-training): gain +0.0210 vs 2 standard errors 0.0200"]


def test_a_tiny_models_size_is_in_the_run_on_block_with_a_warning(tmp_path):
    df = demo_like_table()
    csv = tmp_path / "results.csv"
    df.to_csv(csv, index=False)
    (tmp_path / "plan.json").write_text(json.dumps({**plan_for(df, {}), "parameters": 734_000}))
    assert main(["report", str(csv), "--out", str(tmp_path / "r")]) == 0
    first_screen = "\n".join((tmp_path / "r" / "report.md").read_text().splitlines()[:25])
    assert "**Model**: `tiny`, 0.7M parameters, 3 checkpoint(s)" in first_screen
    assert "a tiny model (0.7M parameters, fewer than 100.0M)" in first_screen


def test_scores_at_the_ceiling_and_correlations_over_few_checkpoints_are_noted(tmp_path):
    """The demo's NLI sets at 1.000 from the first checkpoint on: its "plateau" is a ceiling. Four checkpoints:
    a rank correlation of -1.00 with a CI of -1.00 to -1.00 is what chance gives one time in 12."""
    steps = (20, 54, 147, 400)
    rows = [row(s, "base", d, 0.4 + i / 100) for i, s in enumerate(steps) for d in ("mnli", "rte")]
    rows += [row(s, "mnli", d, 1.0) for s in steps for d in ("mnli", "rte")]
    csv = tmp_path / "results.csv"
    pd.DataFrame(rows, columns=[*COLUMNS, "predictions", "empty_generations", "examples"]).to_csv(csv, index=False)
    assert main(["report", str(csv), "--out", str(tmp_path / "r")]) == 0
    notes = json.loads((tmp_path / "r" / "summary.json").read_text())["diagnostics"]["notes"]["signal"]
    assert notes[0] == ("fine-tuned on mnli scores at the ceiling (accuracy >= 0.99) on mnli, rte at steps 20, 54, "
                        "147, 400 (8 scores): a plateau or a flat gain there says the set is solved, not that more "
                        "pre-training stopped paying off")
    assert notes[1].startswith("the rank correlations rest on at most 4 checkpoints per pair (fewer than 8): with 4 "
                               "points a rho of exactly +1 or -1 arises by chance with probability 0.083")
    report = (tmp_path / "r" / "report.md").read_text()
    assert "- **Ceiling**: fine-tuned on mnli scores at the ceiling" in report  # at a glance, and beside the signal
    assert report.index("## Is more pre-training still paying off?") < report.rindex("the rank correlations rest on")
