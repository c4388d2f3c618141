"""`amuro report`: end to end through the CLI on the tiny sweep's table and on a paper-shaped synthetic table."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from amuro.report import analysis as A
from amuro.cli import main
from amuro.tasks.registry import FORMATS, SETS
from amuro.study.results import COLUMNS

TINY = Path(__file__).parents[1] / "fixtures" / "results_tiny.csv"  # made by make_results_tiny.py
PAPER_STEPS = (1000, 18000, 342000, 424000, 505000, 592000, 738000, 738020)  # 738020: OLMo-1B's `main`
FIGURES = ("mrc", "ft_gain", "ft_gain_auto", "base_curves", "in_domain_sft", "in_domain_tulu", "ood_sets",
           "ood_transfer", "format_sensitivity", "format_spread", "cross_task_cls", "cross_task_gen")


def paper_shaped_table(seed: int = 0) -> pd.DataFrame:
    """8 checkpoints x (BASE + 5 fine-tuned) x 19 sets x 3 formats, with the paper's qualitative shape: the
    reasoning sets improve in pre-training and gain nothing from Tulu; fine-tuning lifts its in-domain sets,
    classification training wipes out generation, generation training leaves classification alone."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, step in enumerate(PAPER_STEPS):
        progress = 1 - math.exp(-step / 60000)
        for d, s in SETS.items():
            gen = s.kind == "generation"
            floor = 0.05 if gen else 0.25 if s.family == "reasoning" else 0.34 if s.family == "nli" else 0.55
            top = floor + (0.35 if s.family == "reasoning" and d != "boolq" else 0.0)
            base = floor + (top - floor) * progress
            for train in ("base", "mnli", "paws", "xsum", "socialiqa", "tulu"):
                for fmt in FORMATS:
                    v = base + rng.normal(0, 0.01 if not gen else 0.004)
                    if train in s.in_domain_for and train != "tulu":
                        v = (0.75 if not gen else 0.2) + 0.08 * progress - (0.2 * (1 - progress) if fmt != "default"
                                                                           else 0)
                    elif train == "tulu" and d == "boolq":
                        v += 0.08 + 0.04 * progress
                    elif train in s.ood_for:
                        v += rng.normal(0.03 if s.family == "nli" else -0.02, 0.01)
                    elif train in ("mnli", "paws") and gen:
                        v = abs(rng.normal(0.01, 0.01))
                    if fmt != "default" and train == "base":
                        v += rng.normal(0, 0.02)
                    v = float(min(max(v, 0.0), 1.0))
                    rows.append({"model": "allenai/OLMo-1B-hf" if train == "base" else f"sft/{train}-{step}",
                                 "revision": "main" if step == 738020 else f"step{step}", "step": step,
                                 "tokens": step * 4194304, "train": train, "eval": d, "format": fmt,
                                 "num_fewshot": 4, "metric": s.metrics[0], "value": v,
                                 "stderr": math.sqrt(v * (1 - v) / 1000) if not gen else 0.001, "n": 1000})
    return pd.DataFrame(rows, columns=COLUMNS)


def check_summary_schema(summary: dict) -> None:
    for direction in ("cls_to_gen", "gen_to_cls"):
        m = summary["mrc"][direction]
        for key in ("mean", "median", "ratio_of_means", "ci_low", "ci_high", "p_value"):
            assert m[key] is None or isinstance(m[key], float), (direction, key)
        assert isinstance(m["n"], int)
    assert isinstance(summary["ft_gain"], list) and summary["ft_gain"]
    for row in summary["ft_gain"]:
        assert isinstance(row["step"], int) and isinstance(row["group"], str) and isinstance(row["n_pairs"], int)
        for key in ("avg_raw_change", "avg_ratio", "slope_per_100k"):
            assert row[key] is None or isinstance(row[key], float)


