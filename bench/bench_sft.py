"""Training tokens/s of `training/sft.py`'s default (batch 8, padding-free) versus the authors' recipe.

    python bench/bench_sft.py --profile paper                  # tiny OLMo 256 x 4, 24 optimizer steps, 2 rounds
    python bench/bench_sft.py --hidden-size 64 --layers 2 --steps 48
    python bench/bench_sft.py --hidden-size 1024 --layers 8 --steps 32 --rounds 1   # a GPU: bf16, flash-attention
                                                                                   # where installed

Every side takes the same optimizer steps over the same examples (effective batch 8, same seed, so the same
tokens), on the same tiny OLMo (built offline) and synthetic MNLI rows whose premises vary in length as real ones do,
with the profile's training knobs (`paper`: per-example loss, rotary frequencies rounded to bf16; `corrected`:
per-token loss); `training/sft.py` trains in bf16 where the GPU has it and picks flash-attention where installed:
- ours: `training/sft.py` defaults, per-device batch 8, the batch concatenated into one padding-free row;
- padded: the same with `--padding_free false` (the switch back to padded batches);
- authors: per-device batch 1 x gradient accumulation 8, padded (docs/study.md §4: `DataCollatorForSeq2Seq`).
Each run is a fresh `python training/sft.py` process, so its peak memory (GPU memory allocated by torch, or the
process's resident set on a CPU) is its own. The sides run alternately, `--rounds` times each; the best tokens/s
of each are compared and the ratio printed, with the ideal speed-up: the authors' token-forwards over ours, 1.00x
(batch 1 pads nothing and a padding-free row holds the same tokens: what batching buys is time per token, not
fewer tokens). Throughput on a shared machine is noisy; the ratio is what to read.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SFT = HERE.parent / "training" / "sft.py"
SIDES = {
    "ours": [],
    "padded": ["--padding_free", "false"],
    "authors": ["--per_device_train_batch_size", "1", "--gradient_accumulation_steps", "8", "--padding_free", "false"],
}
LABELS = {"ours": "ours (batch 8, padding-free)", "padded": "ours --padding_free false (batch 8)",
          "authors": "authors (batch 1 x accumulation 8)"}


def train(model: str, out: Path, steps: int, extra: list[str]) -> dict:
    """One real training run; returns its run card."""
    cmd = [sys.executable, str(SFT), "--model_name_or_path", model, "--dataset_name", "mnli", "--max_examples",
           str(8 * steps), "--max_steps", str(steps), "--learning_rate", "1e-4", "--save_strategy", "no",
           "--logging_steps", str(steps), "--output_dir", str(out), "--force", *extra]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"bench: training failed: {result.stderr.strip().splitlines()[-1]}")
    return json.loads((out / "run_card.json").read_text())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", choices=("paper", "corrected"), default="paper")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(HERE))
    from bench_tokenprob import write_mnli

    from amuro.demo.tiny import build_tiny_model
    from amuro.study.profiles import get_profile
    from amuro.train import cli_values

    knobs = [x for key, value in get_profile(args.profile).training.items() for x in (f"--{key}", *cli_values(value))]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
                          AMURO_DATA_DIR=str(tmp / "data"))
        write_mnli(tmp / "data", 8, n_train=8 * args.steps, premise_words=(8, 80))
        model = str(build_tiny_model(tmp / "model", hidden_size=args.hidden_size, num_layers=args.layers))
        cards = {side: [] for side in SIDES}
        for _ in range(args.rounds):
            for side, extra in SIDES.items():
                cards[side].append(train(model, tmp / side, args.steps, [*extra, *knobs]))

    tokens = {card["tokens_seen"] for side in cards.values() for card in side}
    assert len(tokens) == 1, f"the sides saw different tokens: {tokens}"  # same examples, same order
    card = cards["ours"][0]
    print(f"model: tiny OLMo hidden {args.hidden_size} x {args.layers} layers; profile {args.profile} "
          f"({' '.join(knobs)}); {args.steps} optimizer steps of 8 MNLI examples ({tokens.pop()} tokens); best of "
          f"{args.rounds}; bf16 {card['hyperparameters']['bf16']}, attention {card['attn_implementation']}; peak memory = {card['peak_memory_of']}")
    rate = {side: max(c["tokens_seen"] / c["train_runtime_s"] for c in runs) for side, runs in cards.items()}
    for side, runs in cards.items():
        memory = max(c["peak_memory_mb"] for c in runs)
        limit = "  limit 1.00x, reached " + f"{rate[side] / rate['authors']:4.0%}" if side == "ours" else ""
        print(f"{LABELS[side]:<38} {rate[side]:9.0f} tokens/s   ratio to authors {rate[side] / rate['authors']:5.2f}x"
              f"   peak memory {memory:6d} MB{limit}")


if __name__ == "__main__":
    main()
