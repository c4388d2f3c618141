"""Predicted vs measured wall time per stage of the demo sweep: the check of `amuro sweep --dry-run --calibrate`.

    python bench/bench_plan.py --threads 1                    # the demo's sizes: 4 checkpoints of a tiny OLMo
    python bench/bench_plan.py --threads 1 --checkpoints 2 --out /tmp/plan   # smaller; keep the folder

It writes the demo's synthetic data and pre-trains its tiny OLMo (as `amuro demo` does, not timed), prices the demo
spec with rates calibrated on this machine (`amuro.study.calibrate`, timed: the calibration's own cost), then runs
the sweep and times each stage: base evaluation (`Sweep.evaluate` of BASE jobs), training (`Sweep.train`),
fine-tuned evaluation. Prints the calibrated figures, then predicted and measured seconds per stage and in total,
their ratio, and the prediction of a second calibration after the run. On a machine other processes share, both
sides move with the load: a ratio far from 1 in one stage and not the others points at a wrong assumption, the same
ratio in all (and a second calibration nearer the measurement) at a load that changed. On a shared CPU, torch's
threads can wait on each other behind a busy core (a tiny model's training step measured 23 ms on one thread and
1.5 s on two): `--threads 1` keeps the calibration and the run on the same footing.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

from amuro.study.sweep import Sweep


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=4)
    parser.add_argument("--pretrain-steps", type=int, default=100, help="the demo: 400 (the timing needs no better model)")
    parser.add_argument("--out", help="keep everything here (default: a temporary folder)")
    parser.add_argument("--threads", type=int, help="torch threads here and in the training processes (default: "
                        "torch's); on a CPU other processes share, 1 avoids threads waiting on a busy core")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        torch.set_num_threads(args.threads)

    from dataclasses import replace

    from amuro.console import LOG_FILE, quiet
    from amuro.demo.pretrain import pretrain
    from amuro.demo.run import DemoConfig, demo_spec
    from amuro.demo.synthetic import pretraining_corpus, write_sets
    from amuro.study.budget import STAGES, model_shape, price
    from amuro.study.calibrate import calibrate_rates
    from amuro.study.cost import pipelines
    from amuro.study.results import BASE

    config = replace(DemoConfig(), checkpoints=args.checkpoints, pretrain_steps=args.pretrain_steps)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                          TOKENIZERS_PARALLELISM="false", AMURO_DATA_DIR=str(out / "data"))
        write_sets(out / "data", config.train_examples, config.eval_examples, config.seed)
        print(f"pre-training the demo's tiny OLMo ({config.pretrain_steps} steps, not timed) ...", flush=True)
        with quiet(out / LOG_FILE):
            pretrain(out / "model", pretraining_corpus(config.corpus_documents, config.seed),
                     steps=config.pretrain_steps, checkpoint_steps=config.checkpoint_steps(),
                     hidden_size=config.hidden_size, seed=config.seed, naming=config.naming)
        spec = demo_spec(out / "model", config)
        sweep = TimedSweep(spec, out / "sweep")
        jobs = sweep.jobs()
        shape = model_shape(spec.model)
        batch = pipelines(spec)["ours"].batch
        start = time.perf_counter()
        rates, lengths = calibrate_rates(spec, jobs, shape, batch)
        calibration = time.perf_counter() - start
        print(f"calibrated on {rates.where} in {calibration:.0f} s:", *(f"  {n}" for n in rates.notes), sep="\n")
        predicted = {"before": _seconds(price(spec, jobs, rates, shape, lengths))}
        start = time.perf_counter()
        sweep.run()
        wall = time.perf_counter() - start
        # Calibrated again: where the measurement falls between the two, the load moved, not the model.
        after, _ = calibrate_rates(spec, jobs, shape, batch)
        predicted["after"] = _seconds(price(spec, jobs, after, shape, lengths))

    measured = sweep.seconds
    print(f"\n{'stage':<22} {'predicted s':>12} {'measured s':>11} {'measured/predicted':>19}   "
          f"{'predicted s, calibrated after the run':>38}")
    for name in (*STAGES, "total"):
        p, a = (sum(d.values()) if name == "total" else d[name] for d in (predicted["before"], predicted["after"]))
        m = sum(measured.values()) if name == "total" else measured[name]
        print(f"{name:<22} {p:>12.0f} {m:>11.0f} {m / p:>19.2f}   {a:>38.0f}")
    print(f"(the sweep's wall time {wall:.0f} s; {len(jobs)} models, {sum(j.finetuned for j in jobs)} trainings, "
          f"{sum(len(j.tasks) for j in jobs)} tasks; BASE jobs: {sum(j.train == BASE for j in jobs)})")


def _seconds(stages) -> dict:
    return {name: stage.hours["ours"] * 3600 for name, stage in stages.items()}


class TimedSweep(Sweep):
    """A Sweep whose training and evaluation calls are timed per stage."""

    def __init__(self, spec, out):
        super().__init__(spec, out)
        self.seconds = Counter()

    def train(self, job):
        start = time.perf_counter()
        super().train(job)
        self.seconds["training"] += time.perf_counter() - start

    def evaluate(self, job):
        start = time.perf_counter()
        super().evaluate(job)
        self.seconds["fine-tuned evaluation" if job.finetuned else "base evaluation"] += time.perf_counter() - start


if __name__ == "__main__":
    main()
