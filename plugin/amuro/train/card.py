"""What a finished training run leaves besides the model: `run_card.json` (written last: its presence means the run
finished) and, for LoRA, the adapter beside the merged weights."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from amuro.files import write_atomic
from amuro.study.checkpoints import parse_revision
from amuro.tasks.registry import INSTRUCTION_TUNING
from amuro.train import RUN_CARD

ADAPTER = "adapter"  # a LoRA run's adapter folder inside its output_dir (the merged model is the folder itself)
HYPERPARAMETERS = ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
                   "gradient_accumulation_steps", "lr_scheduler_type", "warmup_steps", "weight_decay",
                   "max_grad_norm", "max_length", "bf16", "padding_free", "packing", "optim", "seed")
LORA_FIELDS = ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "use_rslora", "use_dora",
               "load_in_4bit", "load_in_8bit")


def save_lora(trainer, out: Path, model_args) -> None:
    """Save the adapter to out/adapter/ and the base with the adapter merged into out/: any evaluator (`lm_eval
    --model hf|amuro-hf|vllm`, the sweep) loads the merged folder as a plain model, and `peft=out/adapter` works too.
    The merge reloads the base in full precision, so a 4-bit or 8-bit base merges as well."""
    import torch
    from peft import AutoPeftModelForCausalLM

    trainer.save_model(str(out / ADAPTER))
    if trainer.is_world_process_zero():
        merged = AutoPeftModelForCausalLM.from_pretrained(str(out / ADAPTER), dtype=torch.float32).merge_and_unload()
        merged.save_pretrained(str(out))


def write_run_card(trainer, result, rows: list[dict], out: Path, script_args, training_args, model_args,
                   start: float, resumed_from: str | None) -> None:
    """Everything a reader needs to know what this model is; written atomically, last."""
    from amuro import __version__

    tokens = [e["num_tokens"] for e in trainer.state.log_history if "num_tokens" in e]
    tulu = script_args.dataset_name == INSTRUCTION_TUNING
    revision = model_args.model_revision
    card = {
        "base_model": model_args.model_name_or_path, "revision": revision,
        "step": (parse_revision(revision or "") or {}).get("step"), "train": script_args.dataset_name,
        "format": "tulu_chat" if tulu else script_args.prompt_format, "examples": len(rows),
        "method": "lora" if model_args.use_peft else "full",
        "adapter": {k: getattr(model_args, k) for k in LORA_FIELDS} | {"folder": ADAPTER}
        if model_args.use_peft else None,
        "loss_averaging": script_args.loss_averaging, "total_batch_size": training_args.total_batch_size,
        "gradient_clipping": training_args.max_grad_norm or None, "round_rotary_to_bf16": script_args.round_rotary_to_bf16,
        "tokens_seen": int(float(tokens[-1])) if tokens else None,
        "global_steps": result.global_step, "final_train_loss": result.training_loss,
        "loss_curve": [[e["step"], e["loss"]] for e in trainer.state.log_history if "loss" in e],
        "resumed_from": resumed_from and os.path.relpath(resumed_from, out),  # relative: the folder may move
        "wall_time_s": round(time.time() - start, 1), "train_runtime_s": result.metrics.get("train_runtime"),
        **peak_memory(), "world_size": training_args.world_size,
        "attn_implementation": getattr(trainer.model.config, "_attn_implementation", None),
        "deepspeed_zero_stage": trainer.accelerator.state.deepspeed_plugin.zero_stage
        if trainer.is_deepspeed_enabled else None, "seed": training_args.seed, "amuro_version": __version__,
        "hyperparameters": {k: v for k, v in asdict(training_args).items() if k in HYPERPARAMETERS},
    }
    write_atomic(out / RUN_CARD, json.dumps(card, indent=2, default=str) + "\n")


def peak_memory() -> dict:
    """This process's peak memory: what torch allocated on the GPU, or the resident set size on a CPU."""
    import resource

    import torch

    if torch.cuda.is_available():
        return {"peak_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20), "peak_memory_of": "cuda"}
    return {"peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), "peak_memory_of": "rss"}
