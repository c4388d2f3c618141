"""Fine-tune a pre-training checkpoint on one task set with TRL's SFTTrainer, the paper's recipe by default.

Prompts and completions come from `amuro.tasks.templates`, the code the `amuro_*` lm-eval tasks render with, so a model
is trained and scored on the same prompt format. Loss is on completion tokens only.

The same code runs as `accelerate launch -m amuro.train.sft ...` (any folder, an installed amuro), as
`accelerate launch training/sft.py ...` (a checkout) and inside `amuro sweep`.

# Per-dataset SFT of an OLMo-1B intermediate checkpoint (one GPU)
```bash
accelerate launch -m amuro.train.sft \
    --model_name_or_path allenai/OLMo-1B-hf --revision step342000-tokens1434B \
    --dataset mnli --prompt_format default \
    --output_dir runs/sft/olmo1b-step342000-mnli-default
```

# Instruction tuning on a seeded 5% of Tulu v2 (messages), loss on assistant turns only
```bash
accelerate launch -m amuro.train.sft \
    --model_name_or_path allenai/OLMo-1B-hf --revision step342000-tokens1434B \
    --dataset tulu --fraction 0.05 --output_dir runs/sft/olmo1b-step342000-tulu
```

# DeepSpeed ZeRO through a shipped accelerate config, from any folder (`amuro configs` lists them)
```bash
accelerate launch --config_file "$(amuro configs accelerate_1gpu)" -m amuro.train.sft \
    --model_name_or_path allenai/OLMo-1B-hf --dataset paws --output_dir runs/sft/olmo1b-main-paws
python -m amuro.train.sft --deepspeed zero3 ...     # a shipped DeepSpeed config by name
```

# The same from a YAML config (any argument below; command-line flags win)
```bash
python -m amuro.train.sft --config my_run.yaml
```

# Offline smoke test on a tiny model and the shipped fixtures
```bash
amuro tiny-model /tmp/tiny
AMURO_DATA_DIR=tests/fixtures/data python -m amuro.train.sft \
    --model_name_or_path /tmp/tiny --dataset mnli --max_steps 5 --output_dir /tmp/sft-mnli
lm_eval --model hf --model_args pretrained=/tmp/sft-mnli --tasks amuro_mnli_default
```

Defaults (docs/study.md §4): 3 epochs (5 for Tulu), effective batch 8, AdamW, linear schedule with 3% warm-up, weight decay 0,
no gradient clipping, max length 2048, seed 42, learning rate 2e-6 (2e-7 for xsum), bf16 where the hardware has
it, 6,000 training examples (seeded shuffle). The 8 examples of a batch go in as one padding-free row (position ids
keep them apart; `--padding_free false` pads instead). The output folder holds the model and tokenizer (loadable by
`lm_eval --model hf`) and `run_card.json`. Re-running a finished run does nothing unless `--force`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import logging
from trl import SFTConfig, SFTTrainer, TrlParser

from amuro.study.checkpoints import parse_revision
from amuro.configs import deepspeed_file
from amuro.errors import AmuroError
from amuro.files import write_atomic
from amuro.tasks.registry import INSTRUCTION_TUNING
from amuro.train import RUN_CARD
from amuro.train.rows import TULU_CHAT_TEMPLATE, paper_learning_rate, sft_rows, tulu_rows

logger = logging.get_logger("amuro.sft")

# The paper's recipe as parser defaults: a YAML --config and the command line override them.
PAPER_RECIPE = dict(
    num_train_epochs=None, per_device_train_batch_size=8, gradient_accumulation_steps=1, learning_rate=None,
    lr_scheduler_type="linear", warmup_steps=0.03, weight_decay=0.0, max_grad_norm=0.0, max_length=2048, seed=42,
    gradient_checkpointing=False, report_to="none", logging_steps=10, dataloader_pin_memory=False,
    # Padding-free batches: the 8 examples of a batch are concatenated into one row with per-example position ids,
    # which the attention turns into a block-diagonal mask (no cross-example attention, no pad tokens).
    # `--padding_free false` goes back to padded batches.
    padding_free=True,
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
    attn_implementation: str = field(default="auto", metadata={
        "help": "transformers attention: auto (flash_attention_2 on a GPU where installed, else sdpa), sdpa, eager, "
                "flash_attention_2, ..."})
    resume: bool = field(default=False, metadata={"help": "continue from the last checkpoint in output_dir"})
    force: bool = field(default=False, metadata={"help": "train again even if output_dir holds a finished run"})


@dataclass
class TrainingArguments(SFTConfig):
    """TRL's SFTConfig, with `--deepspeed` also taking the name of a shipped config (`zero2`, `zero3`, ...)."""

    def __post_init__(self):
        self.deepspeed = deepspeed_file(self.deepspeed)
        super().__post_init__()


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def make_parser() -> TrlParser:
    """The parser of `amuro.train.sft` (TRL's layout): our arguments and TRL's SFTConfig, the paper's recipe as
    defaults, from the command line and/or a `--config` YAML. Prefixes of flags are not accepted (`--max_step`
    must not silently mean `--max_steps`)."""
    import torch

    gpu = torch.cuda.is_available()
    parser = TrlParser((ScriptArguments, TrainingArguments), description=__doc__, formatter_class=_HelpFormatter,
                       allow_abbrev=False)
    # bf16 where the hardware has it; on a machine without a GPU, train on the CPU.
    parser.set_defaults_with_config(**PAPER_RECIPE, bf16=gpu and torch.cuda.is_bf16_supported(), use_cpu=not gpu)
    return parser


