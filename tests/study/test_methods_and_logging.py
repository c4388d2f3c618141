"""A tiny sweep with `methods: [full, lora]` and lm-eval's own logging: per-method jobs and rows, lm-eval's results and
samples files and a W&B offline run per job, and the report's full-vs-LoRA comparison."""

import json

import pytest

from amuro.cli import main
from amuro.study.results import read_results

from conftest import REVISIONS, TINY, run_sweep


@pytest.mark.slow
def test_full_and_lora_side_by_side_with_lm_evals_outputs(tiny_checkpoints, tmp_path):
    spec = tmp_path / "methods.yaml"
    spec.write_text(TINY.read_text().replace("checkpoints: {uniform: 2}", f"checkpoints: {{revisions: [{REVISIONS[1]}]}}")
                    .replace("train: [mnli]", "train: [mnli]\nmethods: [full, lora]\nlora: {lora_r: 4}")
                    .replace("  batch_size: 4", "  batch_size: 4\n  log_samples: true\n"
                             "  wandb_args: {project: amuro-test, mode: offline}"))
    out = tmp_path / "run"
    result = run_sweep(tiny_checkpoints, out, spec=spec, env={"WANDB_MODE": "offline"})
    assert "x 2 methods (full, lora)" in result.stdout and "trainings: 2 (0 done, 2 to run)" in result.stdout
    table = read_results(out / "results.csv")
    assert set(table["method"]) == {"full", "lora"} and set(table.loc[table["train"] == "base", "method"]) == {"full"}
    card = json.loads((out / "models" / REVISIONS[1] / "mnli-lora" / "run_card.json").read_text())
    assert card["method"] == "lora" and card["adapter"]["lora_r"] == 4
    for key in ("base", "mnli", "mnli-lora"):  # lm-eval's own layout, per job
        folder = out / "lm_eval" / REVISIONS[1] / key
        assert list(folder.rglob("results_*.json")) and list(folder.rglob("samples_amuro_mnli_default_*.jsonl"))
        assert list((folder / "wandb").glob("offline-run-*")), list(folder.rglob("*"))[:10]
    assert main(["report", str(out / "results.csv"), "--out", str(tmp_path / "report")]) == 0
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Which findings survive: full vs lora" in md
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["compare_lora"]["a"] == "full" and summary["compare_lora"]["b"] == "lora"
