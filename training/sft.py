"""Fine-tune a pre-training checkpoint on one task set with TRL's SFTTrainer, the paper's recipe by default.

Prompts and completions come from `amuro.templates`, the code the `amuro_*` lm-eval tasks render with, so a model
is trained and scored on the same prompt format. Loss is on completion tokens only.

# Per-dataset SFT of an OLMo-1B intermediate checkpoint (one GPU)
```bash
accelerate launch training/sft.py \
    --model_name_or_path allenai/OLMo-1B-hf --revision step342000-tokens1434B \
    --dataset mnli --prompt_format default \
    --output_dir runs/sft/olmo1b-step342000-mnli-default
```

# Instruction tuning on a seeded 5% of Tulu v2 (messages), loss on assistant turns only
```bash
accelerate launch training/sft.py \
    --model_name_or_path allenai/OLMo-1B-hf --revision step342000-tokens1434B \
    --dataset tulu --fraction 0.05 --output_dir runs/sft/olmo1b-step342000-tulu
```

# The same from a YAML config (any argument below; command-line flags win)
```bash
python training/sft.py --config my_run.yaml
```

# Offline smoke test on a tiny model and the shipped fixtures
```bash
amuro tiny-model /tmp/tiny
AMURO_DATA_DIR=tests/fixtures/data python training/sft.py \
    --model_name_or_path /tmp/tiny --dataset mnli --max_steps 5 --output_dir /tmp/sft-mnli
lm_eval --model hf --model_args pretrained=/tmp/sft-mnli --tasks amuro_mnli_default
```

Defaults (REFERENCE_STUDY §5): 3 epochs (5 for Tulu), effective batch 8, AdamW, linear schedule with 3% warm-up, weight decay 0,
no gradient clipping, max length 2048, seed 42, learning rate 2e-6 (2e-7 for xsum), bf16 where the hardware has
it, 6,000 training examples (seeded shuffle). The output folder holds the model and tokenizer (loadable by
`lm_eval --model hf`) and `run_card.json`. Re-running a finished run does nothing unless `--force`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from transformers.trainer_utils import get_last_checkpoint
from trl import SFTConfig, SFTTrainer, TrlParser

from amuro.errors import AmuroError
from amuro.sft_data import TULU_CHAT_TEMPLATE, TULU_NAME, paper_learning_rate, sft_rows, tulu_rows

RUN_CARD = "run_card.json"

# The paper's recipe as parser defaults: a YAML --config and the command line override them.
PAPER_RECIPE = dict(
    num_train_epochs=None, per_device_train_batch_size=8, gradient_accumulation_steps=1, learning_rate=None,
    lr_scheduler_type="linear", warmup_steps=0.03, weight_decay=0.0, max_grad_norm=0.0, max_length=2048, seed=42,
    gradient_checkpointing=False, report_to="none", logging_steps=10, dataloader_pin_memory=False,
    # A checkpoint (with optimizer state, for --resume) per epoch; only the latest is kept.
    save_strategy="epoch", save_only_model=False, save_total_limit=1,
)


@dataclass
class ScriptArguments:
    model_name_or_path: str = field(metadata={"help": "Hub id or local path of the checkpoint to fine-tune"})
    dataset: str = field(metadata={"help": "a registry set with a training split (xsum, socialiqa, mnli, paws) "
                                           "or tulu (instruction tuning on Tulu v2 messages)"})
    revision: str | None = field(default=None, metadata={"help": "Hub revision, e.g. step342000-tokens1434B"})
    prompt_format: str = field(default="default", metadata={"help": "default | io | instruct"})
    max_examples: int = field(default=6000, metadata={"help": "seeded subsample of the training split"})
    fraction: float = field(default=0.05, metadata={"help": "tulu only: the seeded fraction of Tulu v2 to train on"})
    resume: bool = field(default=False, metadata={"help": "continue from the last checkpoint in output_dir"})
    force: bool = field(default=False, metadata={"help": "train again even if output_dir holds a finished run"})


def parse(argv=None) -> tuple[ScriptArguments, SFTConfig]:
    import torch

    gpu = torch.cuda.is_available()
    parser = TrlParser((ScriptArguments, SFTConfig))
    # bf16 where the hardware has it; on a machine without a GPU, train on the CPU.
    parser.set_defaults_with_config(**PAPER_RECIPE, bf16=gpu and torch.cuda.is_bf16_supported(), use_cpu=not gpu)
    script_args, training_args = parser.parse_args_and_config(argv)
    if training_args.learning_rate is None:
        training_args.learning_rate = paper_learning_rate(script_args.dataset)
    if training_args.num_train_epochs is None:
        training_args.num_train_epochs = 5.0 if script_args.dataset == TULU_NAME else 3.0
    if script_args.dataset == TULU_NAME:
        training_args.assistant_only_loss = True  # the default for messages data is loss on every token
    return script_args, training_args


def load_model_and_tokenizer(args: ScriptArguments, bf16: bool):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where = args.model_name_or_path + (f" at revision {args.revision}" if args.revision else "")
    try:
        tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path, revision=args.revision)
        model = AutoModelForCausalLM.from_pretrained(args.model_name_or_path, revision=args.revision,
                                                     dtype=torch.bfloat16 if bf16 else torch.float32)
    except OSError as e:
        raise AmuroError(f"cannot load {where}: {str(e).splitlines()[0]}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def build_trainer(script_args: ScriptArguments, training_args: SFTConfig) -> tuple[SFTTrainer, list[dict]]:
    """The SFTTrainer for one run, and its training rows (prompt/completion, or Tulu messages)."""
    import datasets

    tulu = script_args.dataset == TULU_NAME
    rows = (tulu_rows(script_args.fraction, training_args.seed) if tulu else
            sft_rows(script_args.dataset, script_args.prompt_format, script_args.max_examples, training_args.seed))
    model, tokenizer = load_model_and_tokenizer(script_args, training_args.bf16)
    if tulu:
        tokenizer.chat_template = TULU_CHAT_TEMPLATE
    trainer = SFTTrainer(model=model, args=training_args, train_dataset=datasets.Dataset.from_list(rows),
                         processing_class=tokenizer)
    return trainer, rows


def main(argv=None) -> int:
    from amuro import __version__

    script_args, training_args = parse(argv)
    out = Path(training_args.output_dir)
    if (out / RUN_CARD).is_file() and not script_args.force:
        print(f"{out} already holds a finished run ({RUN_CARD}); pass --force to train again")
        return 0
    trainer, rows = build_trainer(script_args, training_args)
    tokenizer, tulu = trainer.processing_class, script_args.dataset == TULU_NAME
    start = time.time()
    resume_from = get_last_checkpoint(str(out)) if script_args.resume and out.is_dir() else None
    result = trainer.train(resume_from_checkpoint=resume_from)
    trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(out)
        tokens = [e["num_tokens"] for e in trainer.state.log_history if "num_tokens" in e]
        card = {
            "base_model": script_args.model_name_or_path, "revision": script_args.revision,
            "step": _step_of(script_args.revision), "train": script_args.dataset,
            "format": "tulu_chat" if tulu else script_args.prompt_format, "examples": len(rows),
            "tokens_seen": int(float(tokens[-1])) if tokens else None,
            "global_steps": result.global_step, "final_train_loss": result.training_loss,
            "loss_curve": [[e["step"], e["loss"]] for e in trainer.state.log_history if "loss" in e],
            "resumed_from": resume_from, "wall_time_s": round(time.time() - start, 1),
            "world_size": training_args.world_size,
            "deepspeed_zero_stage": trainer.accelerator.state.deepspeed_plugin.zero_stage
            if trainer.is_deepspeed_enabled else None, "seed": training_args.seed, "amuro_version": __version__,
            "hyperparameters": {k: v for k, v in asdict(training_args).items() if k in HYPERPARAMETERS},
        }
        (out / RUN_CARD).write_text(json.dumps(card, indent=2, default=str) + "\n")
        print(f"saved the fine-tuned model and {RUN_CARD} to {out}")
    return 0


HYPERPARAMETERS = ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
                   "gradient_accumulation_steps", "lr_scheduler_type", "warmup_steps", "weight_decay",
                   "max_grad_norm", "max_length", "bf16", "packing", "optim", "seed")


def _step_of(revision: str | None) -> int | None:
    import re

    match = re.search(r"step(\d+)", revision or "")
    return int(match.group(1)) if match else None


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AmuroError as e:
        print(f"amuro: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
