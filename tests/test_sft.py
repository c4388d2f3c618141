"""training/sft.py: a real TRL SFTTrainer run on the tiny model, scored afterwards through a real amuro task."""

import json
import os
import subprocess
import sys

import pytest

from amuro.errors import AmuroError
from amuro.sft_data import paper_learning_rate, sft_rows

from conftest import ROOT, evaluate

SFT = str(ROOT / "training" / "sft.py")


def _sft(*args, cwd):
    return subprocess.run([sys.executable, SFT, *args], cwd=cwd, env=dict(os.environ), capture_output=True,
                          text=True, timeout=600)


def test_training_rows_come_from_the_evaluation_templates():
    rows = sft_rows("mnli", "instruct", max_examples=5)
    assert len(rows) == 5 and all(r["prompt"].startswith("Consider the following texts:") for r in rows)
    assert all(r["completion"] in ("entailment", "neutral", "contradiction") for r in rows)
    io = sft_rows("paws", "io", max_examples=3)
    assert all(r["completion"] in (" yes", " no") for r in io)  # a space after a prompt without one
    assert sft_rows("mnli", seed=1, max_examples=4) != sft_rows("mnli", seed=2, max_examples=4)
    assert paper_learning_rate("xsum") == 2e-7 and paper_learning_rate("mnli") == 2e-6
    first = sft_rows("xsum", max_examples=1)[0]
    assert first["prompt"].startswith("### Input: ") and first["prompt"].endswith("### Summary: ")


def test_sets_without_a_training_split_are_refused():
    with pytest.raises(AmuroError, match="has no training split"):
        sft_rows("rte")


@pytest.mark.slow
def test_sft_run_saves_a_model_the_harness_scores(tiny_bpe, tmp_path):
    out = tmp_path / "sft"
    result = _sft("--model_name_or_path", tiny_bpe, "--dataset", "mnli", "--max_steps", "3", "--output_dir",
                  str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    card = json.loads((out / "run_card.json").read_text())
    assert card["train"] == "mnli" and card["format"] == "default" and card["global_steps"] == 3
    assert card["hyperparameters"]["learning_rate"] == 2e-6 and card["hyperparameters"]["max_grad_norm"] == 0.0
    assert card["tokens_seen"] > 0 and card["final_train_loss"] > 0
    acc = evaluate(str(out), ["amuro_mnli_default"], limit=6)["results"]["amuro_mnli_default"]["acc,none"]
    assert 0.0 <= acc <= 1.0
    again = _sft("--model_name_or_path", tiny_bpe, "--dataset", "mnli", "--output_dir", str(out), cwd=tmp_path)
    assert again.returncode == 0 and "already holds a finished run" in again.stdout


def test_unknown_dataset_is_a_one_line_error(tiny_bpe, tmp_path):
    result = _sft("--model_name_or_path", tiny_bpe, "--dataset", "squad", "--output_dir", str(tmp_path / "x"),
                  cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("amuro: error: unknown task set 'squad'")
