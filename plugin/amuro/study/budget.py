"""The compute plan `amuro sweep SPEC --dry-run [--gpu a100] [--calibrate]` prints: hours per stage (base
evaluation, training, fine-tuned evaluation) for our pipeline and the authors', priced on equal footing.

Both sides do the work `amuro.study.cost` counts for them and are priced with the same rates per kind of work:
prefill FLOP/s at batch 1 and in batches, seconds per decoding step at batch 1 and for a batch, training FLOP/s at
batch 1 and in padding-free rows, plus the same fixed costs (a model load per evaluated model, a start per training
run, a set-up per task). Each side runs at its own evaluation dtypes (ours: the spec's, `RunSpec.eval_dtype`, what
lm-eval is given; the authors': the paper profile's per model kind) and trains in bf16 (CPU: fp32). Without
`--calibrate` the rates are assumptions for `--gpu` (`GPUS`, `EFFICIENCY`, `DECODE_BATCH_COST`, `OVERHEAD_S`); with
it they are measured on this machine (`amuro.study.calibrate`) and every figure says which it is. FLOPs per token are
2 x the model's matmul parameters (forward; 6 x in training), attention's share at long contexts left out.
The headline is the like-for-like ratio: ours at the authors' dtypes against theirs, so only the code paths differ.
A model below `TINY_PARAMS` (`amuro demo`'s, `amuro tiny-model`'s) gets no GPU plan, whose hours would all read 0.0;
`--calibrate` prices it on this machine, in seconds where the whole plan takes less than an hour.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from amuro.study.cost import LENGTHS, Work, pipelines, task_work, training_work
from amuro.study.profiles import PROFILES, model_kind
from amuro.study.results import BASE

STAGES = ("base evaluation", "training", "fine-tuned evaluation")
PAPER_RECORD_A100_H = 1_067  # what the paper reports for everything it ran (docs/study.md §4)
TINY_PARAMS = 10e6  # below this, GPU-hours round to 0: a toy model for the pipeline, not a study to budget


@dataclass(frozen=True)
class Gpu:
    name: str
    bf16_tflops: float  # dense tensor-core peak
    fp32_tflops: float  # plain fp32 (PyTorch does not use TF32 for matmuls by default)
    decode_step_s: float  # one HF `generate` step of a 16-layer ~1B model at batch 1: launch-bound


GPUS = {
    "a100": Gpu("NVIDIA A100 80GB SXM", 312, 19.5, 0.020),
    "h100": Gpu("NVIDIA H100 80GB SXM", 989, 67, 0.015),
    "h200": Gpu("NVIDIA H200", 989, 67, 0.015),
    "l40s": Gpu("NVIDIA L40S", 362, 91.6, 0.020),
}
EFFICIENCY = {"prefill": 0.35, "train": 0.30}  # fraction of peak, the same for both pipelines (assumed)
DECODE_BATCH_COST = 0.01  # each further document in a decoding batch adds 1% to a step (assumed: launch-bound)
# Fixed costs (assumed): per evaluated model, training run, task, and the trainer's own per optimizer step
OVERHEAD_S = {"model load": 30.0, "training start": 90.0, "task set-up": 5.0, "trainer step": 0.01}


@dataclass(frozen=True)
class Shape:
    """What pricing needs of the model: matmul parameters per token, layers, context."""

    flop_params: float  # parameters a token multiplies through (embedding lookups excluded, the output layer in)
    layers: int
    context: int  # positions
    source: str
    config: dict = field(default_factory=dict)  # the config.json, where known (calibration builds from it)


# The shipped specs' models, for offline plans (values from their config.json on the Hub).
KNOWN_CONFIGS = {
    "allenai/OLMo-1B-hf": dict(model_type="olmo", hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                               num_attention_heads=16, num_key_value_heads=16, vocab_size=50304,
                               max_position_embeddings=2048, hidden_act="silu", tie_word_embeddings=True),
}


def model_config(model: str) -> tuple[dict | None, str]:
    """The model's config.json: a local folder (any revision), the Hub cache, or `KNOWN_CONFIGS`."""
    if Path(model).is_dir():
        found = next(iter(sorted(Path(model).rglob("config.json"))), None)
        if found:
            return json.loads(found.read_text()), "its config.json"
    try:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(model, local_files_only=True).to_dict(), "its config.json (Hub cache)"
    except Exception:  # not cached, or not a model id
        pass
    return (dict(KNOWN_CONFIGS[model]), "its config.json (known)") if model in KNOWN_CONFIGS else (None, "")


def shape_of(config: dict, source: str) -> Shape:
    h, ffn, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    kv = h * config.get("num_key_value_heads", config["num_attention_heads"]) // config["num_attention_heads"]
    mlp = 3 if config.get("hidden_act", "silu") == "silu" else 2  # SwiGLU: gate, up, down; else up, down
    params = layers * (2 * h * h + 2 * h * kv + mlp * h * ffn) + config["vocab_size"] * h
    return Shape(float(params), layers, int(config.get("max_position_embeddings", 2048)), source, config)


