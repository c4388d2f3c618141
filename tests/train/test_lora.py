"""LoRA end to end: TRL's flags train an adapter with the paper's recipe otherwise, the output folder holds the merged
model and the adapter, and lm-eval scores both ways (`pretrained=<merged>` and `pretrained=<base>,peft=<adapter>`)."""

import json
import os
import subprocess

import pytest

from conftest import evaluate

ACCELERATE = ("accelerate", "launch", "--cpu", "--num_processes", "1", "--num_machines", "1", "--mixed_precision",
              "no", "--dynamo_backend", "no")


@pytest.mark.slow
def test_lora_trains_and_lm_eval_scores_the_adapter_and_the_merged_model(tiny_bpe, tmp_path):
    out = tmp_path / "lora"
    result = subprocess.run(
        [*ACCELERATE, "-m", "amuro.train.sft", "--model_name_or_path", tiny_bpe, "--dataset_name", "mnli",
         "--use_peft", "--lora_r", "8", "--lora_alpha", "16", "--max_steps", "3", "--save_strategy", "no",
         "--output_dir", str(out)], cwd=tmp_path, capture_output=True, text=True, timeout=900, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    card = json.loads((out / "run_card.json").read_text())
    assert card["method"] == "lora" and card["adapter"]["lora_r"] == 8 and card["adapter"]["lora_alpha"] == 16
    assert card["hyperparameters"]["learning_rate"] == 1e-4  # LoRA's own default, not full fine-tuning's 2e-6
    assert json.loads((out / "adapter" / "adapter_config.json").read_text())["r"] == 8
    assert (out / "model.safetensors").is_file()  # the merged model: a plain checkpoint
    # lm-eval scores it both ways, with the same log-likelihoods per document (the adapter merged or applied).
    merged = evaluate(str(out), ["amuro_mnli_default"], limit=6)
    adapter = evaluate(tiny_bpe, ["amuro_mnli_default"], limit=6, model_args={"peft": str(out / "adapter")})
    base = evaluate(tiny_bpe, ["amuro_mnli_default"], limit=6)
    lls = {name: [float(r[0][0]) for s in run["samples"]["amuro_mnli_default"] for r in s["resps"]]
           for name, run in (("merged", merged), ("adapter", adapter), ("base", base))}
    assert lls["merged"] == pytest.approx(lls["adapter"], abs=1e-4)
    assert lls["adapter"] != pytest.approx(lls["base"], abs=1e-6)  # the adapter changed the model