def _resolve_accelerate_deepspeed() -> None:
    """`accelerate launch --config_file <shipped config>` names its DeepSpeed file relative to the repository root;
    from any other folder, point accelerate at the shipped file before it reads the variable."""
    name = os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE")
    if name and name != "none":
        os.environ["ACCELERATE_DEEPSPEED_CONFIG_FILE"] = deepspeed_file(name)


def parse(argv=None) -> tuple[ScriptArguments, TrainingArguments]:
    _resolve_accelerate_deepspeed()
    script_args, training_args = make_parser().parse_args_and_config(argv)
    if training_args.learning_rate is None:
        training_args.learning_rate = paper_learning_rate(script_args.dataset)
    if training_args.num_train_epochs is None:
        training_args.num_train_epochs = 5.0 if script_args.dataset == INSTRUCTION_TUNING else 3.0
    if script_args.dataset == INSTRUCTION_TUNING:
        training_args.assistant_only_loss = True  # the default for messages data is loss on every token
    return script_args, training_args


def load_model_and_tokenizer(args: ScriptArguments):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import is_flash_attn_2_available

    where = args.model_name_or_path + (f" at revision {args.revision}" if args.revision else "")
    attention = args.attn_implementation
    if attention == "auto":  # flash-attention's varlen kernels make padding-free batches cost nothing extra
        attention = "flash_attention_2" if torch.cuda.is_available() and is_flash_attn_2_available() else "sdpa"
    try:
        tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path, revision=args.revision)
        # fp32 weights even for bf16 training: bf16 autocast (or DeepSpeed's bf16 with fp32 master weights) computes
        # in bf16, while updates of lr 2e-6 would mostly round away on bf16 weights.
        model = AutoModelForCausalLM.from_pretrained(args.model_name_or_path, revision=args.revision,
                                                     dtype=torch.float32, attn_implementation=attention)
    except (OSError, ValueError) as e:
        raise AmuroError(f"cannot load {where}: {str(e).strip().splitlines()[0]}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def build_trainer(script_args: ScriptArguments, training_args: TrainingArguments) -> tuple[SFTTrainer, list[dict]]:
    """The SFTTrainer for one run, and its training rows (prompt/completion, or Tulu messages)."""
    import datasets

    tulu = script_args.dataset == INSTRUCTION_TUNING
    rows = (tulu_rows(script_args.fraction, training_args.seed) if tulu else
            sft_rows(script_args.dataset, script_args.prompt_format, script_args.max_examples, training_args.seed))
    model, tokenizer = load_model_and_tokenizer(script_args)
    if tulu:
        tokenizer.chat_template = TULU_CHAT_TEMPLATE
    if training_args.padding_free and not supports_padding_free(model):
        logger.warning(f"{type(model).__name__} cannot keep padding-free examples apart; training on padded batches")
        training_args.padding_free = False
    # TRL refuses padding-free batches with a max_length unless it packs (which would change the paper's 8 examples
    # per step), so build the trainer without max_length and truncate its prepared dataset as TRL would have.
    max_length = training_args.max_length
    own_truncation = training_args.padding_free and not training_args.packing and max_length is not None
    if own_truncation:
        training_args.max_length = None
    try:
        trainer = SFTTrainer(model=model, args=training_args, train_dataset=datasets.Dataset.from_list(rows),
                             processing_class=tokenizer)
    finally:
        training_args.max_length = max_length
    if own_truncation:
        trainer.train_dataset = truncate(trainer.train_dataset, max_length)
    if len(trainer.train_dataset) == 0:
        raise AmuroError(f"no {script_args.dataset} example has a token to learn within --max_length {max_length}")
    return trainer, rows


def supports_padding_free(model) -> bool:
    """Whether `model` keeps the examples of a padding-free row apart: flash/flex attention kernels read the
    sequence boundaries, and models whose masks come from transformers' `create_causal_mask` turn restarting
    position ids into a block-diagonal mask (OLMo, Llama, Qwen, ... in transformers >= 4.54)."""

    attention = getattr(model.config, "_attn_implementation", None) or ""
    if "flash" in attention or attention == "flex_attention":
        return True
    return hasattr(sys.modules[type(model).__module__], "create_causal_mask")


def truncate(dataset, max_length: int):
    """TRL's own truncation of a prepared dataset (keep the start) and its drop of examples left without loss."""
    dataset = dataset.map(lambda ex: {"input_ids": ex["input_ids"][:max_length], "labels": ex["labels"][:max_length]},
                          desc="Truncating train dataset")
    return dataset.filter(lambda ex: any(label != -100 for label in ex["labels"]),
                          desc="Dropping fully masked examples from train dataset")


def main(argv=None) -> int:
    from amuro import __version__

    script_args, training_args = parse(argv)
    out = Path(training_args.output_dir)
    if (out / RUN_CARD).is_file() and not script_args.force:
        print(f"{out} already holds a finished run ({RUN_CARD}); pass --force to train again")
        return 0
    trainer, rows = build_trainer(script_args, training_args)
    tokenizer, tulu = trainer.processing_class, script_args.dataset == INSTRUCTION_TUNING
    start = time.time()
    resume_from = get_last_checkpoint(str(out)) if script_args.resume and out.is_dir() else None
    result = trainer.train(resume_from_checkpoint=resume_from)
    trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(out)
        tokens = [e["num_tokens"] for e in trainer.state.log_history if "num_tokens" in e]
        card = {
            "base_model": script_args.model_name_or_path, "revision": script_args.revision,
            "step": (parse_revision(script_args.revision or "") or {}).get("step"), "train": script_args.dataset,
            "format": "tulu_chat" if tulu else script_args.prompt_format, "examples": len(rows),
            "tokens_seen": int(float(tokens[-1])) if tokens else None,
            "global_steps": result.global_step, "final_train_loss": result.training_loss,
            "loss_curve": [[e["step"], e["loss"]] for e in trainer.state.log_history if "loss" in e],
            "resumed_from": resume_from, "wall_time_s": round(time.time() - start, 1),
            "train_runtime_s": result.metrics.get("train_runtime"), **peak_memory(),
            "world_size": training_args.world_size, "attn_implementation": trainer.model.config._attn_implementation,
            "deepspeed_zero_stage": trainer.accelerator.state.deepspeed_plugin.zero_stage
            if trainer.is_deepspeed_enabled else None, "seed": training_args.seed, "amuro_version": __version__,
            "hyperparameters": {k: v for k, v in asdict(training_args).items() if k in HYPERPARAMETERS},
        }
        # Written last and atomically: its presence marks a finished run (a rerun is then a no-op).
        write_atomic(out / RUN_CARD, json.dumps(card, indent=2, default=str) + "\n")
        print(f"saved the fine-tuned model and {RUN_CARD} to {out}")
    return 0


HYPERPARAMETERS = ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
                   "gradient_accumulation_steps", "lr_scheduler_type", "warmup_steps", "weight_decay",
                   "max_grad_norm", "max_length", "bf16", "padding_free", "packing", "optim", "seed")


def peak_memory() -> dict:
    """This process's peak memory: what torch allocated on the GPU, or the resident set size on a CPU."""
    import resource

    import torch

    if torch.cuda.is_available():
        return {"peak_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20), "peak_memory_of": "cuda"}
    return {"peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), "peak_memory_of": "rss"}


def cli(argv=None) -> int:
    """`python -m amuro.train.sft` / `training/sft.py`: bad input is one line and exit status 2."""
    try:
        return main(argv)
    except AmuroError as e:
        print(f"amuro: error: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(cli())