def model_shape(model: str) -> Shape:
    config, source = model_config(model)
    if config:
        return shape_of(config, source)
    match = re.search(r"(\d+(?:\.\d+)?)([BbMm])(?![a-z])", model.split("/")[-1])
    params = float(match.group(1)) * (1e9 if match.group(2) in "Bb" else 1e6) if match else 1e9
    return Shape(params, 16, 2048, "its name, 16 layers and 2,048 positions assumed" if match else "assumed: 1B")


@dataclass
class Rates:
    """Per kind of work, the same for both pipelines; keyed by dtype where it depends on it."""

    prefill_one: dict  # dtype -> FLOP/s, one sequence at a time
    prefill_batched: dict  # dtype -> FLOP/s, in batches
    decode_one: dict  # dtype -> seconds per decoding step of one document (the plan's model)
    decode_batched: dict  # dtype -> seconds per decoding step of a batch
    train_one: float  # FLOP/s at batch 1
    train_batched: float  # FLOP/s in padding-free rows of 8 examples
    overhead: dict  # OVERHEAD_S's keys -> seconds
    where: str
    notes: list = field(default_factory=list)  # what each figure is: measured or assumed


def assumed_rates(gpu: str, shape: Shape, batch: int) -> Rates:
    g = GPUS[gpu]
    peak = {"bfloat16": g.bf16_tflops * 1e12, "float16": g.bf16_tflops * 1e12, "float32": g.fp32_tflops * 1e12}
    prefill = {d: p * EFFICIENCY["prefill"] for d, p in peak.items()}
    step = g.decode_step_s * shape.layers / 16
    notes = [f"assumed for --gpu {gpu}: prefill {EFFICIENCY['prefill']:.0%} of peak (bf16 {g.bf16_tflops:g}, fp32 "
             f"{g.fp32_tflops:g} TFLOP/s) at any batch; training {EFFICIENCY['train']:.0%} of the bf16 peak at any "
             f"batch; a decoding step {step * 1e3:.0f} ms at batch 1, {step * (1 + DECODE_BATCH_COST * (batch - 1)) * 1e3:.0f}"
             f" ms at batch {batch}; " + ", ".join(f"{k} {v:g} s" for k, v in OVERHEAD_S.items())]
    return Rates(prefill, dict(prefill), dict.fromkeys(peak, step),
                 dict.fromkeys(peak, step * (1 + DECODE_BATCH_COST * (batch - 1))),
                 g.bf16_tflops * 1e12 * EFFICIENCY["train"], g.bf16_tflops * 1e12 * EFFICIENCY["train"],
                 dict(OVERHEAD_S), f"--gpu {gpu} ({g.name})", notes)


def seconds(w: Work, r: Rates, shape: Shape, dtype: str) -> float:
    per_token = 2 * shape.flop_params
    return (w.prompt_one * per_token / r.prefill_one[dtype]
            + (w.prompt - w.prompt_one) * per_token / r.prefill_batched[dtype]
            + w.decode_one * r.decode_one[dtype] + w.decode_batched * r.decode_batched[dtype]
            + 3 * per_token * (w.train_one / r.train_one + w.train_batched / r.train_batched)
            + w.train_steps * r.overhead["trainer step"])


@dataclass
class Stage:
    work: dict = field(default_factory=lambda: {"ours": Work(), "authors": Work()})
    hours: dict = field(default_factory=lambda: Counter())  # ours, authors, like (ours at the authors' dtypes)
    paths: Counter = field(default_factory=Counter)  # our code path -> tasks


def eval_dtypes(spec, job) -> dict[str, str]:
    """The dtype each side evaluates a job's model in: ours what lm-eval is given (`RunSpec.eval_dtype`), the
    authors' the paper profile's for its kind; `like`: ours at the authors' dtype (the like-for-like price)."""
    authors = PROFILES["paper"].dtype[model_kind(job.train)]
    return {"ours": spec.eval_dtype(job.train), "authors": authors, "like": authors}


def price(spec, jobs, rates: Rates, shape: Shape, lengths=None) -> dict[str, Stage]:
    """Work and hours per stage for both pipelines (`lengths`: measured ones, else `cost.LENGTHS`)."""
    lengths = lengths or LENGTHS
    pipes = pipelines(spec)
    stages = {s: Stage() for s in STAGES}
    e = spec.evaluate
    for job in jobs:
        dtypes = eval_dtypes(spec, job)
        stage = stages["base evaluation" if job.train == BASE else "fine-tuned evaluation"]
        for name, pipe in pipes.items():
            work = Work()
            for task in job.tasks * len(job.fewshot_seeds):  # evaluated once per draw of demonstrations
                w, path = task_work(task, pipe, e.num_fewshot, e.limit, shape.context, lengths)
                work.add(w)
                if name == "ours":
                    stage.paths[path] += 1
            stage.work[name].add(work)
            fixed = (rates.overhead["model load"] + rates.overhead["task set-up"] * len(job.tasks)) * \
                len(job.fewshot_seeds)
            for side in ((name,) if name == "authors" else ("ours", "like")):
                stage.hours[side] += (seconds(work, rates, shape, dtypes[side]) + fixed) / 3600
        if job.finetuned:
            for name, pipe in pipes.items():
                work = training_work(job.train, spec.training, pipe, lengths)
                stages["training"].work[name].add(work)
                # the training rates are those of the training dtype (bf16 autocast; fp32 on a CPU)
                hours = (seconds(work, rates, shape, "bfloat16") + rates.overhead["training start"]) / 3600
                for side in ((name,) if name == "authors" else ("ours", "like")):
                    stages["training"].hours[side] += hours
    return stages


