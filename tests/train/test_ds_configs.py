"""Every DeepSpeed and accelerate config in ds_configs/ is valid for training/sft.py's arguments (no launch)."""

import json
from types import SimpleNamespace

import pytest
import yaml

from conftest import ROOT

DS = ROOT / "ds_configs"
# DeepSpeed rejects unknown keys inside zero_optimization but silently ignores unknown top-level keys.
TOP_LEVEL = {"bf16", "fp16", "zero_optimization", "gradient_accumulation_steps", "gradient_clipping",
             "train_batch_size", "train_micro_batch_size_per_gpu", "steps_per_print", "wall_clock_breakdown",
             "optimizer", "scheduler"}
STAGES = {"zero2.json": 2, "zero3.json": 3, "zero3_offload.json": 3}


def test_the_three_zero_configs_exist():
    assert {p.name for p in DS.glob("*.json")} == set(STAGES)


@pytest.mark.parametrize("name", sorted(STAGES))
@pytest.mark.parametrize("bf16", [False, True])
def test_deepspeed_config_fills_and_validates(name, bf16, tiny_bpe, tmp_path):
    from deepspeed.runtime.config import DeepSpeedConfig
    from transformers import AutoConfig
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config
    from trl import SFTConfig

    config = json.loads((DS / name).read_text())
    assert set(config) <= TOP_LEVEL, set(config) - TOP_LEVEL
    model_config = AutoConfig.from_pretrained(tiny_bpe)
    try:
        # The paper's batch arithmetic: 8 per device x 1 accumulation step; no gradient clipping.
        args = SFTConfig(output_dir=str(tmp_path), deepspeed=str(DS / name), use_cpu=True, bf16=bf16,
                         per_device_train_batch_size=8, gradient_accumulation_steps=1, max_grad_norm=0.0,
                         report_to="none")
        args.hf_deepspeed_config.trainer_config_finalize(args, SimpleNamespace(config=model_config), 100)
        filled = args.hf_deepspeed_config.config
        assert "auto" not in json.dumps(filled)
        assert filled["train_micro_batch_size_per_gpu"] == 8 and filled["gradient_clipping"] == 0.0
        assert filled["bf16"]["enabled"] is bf16
        DeepSpeedConfig(filled)  # pydantic validation, batch arithmetic included
        assert args.deepspeed_plugin.zero_stage == STAGES[name]
        offload = filled["zero_optimization"].get("offload_optimizer", {}).get("device")
        assert offload == ("cpu" if "offload" in name else None)
    finally:
        unset_hf_deepspeed_config()


@pytest.mark.parametrize("path", sorted(DS.glob("accelerate_*.yaml")), ids=lambda p: p.name)
def test_accelerate_configs_point_at_a_shipped_deepspeed_config(path):
    from accelerate.commands.config.config_args import ClusterConfig

    config = ClusterConfig.from_yaml_file(str(path))
    assert config.distributed_type == "DEEPSPEED"
    ds_file = ROOT / config.deepspeed_config["deepspeed_config_file"]
    assert ds_file.is_file() and ds_file.name in STAGES
    assert config.deepspeed_config["zero3_init_flag"] == (STAGES[ds_file.name] == 3)
    assert config.num_processes >= config.num_machines >= 1
    assert yaml.safe_load(path.read_text())["compute_environment"] == "LOCAL_MACHINE"
