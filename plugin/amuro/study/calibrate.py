"""`amuro sweep SPEC --dry-run --calibrate`: the compute plan's rates measured on this machine.

For the spec's model (its last local revision) or, where it is not on this machine, a random model of the same shape
built from its config (`amuro.study.budget.model_config`), at the plan's lengths and batch sizes, in every dtype the
plan evaluates in:
- prefill FLOP/s of one document at a time (the authors' forward: logits at every position) and of a batch of
  documents' own tokens on a shared prefix's KV cache (ours);
- seconds per greedy decoding step (`generate`) at batch 1 and at the plan's batch;
- training FLOP/s of forward, backward and AdamW step at batch 1 and on one padding-free row of 8 examples (bf16
  autocast on a GPU, fp32 on a CPU, as `amuro.train.sft` trains);
- where the model and the data are local (`amuro demo`): the fixed costs (loading the model, one job's lm-eval run
  on one document per task, a real `amuro.train.sft` run of a few steps: its start and the trainer's own cost per
  step) and the mean token lengths of the sets' rows.
On a CPU a model above `CPU_FLOP_PARAMS` is cut to its first layers (and vocabulary) and the lengths to
`CPU_MAX_TOKENS`, so that calibration takes under 2 minutes; each figure is scaled back by FLOPs (decoding steps
by the parameter ratio), and the plan prints the reduction.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from amuro.study.budget import OVERHEAD_S, Rates, Shape, assumed_rates, price, shape_of
from amuro.study.cost import LENGTHS, Work, tokens, training_tokens
from amuro.train import RUN_CARD

CPU_FLOP_PARAMS = 50e6  # above this, a CPU measures the model's first layers (and part of its vocabulary) only
CPU_MAX_TOKENS = 256  # ... and contexts of at most this many tokens
DECODE_STEPS = 16
TRAINER_STEPS = 16  # optimizer steps of the real training run that measures a run's start and the trainer's step


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _median(fn) -> float:
    """The median wall time of `fn()` over up to 3 calls after one that warms it up (one call when it is slow): a
    shared machine's load comes and goes."""
    first = _timed(fn)
    times = [_timed(fn) for _ in range(1 if first > 1.0 else 3)]
    return sorted(times)[len(times) // 2]


def _model(spec, shape: Shape, device: str):
    """The model to measure, its FLOP parameters and how it was reduced."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = dict(shape.config)
    layers, vocab, hidden = config["num_hidden_layers"], config["vocab_size"], config["hidden_size"]
    per_layer = (shape.flop_params - vocab * hidden) / layers
    keep, keep_vocab = layers, vocab
    if device == "cpu" and shape.flop_params > CPU_FLOP_PARAMS:
        keep = max(1, min(layers, int(CPU_FLOP_PARAMS / 2 // per_layer)))
        keep_vocab = min(vocab, max(1024, int((CPU_FLOP_PARAMS - keep * per_layer) // hidden)))
    local = _last_revision(spec.model)
    if local and keep == layers and keep_vocab == vocab:
        model = AutoModelForCausalLM.from_pretrained(local, dtype=torch.float32)
        what = f"the spec's model ({Path(local).name})"
    else:
        torch.manual_seed(0)
        cfg = AutoConfig.for_model(**{k: v for k, v in config.items() if k not in ("architectures", "dtype")})
        cfg.num_hidden_layers, cfg.vocab_size = keep, keep_vocab
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
        what = f"a random model of its shape ({shape.source})"
    reduced = keep * per_layer + keep_vocab * hidden
    note = f"{what}, {keep} of {layers} layers, vocabulary {keep_vocab:,} of {vocab:,}" + (
        f": {reduced / 1e6:,.0f}M of {shape.flop_params / 1e6:,.0f}M matmul parameters, scaled back by FLOPs"
        if reduced < shape.flop_params else "")
    return model.to(device).eval(), reduced, note


def _last_revision(model: str) -> str | None:
    folders = sorted(p.parent for p in Path(model).rglob("config.json")) if Path(model).is_dir() else []
    from amuro.study.checkpoints import parse_revision

    stepped = [p for p in folders if parse_revision(p.name)]
    return str(max(stepped, key=lambda p: parse_revision(p.name)["step"]) if stepped else folders[-1]) \
        if folders else None


def _evaluation(model, dtype: str, device: str, length: int, suffix: int, batch: int) -> dict:
    """Prefill seconds (one document; a batch on a prefix cache) and decoding seconds per step (1; batch)."""
    import torch

    from amuro.eval.prefix import batch_caches, prefix_cache

    model = model.to(getattr(torch, dtype))
    vocab = model.config.vocab_size
    ids = torch.randint(2, vocab, (1, length), device=device)
    rows = torch.randint(2, vocab, (batch, suffix), device=device)
    # As `--model amuro-hf` runs it: the prefix's cache made once for all batches, each batch continuing from it.
    past_for = batch_caches(prefix_cache(model, ids[0, :max(1, length - suffix)].tolist()), batch, suffix)
    out = {}
    with torch.no_grad():
        out["prefill_one"] = _median(lambda: model(ids))
        out["prefill_batched"] = _median(lambda: model(rows, past_key_values=past_for(batch), use_cache=True,
                                                       logits_to_keep=1))

        def generate(n, b):
            prompt = ids[:, :suffix].expand(b, -1)
            return lambda: model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=n,
                                          min_new_tokens=n, do_sample=False, pad_token_id=0)

        for name, b in (("decode_one", 1), ("decode_batched", batch)):
            out[name] = max(_median(generate(DECODE_STEPS + 1, b)) - _median(generate(1, b)), 1e-6) / DECODE_STEPS
    return out


def _training(model, device: str, example: int) -> dict:
    """Seconds of one optimizer step at batch 1 and on a padding-free row of 8 examples."""
    import torch

    model = model.to(torch.float32).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda")

    def step(n):
        def run():
            ids = torch.randint(2, model.config.vocab_size, (1, n), device=device)
            with autocast:
                model(ids, labels=ids).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        return run

    step(8)()  # allocates the optimizer's state
    out = {"train_one": _median(step(example)), "train_batched": _median(step(8 * example))}
    model.eval()
    return out


def _overheads(spec, jobs, local: str | None) -> dict:
    """Fixed costs, measured where the model and data are local: loading the model; a job's lm-eval run on one
    document per task, less the load, per task; a real `amuro.train.sft` run of TRAINER_STEPS steps."""
    from amuro.tasks.data import data_dir

    if not local or data_dir() is None:
        return {}
    import lm_eval
    from transformers import AutoModelForCausalLM

    import amuro
    from amuro.console import quiet
    from amuro.study.backends import evaluate_arguments
    from amuro.study.sweep import Sweep

    out = {"model load": _timed(lambda: AutoModelForCausalLM.from_pretrained(local))}
    with tempfile.TemporaryDirectory() as tmp, quiet(Path(tmp) / "calibrate.log"):
        job = max((j for j in jobs if not j.finetuned), key=lambda j: len(j.tasks))
        kwargs = {**evaluate_arguments(Sweep(spec, tmp), job), "limit": 1}
        manager = amuro.task_manager(include_defaults=False, metadata=kwargs.pop("metadata"))
        seconds = _timed(lambda: lm_eval.simple_evaluate(**kwargs, task_manager=manager))
        out["task set-up"] = max(0.0, seconds - out["model load"]) / len(job.tasks)
        trained = next((j for j in jobs if j.finetuned), None)
        if trained:  # one real run: its wall time less the trainer's time for its steps is the run's start
            command = [sys.executable, "-m", "amuro.train.sft", "--model_name_or_path", local, "--dataset_name",
                       trained.train, "--max_steps", str(TRAINER_STEPS), "--max_examples", str(8 * TRAINER_STEPS),
                       "--save_strategy", "no", "--output_dir", str(Path(tmp) / "model"), "--force"]
            seconds = _timed(lambda: subprocess.run(command, capture_output=True, env=os.environ, check=True))
            card = json.loads((Path(tmp) / "model" / RUN_CARD).read_text())
            out["training start"] = seconds - card["train_runtime_s"]
            out["trainer run"] = (card["train_runtime_s"], card["tokens_seen"])
    return out


def measured_lengths(spec, jobs, local: str | None) -> dict | None:
    """Mean tokens per row (input fields, target) of the plan's sets from the local data, under the model's
    tokenizer (up to 200 rows of each scored split, default format)."""
    from amuro.tasks.data import data_dir, load_split
    from amuro.tasks.registry import get_set, parse_task_name
    from amuro.tasks.templates import render, template

    if not local or data_dir() is None:
        return None
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(local)
    sets = {parse_task_name(t)[0] for j in jobs for t in j.tasks} | {j.train for j in jobs if j.finetuned}
    out = dict(LENGTHS)
    for name in sorted(sets & set(LENGTHS)):
        ts = get_set(name)
        rows = load_split(name, ts.eval_split)[:200]
        examples = [render(name, "default", r) for r in rows]
        fixed = tokens(template(name, "default").format_map(_Blank()))
        out[name] = (max(1, round(sum(len(tok(e.prompt).input_ids) for e in examples) / len(examples)) - fixed),
                     max(1, round(sum(len(tok(" " + e.target).input_ids) for e in examples) / len(examples))))
    return out


class _Blank(dict):
    def __missing__(self, key):
        return ""


def calibrate_rates(spec, jobs, shape: Shape, batch: int) -> tuple[Rates, dict | None]:
    """Rates measured on this machine (and the lengths of the local data, where there is some)."""
    import torch

    from amuro.study.budget import model_config

    started = time.perf_counter()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if not shape.config:
        config, source = model_config(spec.model)
        if not config:  # nothing to build a model from: the assumptions stand, and say so
            rates = assumed_rates("a100", shape, batch)
            rates.notes.insert(0, f"calibration impossible: no config.json for {spec.model} on this machine")
            return rates, None
        shape = shape_of(config, source)
    local = _last_revision(spec.model)
    lengths = measured_lengths(spec, jobs, local)
    stages = price(spec, jobs, assumed_rates("a100", shape, batch), shape, lengths)
    ours, authors = Work(), Work()
    for s in stages.values():
        ours.add(s.work["ours"])
        authors.add(s.work["authors"])
    cap = CPU_MAX_TOKENS if device == "cpu" else shape.context
    length = max(16, min(cap, round(authors.prompt / max(1, authors.documents))))
    suffix = round((ours.prompt - ours.prompt_one) / max(1, ours.documents))
    suffix = max(4, min(length // 2, cap // batch if device == "cpu" else suffix, suffix))  # a CPU: a batch in `cap`
    measured = _overheads(spec, jobs, local)
    trainer = measured.pop("trainer run", None)
    trained = [j.train for j in jobs if j.finetuned]
    example = training_tokens(trained[0], {"max_steps": 1}, lengths or LENGTHS) // 8 if trained else 64
    example = max(4, min(cap // 8 if device == "cpu" else cap, example))  # a CPU: a row of 8 within `cap` tokens
    model, reduced, note = _model(spec, shape, device)
    scale, flops = shape.flop_params / reduced, 2 * reduced
    dtypes = sorted({spec.eval_dtype(j.train) for j in jobs} | set(_paper_dtypes()))
    per = {d: _evaluation(model, d, device, length, suffix, batch) for d in dtypes}
    train = _training(model, device, example)
    threads = f", {torch.get_num_threads()} threads" if device == "cpu" else ""
    rates = Rates({d: flops * length / p["prefill_one"] for d, p in per.items()},
                  {d: flops * suffix * batch / p["prefill_batched"] for d, p in per.items()},
                  {d: p["decode_one"] * scale for d, p in per.items()},
                  {d: p["decode_batched"] * scale for d, p in per.items()},
                  3 * flops * example / train["train_one"], 3 * flops * 8 * example / train["train_batched"],
                  {**OVERHEAD_S, **measured},
                  f"this machine ({torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}{threads})")
    if trainer:  # the trainer's own cost per step: its runtime beyond the raw steps' for the same tokens
        runtime, seen = trainer
        rates.overhead["trainer step"] = measured["trainer step"] = \
            max(0.0, runtime - 6 * shape.flop_params * seen / rates.train_batched) / TRAINER_STEPS
    rates.notes = [
        f"measured on {note}; contexts of {length} tokens at batch 1, {suffix} tokens per document on a prefix at "
        f"batch {batch}, decoding {DECODE_STEPS} steps, training examples of {example} tokens",
        *(f"{d}: prefill {rates.prefill_one[d] / 1e9:,.1f} GFLOP/s at batch 1, {rates.prefill_batched[d] / 1e9:,.1f} "
          f"at batch {batch}; a decoding step {rates.decode_one[d] * 1e3:,.1f} ms at batch 1, "
          f"{rates.decode_batched[d] * 1e3:,.1f} ms at batch {batch} (measured)" for d in dtypes),
        f"training {'bf16 autocast' if device == 'cuda' else 'fp32'}: {rates.train_one / 1e9:,.2f} GFLOP/s at batch 1, "
        f"{rates.train_batched / 1e9:,.2f} on rows of 8 examples (measured: forward, backward, AdamW step)",
        "fixed costs: " + ", ".join(f"{k} {v:,.3g} s ({'measured' if k in measured else 'assumed'})"
                                    for k, v in rates.overhead.items()),
        f"lengths: {'measured on the local data under the model tokenizer' if lengths else 'cost.LENGTHS (assumed)'}; "
        f"calibration took {time.perf_counter() - started:.0f} s"]
    return rates, lengths


def _paper_dtypes():
    from amuro.study.profiles import PROFILES

    return PROFILES["paper"].dtype.values()
