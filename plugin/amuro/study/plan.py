"""What a sweep will do: the models to train and evaluate, and where each one's files go.

A *job* is one model of the sweep: a checkpoint as it is (`train == "base"`), or the checkpoint fine-tuned on one
training set. (The report's *cells*, step x training set x evaluation set x format, are a different thing.) Each
job leaves, under the sweep's output folder:

    models/<revision>/<train>/        the fine-tuned model and its run_card.json (weights deleted after evaluation
                                      when the spec says keep_weights: false; the run card stays)
    lm_eval/<revision>/<train>.json   lm-eval's results for all the job's tasks (one model load per job)
    logs/<revision>/<train>.log       the training log
    cache/<revision>/<train>*         lm-eval's request cache, when the spec asks for one
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from amuro.study.checkpoints import Checkpoint, list_revisions, select
from amuro.study.results import BASE
from amuro.study.spec import RunSpec
from amuro.train import RUN_CARD

RESULTS = "results.csv"


@dataclass(frozen=True)
class ModelJob:
    checkpoint: Checkpoint
    train: str  # BASE, or the training set the checkpoint is fine-tuned on
    tasks: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.checkpoint.revision}/{self.train}"

    @property
    def finetuned(self) -> bool:
        return self.train != BASE


@dataclass(frozen=True)
class Layout:
    """The one place that knows where a sweep's files are."""

    out: Path

    @property
    def results(self) -> Path:
        return self.out / RESULTS

    def model_dir(self, job: ModelJob) -> Path:
        return self.out / "models" / job.checkpoint.revision / job.train

    def result_json(self, job: ModelJob) -> Path:
        return self.out / "lm_eval" / job.checkpoint.revision / f"{job.train}.json"

    def log(self, job: ModelJob) -> Path:
        return self.out / "logs" / job.checkpoint.revision / f"{job.train}.log"

    def cache(self, job: ModelJob) -> Path:
        return self.out / "cache" / job.checkpoint.revision / job.train

    def trained(self, job: ModelJob) -> bool:
        return not job.finetuned or (self.model_dir(job) / RUN_CARD).is_file()

    def evaluated(self, job: ModelJob) -> bool:
        return self.result_json(job).is_file()


def default_out(spec: RunSpec) -> Path:
    """`runs/<name>/` beside the spec; for a spec shipped inside the installed package, `runs/<name>/` here."""
    from amuro.configs import is_packaged

    beside = spec.path is not None and not is_packaged(spec.path)
    return (spec.path.parent if beside else Path("runs")) / spec.name


def checkpoints(spec: RunSpec) -> list[Checkpoint]:
    c = spec.checkpoints
    names = list_revisions(spec.model, spec.resolve(c.revisions_file))
    return select(spec.model, names, revisions=list(c.revisions), steps=list(c.steps), uniform=c.uniform,
                  final=c.final)


def plan(spec: RunSpec) -> list[ModelJob]:
    """Every job of the spec: per checkpoint, the base model, then one fine-tuned model per training set."""
    return [ModelJob(ckpt, train, tuple(spec.tasks(train)))
            for ckpt in checkpoints(spec) for train in (BASE, *spec.train)]


def describe(spec: RunSpec, jobs: list[ModelJob], layout: Layout, gpu: str = "a100") -> str:
    """The plan as `amuro sweep --dry-run` prints it: counts, one line per job with its state, the compute plan."""
    from amuro.study.cost import compute_plan

    trainings = [j for j in jobs if j.finetuned]
    done_t = sum(layout.trained(j) for j in trainings)
    done_e = sum(layout.evaluated(j) for j in jobs)
    n_ckpt = len({j.checkpoint.revision for j in jobs})
    lines = [f"{spec.name}: {n_ckpt} checkpoints of {spec.model} x (base + {len(spec.train)} training sets) "
             f"-> {layout.out}",
             f"trainings: {len(trainings)} ({done_t} done, {len(trainings) - done_t} to run)",
             f"evaluations: {len(jobs)} ({done_e} done, {len(jobs) - done_e} to run), "
             f"{sum(len(j.tasks) for j in jobs)} lm-eval tasks in all"]
    for j in jobs:
        state = "done" if layout.evaluated(j) else "trained" if j.finetuned and layout.trained(j) else "to run"
        lines.append(f"  step {j.checkpoint.step:>9}  {j.name:<40} {len(j.tasks):>3} tasks  {state}")
    return "\n".join([*lines, compute_plan(spec, jobs, gpu)])
