r"""Fine-tune a pre-training checkpoint on one task set with TRL's SFTTrainer, the paper's recipe by default.

Prompts and completions come from `amuro.tasks.templates`, the code the `amuro_*` lm-eval tasks render with, so a model
is trained and scored on the same prompt format. Loss is on completion tokens only.

The same code runs as `accelerate launch -m amuro.train.sft ...` (any folder, an installed amuro), as
`accelerate launch training/sft.py ...` (a checkout) and inside `amuro sweep`.

# Per-dataset SFT of an OLMo-1B intermediate checkpoint (one GPU)
```bash
accelerate launch -m amuro.train.sft \
    --model_name_or_path allenai/OLMo-1B-hf --model_revision step342000-tokens1433B \
    --dataset_name mnli --prompt_format default \
    --output_dir runs/sft/olmo1b-step342000-mnli-default
```

# Instruction tuning on a seeded 5% of Tulu v2 (messages), loss on assistant turns only
```bash
accelerate launch -m amuro.train.sft \
    --model_name_or_path allenai/OLMo-1B-hf --model_revision step342000-tokens1433B \
    --dataset_name tulu --fraction 0.05 --output_dir runs/sft/olmo1b-step342000-tulu
```

# LoRA instead of full fine-tuning (TRL's ModelConfig flags; learning rate 1e-4 unless given)
```bash
accelerate launch -m amuro.train.sft \
    --model_name_or_path allenai/OLMo-1B-hf --dataset_name mnli --use_peft --lora_r 16 --lora_alpha 32 \
    --output_dir runs/sft/olmo1b-main-mnli-lora     # merged weights here, the adapter in ./adapter
```

# DeepSpeed ZeRO through a shipped accelerate config, from any folder (`amuro configs` lists them)
```bash
accelerate launch --config_file "$(amuro configs accelerate_1gpu)" -m amuro.train.sft \
    --model_name_or_path allenai/OLMo-1B-hf --dataset_name paws --output_dir runs/sft/olmo1b-main-paws
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
    --model_name_or_path /tmp/tiny --dataset_name mnli --max_steps 5 --output_dir /tmp/sft-mnli
lm_eval --model hf --model_args pretrained=/tmp/sft-mnli --tasks amuro_mnli_default
```

Defaults (docs/study.md §4): 3 epochs (5 for Tulu), 8 examples per optimizer step on any number of processes
(`--total_batch_size`), AdamW, linear schedule with 3% warm-up, weight decay 0, gradient clipping at 1.0 (accelerate fills DeepSpeed's
`"auto"` clipping with it), max length
2048, seed 42, learning rate 2e-6 (2e-7 for xsum; 1e-4 with `--use_peft`), bf16 where the hardware has it, 6,000
training examples (seeded shuffle), TRL's per-token loss average (`--loss_averaging per_example` is the authors').
The 8 examples of a batch go in as one padding-free row (`--padding_free false` pads instead). The output folder
holds the model and tokenizer (loadable by `lm_eval --model hf`) and `run_card.json`. Re-running a finished run does
nothing unless `--force`. TRL's names throughout (`--dataset_name`, `--model_revision`, `--dtype`, `--use_peft`,
`--lora_*`, `--load_in_4bit`); the old `--dataset` and `--revision` still work for this release, with a warning.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from transformers.trainer_utils import get_last_checkpoint
from trl import ModelConfig, SFTConfig, TrlParser

from amuro.configs import deepspeed_file
from amuro.errors import AmuroError, did_you_mean, os_error
from amuro.files import claim_folder
from amuro.tasks.registry import INSTRUCTION_TUNING
from amuro.train import RUN_CARD
from amuro.train.help import Help, HelpFormatter, arrange_help
from amuro.train.rows import paper_learning_rate

# The paper's recipe as parser defaults: a YAML --config and the command line override them.
PAPER_RECIPE = dict(
    num_train_epochs=None, per_device_train_batch_size=None, gradient_accumulation_steps=None, learning_rate=None,
    lr_scheduler_type="linear", warmup_steps=0.03, weight_decay=0.0, max_grad_norm=1.0, max_length=2048, seed=42,
    gradient_checkpointing=False, report_to="none", logging_steps=10, dataloader_pin_memory=False,
    # Padding-free batches: the examples of a batch are concatenated into one row with per-example position ids,
    # which the attention turns into a block-diagonal mask (no cross-example attention, no pad tokens).
    padding_free=True,
    # A checkpoint (with optimizer state, for --resume) per epoch; only the latest is kept.
    save_strategy="epoch", save_only_model=False, save_total_limit=1,
    attn_implementation="auto",
)
LORA_LEARNING_RATE = 1e-4  # an adapter's few parameters need a larger step than full fine-tuning's 2e-6 (README)
DEPRECATED = {"dataset": "dataset_name", "revision": "model_revision"}  # old name -> TRL's, kept for one release


@dataclass
class ScriptArguments:
    dataset_name: str | None = field(default=None, metadata={
        "help": "a registry set with a training split (xsum, socialiqa, mnli, paws) or tulu (Tulu v2 messages)"})
    prompt_format: str | None = field(default=None, metadata={
        "help": "default | io | instruct (per-dataset SFT only; default: default)"})
    max_examples: int | None = field(default=None, metadata={
        "help": "per-dataset SFT only: a seeded subsample of the training split (default: 6000, the paper's)"})
    fraction: float | None = field(default=None, metadata={
        "help": "tulu only: the seeded fraction of Tulu v2 to train on (default: 0.05)"})
    loss_averaging: str = field(default="per_token", metadata={
        "help": "per_token (TRL: every completion token weighs the same) or per_example (the authors': each "
                "example's mean token loss, averaged over the step's examples)",
        "choices": ["per_token", "per_example"]})
    round_rotary_to_bf16: bool = field(default=False, metadata={
        "help": "round the rotary embedding's frequencies to bf16 precision while training, as the authors' DeepSpeed "
                "bf16 engine did (it casts every buffer); the saved model recomputes them, so evaluation is unchanged"})
    resume: bool = field(default=False, metadata={"help": "continue from the last checkpoint in output_dir"})
    force: bool = field(default=False, metadata={"help": "train again even if output_dir holds a finished run"})
    dataset: str | None = field(default=None, metadata={"help": "deprecated: --dataset_name"})
    revision: str | None = field(default=None, metadata={"help": "deprecated: --model_revision"})


@dataclass
class TrainingArguments(SFTConfig):
    """TRL's SFTConfig, with `--deepspeed` also taking the name of a shipped config (`zero2`, `zero3`, ...) and the
    batch given as examples per optimizer step over all processes."""

    total_batch_size: int = field(default=8, metadata={
        "help": "examples per optimizer step over all processes (the paper's 8); --per_device_train_batch_size and "
                "--gradient_accumulation_steps are derived from it (accumulation 1 where it divides), or checked "
                "against it when given"})

    def __post_init__(self):
        from amuro.train.trainer import split_batch

        self.deepspeed = deepspeed_file(self.deepspeed)
        # Before SFTConfig fills DeepSpeed's batch sizes from these. WORLD_SIZE: set by accelerate/torchrun.
        self.per_device_train_batch_size, self.gradient_accumulation_steps = split_batch(
            self.total_batch_size, int(os.environ.get("WORLD_SIZE", "1")), self.per_device_train_batch_size,
            self.gradient_accumulation_steps)
        super().__post_init__()


def make_parser() -> TrlParser:
    """The parser of `amuro.train.sft` (TRL's layout): our arguments, TRL's SFTConfig and ModelConfig, the paper's
    recipe as defaults, from the command line and/or a `--config` YAML. Prefixes of flags are not accepted
    (`--max_step` must not silently mean `--max_steps`)."""
    import torch

    gpu = torch.cuda.is_available()
    parser = TrlParser((ScriptArguments, TrainingArguments, ModelConfig), description=__doc__,
                       formatter_class=HelpFormatter, allow_abbrev=False, add_help=False,
                       prog="python -m amuro.train.sft", usage="%(prog)s --model_name_or_path MODEL --dataset_name SET --output_dir DIR [--FLAG VALUE ...]")
    parser.add_argument("-h", "--help", action=Help, help="amuro's flags and the recipe's, then exit")
    parser.add_argument("--help-all", action=Help, every=True, help="every flag, TRL's long tail too, then exit")
    arrange_help(parser, [f.name for f in dataclasses.fields(ScriptArguments)] + ["total_batch_size"])
    # bf16 where the hardware has it; on a machine without a GPU, train on the CPU.
    parser.set_defaults_with_config(**PAPER_RECIPE, bf16=gpu and torch.cuda.is_bf16_supported(), use_cpu=not gpu)
    return parser


def _resolve_accelerate_deepspeed() -> None:
    """`accelerate launch --config_file <shipped config>` names its DeepSpeed file relative to the repository root;
    from any other folder, point accelerate at the shipped file before it reads the variable."""
    name = os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE")
    if name and name != "none":
        os.environ["ACCELERATE_DEEPSPEED_CONFIG_FILE"] = deepspeed_file(name)


# Flags that only mean something for one kind of training set: given for the other kind they are refused, not ignored.
SFT_ONLY, TULU_ONLY = ("prompt_format", "max_examples"), ("fraction",)
SFT_DEFAULTS = {"prompt_format": "default", "max_examples": 6000, "fraction": 0.05}
SET_BY_THE_SWEEP = ("model_name_or_path", "dataset_name", "output_dir", "model_revision", "resume", *DEPRECATED)


def parse(argv=None) -> tuple[ScriptArguments, TrainingArguments, ModelConfig]:
    _resolve_accelerate_deepspeed()
    script_args, training_args, model_args = make_parser().parse_args_and_config(argv)
    for old, new in DEPRECATED.items():
        target = model_args if new == "model_revision" else script_args
        if getattr(script_args, old) is not None:
            print(f"amuro: warning: --{old} is deprecated, use --{new} (TRL's name); --{old} goes in amuro 0.3",
                  file=sys.stderr)
            setattr(target, new, getattr(script_args, old))
    if not model_args.model_name_or_path or not script_args.dataset_name:
        raise AmuroError("--model_name_or_path and --dataset_name are required")
    _check_arguments(script_args, training_args, _given(argv))
    tulu = script_args.dataset_name == INSTRUCTION_TUNING
    if model_args.use_peft and not model_args.lora_target_modules:
        # peft knows the attention projections of some architectures only (not OLMo's): every linear layer, the
        # QLoRA paper's choice, is defined for all of them.
        model_args.lora_target_modules = "all-linear"
    if training_args.learning_rate is None:
        training_args.learning_rate = LORA_LEARNING_RATE if model_args.use_peft else \
            paper_learning_rate(script_args.dataset_name)
    if training_args.num_train_epochs is None:
        training_args.num_train_epochs = 5.0 if tulu else 3.0
    if tulu:
        training_args.assistant_only_loss = True  # the default for messages data is loss on every token
    return script_args, training_args, model_args


def _check_arguments(script_args: ScriptArguments, training_args: TrainingArguments, given: set[str]) -> None:
    """One-line refusals of what the trainer would silently ignore or put where nobody asked."""
    tulu = script_args.dataset_name == INSTRUCTION_TUNING
    for name in TULU_ONLY if not tulu else SFT_ONLY:
        if getattr(script_args, name) is not None:
            kind = "Tulu (--dataset_name tulu)" if not tulu else "per-dataset SFT"
            raise AmuroError(f"--{name} is for {kind} training only; --dataset_name is {script_args.dataset_name}")
    for name, default in SFT_DEFAULTS.items():
        if getattr(script_args, name) is None:
            setattr(script_args, name, default)
    if training_args.output_dir == "trainer_output" and "output_dir" not in given:
        raise AmuroError("--output_dir is required: the folder the fine-tuned model and its run_card.json go to")
    if training_args.hub_token:  # never saved: the Trainer pickles its arguments into training_args.bin
        os.environ.setdefault("HF_TOKEN", training_args.hub_token)
        training_args.hub_token = None


def _given(argv) -> set[str]:
    """The argument names given on the command line or in its --config YAML."""
    import yaml

    argv = sys.argv[1:] if argv is None else list(argv)
    names = {a[2:].split("=", 1)[0] for a in argv if a.startswith("--")}
    if "config" in names:
        path = next((a.split("=", 1)[1] if "=" in a else argv[i + 1])
                    for i, a in enumerate(argv) if a.split("=", 1)[0] == "--config")
        names |= set(yaml.safe_load(Path(path).read_text()) or {})
    return names


def check_overrides(overrides: dict, trains=(), where: str = "training") -> None:
    """Check a run spec's `training:` overrides as this script would parse them for each of `trains`, so that a bad
    key or value is refused when the spec loads rather than after the first model has been evaluated."""
    from amuro.train import cli_values

    actions = {a.dest: a for a in make_parser()._actions if a.dest not in ("help", "help_all", "config")}
    for key, value in overrides.items():
        if key in SET_BY_THE_SWEEP:
            raise AmuroError(f"{where}: {key} is set by the sweep for each job")
        only = "tulu" if key in TULU_ONLY else "per-dataset SFT" if key in SFT_ONLY else None
        other = [t for t in trains if (t == INSTRUCTION_TUNING) != (only == "tulu")] if only else []
        if other:
            raise AmuroError(f"{where}: {key} is for {only} training only, and train includes {other[0]}")
        if key not in actions:
            raise AmuroError(f"{where}: unknown training argument {key!r}{did_you_mean(key, actions)}; "
                             "`python -m amuro.train.sft --help` lists them")
        action = actions[key]
        for text in cli_values(value):
            try:
                converted = action.type(text) if action.type else text
            except (TypeError, ValueError, argparse.ArgumentTypeError):
                kind = {"int": "an integer", "float": "a number", "string_to_bool": "true or false"}.get(
                    getattr(action.type, "__name__", ""), "valid")
                raise AmuroError(f"{where}: {key} must be {kind}, got {value!r}") from None
            if action.choices and converted not in action.choices:
                raise AmuroError(f"{where}: {key} {value!r} is not one of {', '.join(map(str, action.choices))}")


def main(argv=None) -> int:
    from amuro.train.card import save_lora, write_run_card
    from amuro.train.trainer import build_trainer

    script_args, training_args, model_args = parse(argv)
    out = Path(training_args.output_dir)
    if (out / RUN_CARD).is_file() and not script_args.force:
        print(f"{out} already holds a finished run ({RUN_CARD}); pass --force to train again")
        return 0
    # A folder of somebody else's is refused; one a killed run of ours left (checkpoint-*) is resumed into.
    claim_folder(out, force=script_args.force or any(out.glob("checkpoint-*")))
    trainer, rows = build_trainer(script_args, training_args, model_args)
    start = time.time()
    resume_from = get_last_checkpoint(str(out)) if script_args.resume and out.is_dir() else None
    result = trainer.train(resume_from_checkpoint=resume_from)
    if model_args.use_peft:
        save_lora(trainer, out, model_args)
    else:
        trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        trainer.processing_class.save_pretrained(out)
        write_run_card(trainer, result, rows, out, script_args, training_args, model_args, start, resume_from)
        print(f"saved the fine-tuned model and {RUN_CARD} to {out}")
    return 0


def cli(argv=None) -> int:
    """`python -m amuro.train.sft` / `training/sft.py`: bad input is one line and exit status 2."""
    try:
        return main(argv)
    except AmuroError as e:
        print(f"amuro: error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        print(f"amuro: error: {os_error(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(cli())