def test_the_tiny_table_is_what_its_generator_writes():
    """results_tiny.csv holds invented, OLMo-1B-like numbers; tests/fixtures/make_results_tiny.py says which."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_results_tiny", TINY.parent / "make_results_tiny.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render() == TINY.read_text()


def test_report_on_the_tiny_sweep_through_the_cli(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(TINY), "--out", str(out)]) == 0
    assert f"report written to {out / 'report.md'}" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    check_summary_schema(summary)
    # mnli -> xsum is the only classification -> generation pair the tiny sweep has: 3 cells, 9 missing
    m = summary["mrc"]["cls_to_gen"]
    assert m["n"] == 3 and m["n_missing"] == 9 and -1 < m["mean"] < -0.5
    assert summary["mrc"]["gen_to_cls"]["n"] == 3 and abs(summary["mrc"]["gen_to_cls"]["mean"]) < 0.1
    df = pd.read_csv(TINY)
    base = df[(df.train == "base") & (df["eval"] == "xsum") & (df.format == "default")].set_index("step")["value"]
    ft = df[(df.train == "mnli") & (df["eval"] == "xsum") & (df.format == "default")].set_index("step")["value"]
    assert m["mean"] == pytest.approx(((ft - base) / base).mean())
    gain = {(r["group"], r["step"]): r for r in summary["ft_gain"]}
    assert set(gain) == {("learned in fine-tuning", s) for s in (20000, 342000, 738020)}  # tulu sets absent
    assert gain[("learned in fine-tuning", 20000)]["n_pairs"] == 2  # (mnli, mnli), (xsum, xsum)
    ood = {r["family"]: r for r in summary["ood_transfer"]}
    assert ood["nli"]["n"] == 2 and ood["nli"]["n_missing"] == 4  # rte x 3 checkpoints, one run absent; no gpt3nli
    report = (out / "report.md").read_text()
    assert "## Cross-task mean ratio of change (MRC)" in report and "## Skipped cells" in report
    assert summary["input"]["rows"] == 107 and summary["input"]["steps"] == [20000, 342000, 738020]
    for name in ("mrc_cells", "ft_gain", "ood_by_family", "format_sensitivity", "changes"):
        assert (out / "tables" / f"{name}.csv").stat().st_size > 0
    fs = pd.read_csv(out / "tables" / "format_sensitivity.csv")
    assert set(fs["eval"]) == {"mnli", "xsum"}
    for name in ("mrc", "ft_gain", "base_curves", "format_sensitivity", "ood_transfer", "cross_task_cls"):
        png = out / "figures" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"figures/{name}.png" in report


def test_report_on_a_paper_shaped_table(tmp_path):
    df = paper_shaped_table()
    csv = tmp_path / "results.csv"
    df.to_csv(csv, index=False)
    out = tmp_path / "report"
    assert main(["report", str(csv), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    check_summary_schema(summary)
    assert summary["mrc"]["cls_to_gen"]["n"] == 32 and summary["mrc"]["cls_to_gen"]["mean"] < -0.5
    # the mean of the 32 per-cell ratios, from the table itself: fine-tuned on mnli or paws, scored on xsum or
    # socialiqa, against the BASE score of the same step
    default = df[df["format"] == "default"]
    base = default[default["train"] == "base"].set_index(["step", "eval"])["value"]
    ft = default[default["train"].isin(["mnli", "paws"]) & default["eval"].isin(["xsum", "socialiqa"])]
    ratios = [(r.value - base[(r.step, r.eval)]) / base[(r.step, r.eval)] for r in ft.itertuples()]
    assert len(ratios) == 32 and summary["mrc"]["cls_to_gen"]["mean"] == pytest.approx(np.mean(ratios))
    assert summary["mrc"]["cls_to_gen"]["ci_high"] < 0 < summary["mrc"]["gen_to_cls"]["ci_high"]
    assert len(summary["ft_gain"]) == 16 and {r["n_pairs"] for r in summary["ft_gain"]} == {7, 6}
    groups = {r["eval"]: r["group"] for r in summary["pt_groups"]}
    assert {d for d, g in groups.items() if g == A.IMPROVES} == {"arc_easy", "arc_challenge", "openbookqa",
                                                                  "hellaswag", "sciq_mc"}
    for name in FIGURES:
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000, name


def test_groups_override_and_bad_inputs(tmp_path, capsys):
    groups = tmp_path / "groups.json"
    groups.write_text(json.dumps({"nli": [["mnli", "mnli"], ["rte", "mnli"]]}))
    out = tmp_path / "r"
    assert main(["report", str(TINY), "--out", str(out), "--groups", str(groups)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {r["group"] for r in summary["ft_gain"]} == {"nli"}
    assert summary["ft_gain_groups"]["nli"][1] == ["rte", "mnli"]
    capsys.readouterr()
    cases = [
        (["report", str(tmp_path / "nope.csv"), "--out", str(out)], "no such results file"),
        (["report", str(TINY), "--out", str(out), "--groups", str(tmp_path / "nope.json")], "no such groups file"),
    ]
    groups.write_text(json.dumps({"g": [["mnli_matched", "mnli"]]}))
    cases.append((["report", str(TINY), "--out", str(out), "--groups", str(groups)], "unknown task set 'mnli_matched'"))
    bad = tmp_path / "bad.csv"
    bad.write_text(TINY.read_text().replace(",rte,", ",squad,", 1))
    cases.append((["report", str(bad), "--out", str(out)], "line 5: unknown task set 'squad'"))
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("amuro: error: ") and message in err and err.count("\n") == 1, err