def compute_plan(spec, jobs, gpu: str = "a100", calibrate: bool = False) -> str:
    """The table `amuro sweep --dry-run` prints."""
    shape = model_shape(spec.model)
    size = f"{shape.flop_params / 1e9:.2f}B" if shape.flop_params >= 1e9 else f"{shape.flop_params / 1e6:.1f}M"
    if shape.flop_params < TINY_PARAMS and not calibrate:
        return (f"compute plan (amuro.study.budget): none in GPU-hours for a tiny model ({size} matmul parameters, "
                f"{shape.source}): they would all read 0.0; `--dry-run --calibrate` prices it on this machine")
    pipes = pipelines(spec)
    batch = pipes["ours"].batch
    lengths, lines = None, []
    if calibrate:
        from amuro.study.calibrate import calibrate_rates

        rates, lengths = calibrate_rates(spec, jobs, shape, batch)
    else:
        rates = assumed_rates(gpu, shape, batch)
    stages = price(spec, jobs, rates, shape, lengths)
    seconds_ = calibrate and sum(s.hours["ours"] for s in stages.values()) < 1  # a small plan: in seconds
    unit = "GPU-h" if not calibrate else "seconds" if seconds_ else "hours"
    if seconds_:
        for s in stages.values():
            s.hours = Counter({k: v * 3600 for k, v in s.hours.items()})
    ours_dtypes = ", ".join(f"{k} {spec.eval_dtype(t)}" for k, t in (("base", BASE), ("sft", "mnli"), ("tulu", "tulu")))
    paper = PROFILES["paper"].dtype
    lines += [f"compute plan (amuro.study.budget) on {rates.where}: {size} matmul parameters, "
              f"{shape.context:,} positions ({shape.source})",
              "  rates, the same for both pipelines:", *(f"    {n}" for n in rates.notes),
              f"  ours: --model {spec.evaluate.model}, long_prompts={pipes['ours'].long_prompts}, batch {batch}, "
              f"demonstrations {spec.evaluate.fewshot}; evaluation dtypes {ours_dtypes}; training batch 8 padding-free",
              f"  authors: every document whole at batch 1 (catwalk: batches of {pipes['authors'].harness_batch}, no "
              f"sharing), one generate per document; dtypes " + ", ".join(f"{k} {v}" for k, v in paper.items())
              + "; training batch 1 x 8",
              f"{'stage':<22} {'documents':>10} {'prompt tok ours':>16} {'authors':>15} {'generated':>12} "
              f"{'training tok':>13} {unit + ' ours':>10} {'authors':>9} {'ratio':>6}"]
    total = Stage()
    for name, s in stages.items():
        total.hours.update(s.hours)
        for side in ("ours", "authors"):
            total.work[side].add(s.work[side])
        lines.append(_row(name, s))
    lines.append(_row("total", total))
    for name, s in stages.items():
        if s.paths:
            lines.append(f"  {name}, our code path per task: "
                         + "; ".join(f"{path}: {n:,}" for path, n in s.paths.most_common()))
    like, authors = total.hours["like"], total.hours["authors"]
    lines.append(f"like for like (ours at the authors' dtypes, only the code paths differ): {like:,.1f} vs {authors:,.1f}"
                 f" {unit}, {_ratio(authors, like)} fewer" + ("" if math.isclose(like, total.hours["ours"]) else
                                                             f"; at the spec's own dtypes {_ratio(authors, total.hours['ours'])}"))
    if not calibrate and gpu == "a100":
        lines.append(f"  for scale: the paper reports about {PAPER_RECORD_A100_H:,} A100-hours for everything it ran; this "
                     f"plan holds {sum(len(j.tasks) for j in jobs):,} task evaluations and "
                     f"{sum(j.finetuned for j in jobs)} trainings")
    return "\n".join(lines)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def _row(name: str, s: Stage) -> str:
    o, a = s.work["ours"], s.work["authors"]
    return (f"{name:<22} {o.documents:>10,} {o.prompt:>16,} {a.prompt:>15,} {o.generated:>12,} "
            f"{o.train_one + o.train_batched:>13,} {s.hours['ours']:>10,.1f} {s.hours['authors']:>9,.1f} "
            f"{_ratio(s.hours['authors'], s.hours['ours']):>6}")
