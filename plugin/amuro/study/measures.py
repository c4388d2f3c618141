"""An optional BASE measure the sweep takes beside lm-eval's tasks: the BASE checkpoint's loss on the completions of
each fine-tuning set, before any fine-tuning (a candidate early signal, `amuro.report.signal`).

Opt in with `evaluate: {completion_loss: N}` in the run spec. For every BASE job and every training set t of the
spec, N fixed examples are scored: the first N rows of the seeded subsample that fine-tuning reads
(`amuro.train.rows.sft_rows`, default format: the prompt, then the completion); for Tulu, the last assistant turn
of the first N conversations of its training subsample, after the turns before it in Tulu's chat format. Scoring is
lm-eval's `loglikelihood` on the model lm-eval evaluates (the spec's `evaluate.model` and model_args, so hf, amuro-hf
and vllm all work); loss = -(the completion's log-likelihood) / (its length in UTF-8 bytes), in nats per byte, the
mean over the examples (per byte rather than per token: comparable across tokenizers). The model is loaded a second
time for this (after lm-eval's tasks).

Each BASE checkpoint's values go to `measures/<revision>.json` (the record; a rerun skips a checkpoint that has one)
and are collected into `base_measures.csv` beside results.csv, which `amuro report` reads:

    model, revision, step, tokens   the BASE checkpoint
    train                           the training set whose completions were scored
    measure                         completion_loss
    value                           nats per completion byte, the mean over the examples
    n                               examples scored
"""

from __future__ import annotations

import json
from pathlib import Path

from amuro.files import write_atomic
from amuro.tasks.registry import INSTRUCTION_TUNING

MEASURES_CSV = "base_measures.csv"
COMPLETION_LOSS = "completion_loss"
COLUMNS = ("model", "revision", "step", "tokens", "train", "measure", "value", "n")
SEED = 42  # the fine-tuning subsample's seed (amuro.train.sft's default)


def completion_examples(train: str, n: int) -> list[tuple[str, str]]:
    """(context, completion) pairs: the first `n` examples fine-tuning on `train` reads."""
    from amuro.train.rows import sft_rows, tulu_rows

    if train != INSTRUCTION_TUNING:
        return [(r["prompt"], r["completion"]) for r in sft_rows(train, "default", max_examples=n, seed=SEED)]
    out = []
    for row in tulu_rows(seed=SEED)[:n]:
        turns = row["messages"]
        last = max(i for i, t in enumerate(turns) if t["role"] == "assistant")
        context = "".join(f"<|{t['role']}|>\n{t['content']}\n" for t in turns[:last]) + "<|assistant|>\n"
        out.append((context, turns[last]["content"]))
    return out


def completion_loss(lm, examples: list[tuple[str, str]]) -> float:
    """Mean over the examples of -loglikelihood(completion | context) / UTF-8 bytes of the completion."""
    from lm_eval.api.instance import Instance

    requests = [Instance("loglikelihood", doc={}, arguments=(c, x), idx=i) for i, (c, x) in enumerate(examples)]
    scores = lm.loglikelihood(requests, disable_tqdm=True)
    losses = [-logprob / max(len(x.encode("utf-8")), 1) for (logprob, _), (_, x) in zip(scores, examples)]
    return sum(losses) / len(losses)


def measure(sweep, job) -> None:
    """The opt-in BASE measures of one job (a no-op for fine-tuned jobs, when off, or when already measured),
    then base_measures.csv rebuilt from every checkpoint's record."""
    n = sweep.spec.evaluate.completion_loss
    if job.finetuned or not n:
        return
    record = sweep.out / "measures" / f"{job.checkpoint.revision}.json"
    done = json.loads(record.read_text()) if record.is_file() else {}
    todo = [t for t in sweep.spec.train if t not in done.get(COMPLETION_LOSS, {})]
    if todo:
        from lm_eval.api.registry import get_model

        from amuro.study.backends import evaluate_arguments

        kwargs = evaluate_arguments(sweep, job)
        config = {"batch_size": kwargs["batch_size"], "device": kwargs["device"]}
        lm = get_model(kwargs["model"]).create_from_arg_obj(kwargs["model_args"], config)
        losses = dict(done.get(COMPLETION_LOSS, {}))
        for train in todo:
            examples = completion_examples(train, n)
            losses[train] = {"value": completion_loss(lm, examples), "n": len(examples)}
        ck = job.checkpoint
        done = {"model": ck.model, "revision": ck.revision, "step": ck.step, "tokens": ck.tokens,
                COMPLETION_LOSS: losses}
        write_atomic(record, json.dumps(done, indent=1))
        del lm
    if todo or not (sweep.out / MEASURES_CSV).is_file():
        collect(sweep.out)


def catch_up(sweep, jobs) -> None:
    """Measure the BASE jobs evaluated before their measures were switched on (or whose run was killed between
    lm-eval and the measure). Local sweeps only: a SLURM sweep measures inside each job."""
    if sweep.spec.evaluate.completion_loss and sweep.spec.launcher.kind == "local":
        for job in jobs:
            if sweep.layout.evaluated(job):
                measure(sweep, job)


def collect(out: Path) -> Path:
    """base_measures.csv from every measures/*.json (rewritten whole: the records are the truth)."""
    import csv
    import io

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS)
    writer.writeheader()
    for record in sorted(Path(out, "measures").glob("*.json")):
        r = json.loads(record.read_text())
        for train, v in r.get(COMPLETION_LOSS, {}).items():
            writer.writerow({"model": r["model"], "revision": r["revision"], "step": r["step"],
                             "tokens": "" if r["tokens"] is None else r["tokens"], "train": train,
                             "measure": COMPLETION_LOSS, "value": v["value"], "n": v["n"]})
    write_atomic(Path(out) / MEASURES_CSV, text.getvalue())
    return Path(out) / MEASURES_CSV


def read_measures(results):
    """The base_measures.csv beside a results CSV, or None when the sweep took none."""
    import pandas as pd

    from amuro.errors import AmuroError

    path = Path(results).with_name(MEASURES_CSV)
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise AmuroError(f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")
    return table
