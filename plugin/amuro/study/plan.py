"""What a sweep will do: the models to train and evaluate, and where each one's files go.

A *job* is one model of the sweep: a checkpoint as it is (`train == "base"`), or the checkpoint fine-tuned on one
training set by one method (full or LoRA) and, where the spec lists `seeds`, with one seed (`<train>` below reads
`<train>-lora` for LoRA, `<train>-seed<s>` for a seed). A job evaluates its model once per draw of demonstrations
the spec lists (`evaluate: fewshot_seeds`), each into its own lm-eval JSON (`<train>-fewshot<f>.json` below). (The
report's *cells*, step x training set x evaluation set x format, are a different thing.) Each job leaves, under
the sweep's output folder:

    models/<revision>/<train>/        the fine-tuned model and its run_card.json (weights deleted after evaluation
                                      when the spec says keep_weights: false; the run card stays)
    lm_eval/<revision>/<train>.json   lm-eval's results for all the job's tasks (one model load per job);
    lm_eval/<revision>/<train>/       lm-eval's own outputs (results_*.json, samples_*.jsonl, W&B) on request
    logs/<revision>/<train>.log       the training log
    locks/<revision>/<train>.lock     held while a sweep works on the job: concurrent sweeps split the jobs
    sweep.log                         one line per finished stage of a job (pid, time): what ran, where, when;
                                      on SLURM also one per submitted task (amuro.study.slurm)
    slurm/<array>_<task>/             a SLURM task's files and logs (submitit's)
    cache/<revision>/<train>*         lm-eval's request cache, when the spec asks for one

and, for the whole sweep, results.csv and plan.json (the jobs and their tasks, failed jobs; for the report).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from amuro.study.checkpoints import Checkpoint, list_revisions, select
from amuro.study.results import BASE
from amuro.study.spec import RunSpec
from amuro.train import RUN_CARD

RESULTS = "results.csv"
PLAN = "plan.json"  # beside results.csv: what was meant to run, and what failed (amuro.study.diagnostics)


@dataclass(frozen=True)
class ModelJob:
    checkpoint: Checkpoint
    train: str  # BASE, or the training set the checkpoint is fine-tuned on
    tasks: tuple[str, ...]
    method: str = "full"  # full | lora (a BASE job is not fine-tuned: full)
    seed: int | None = None  # the fine-tuning seed (spec `seeds`); None: no seed axis
    fewshot_seeds: tuple[int | None, ...] = (None,)  # one evaluation per draw of demonstrations (None: one draw)

    @property
    def key(self) -> str:
        """The job's name within its checkpoint: `mnli`, `mnli-lora`, `mnli-seed1`, `base`."""
        key = self.train if self.method == "full" else f"{self.train}-{self.method}"
        return key if self.seed is None else f"{key}-seed{self.seed}"

    def evaluation(self, fewshot_seed: int | None) -> str:
        """The name of one of its evaluations: the key, and the draw of demonstrations where there are several."""
        return self.key if fewshot_seed is None else f"{self.key}-fewshot{fewshot_seed}"

    @property
    def name(self) -> str:
        return f"{self.checkpoint.revision}/{self.key}"

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

    @property
    def plan(self) -> Path:
        return self.out / PLAN

    def model_dir(self, job: ModelJob) -> Path:
        return self.out / "models" / job.checkpoint.revision / job.key

    def result_json(self, job: ModelJob, fewshot_seed: int | None = None) -> Path:
        return self.out / "lm_eval" / job.checkpoint.revision / f"{job.evaluation(fewshot_seed)}.json"

    def lm_eval_dir(self, job: ModelJob, fewshot_seed: int | None = None) -> Path:
        """lm-eval's own outputs (EvaluationTracker results and samples, W&B run), when the spec asks for them."""
        return self.out / "lm_eval" / job.checkpoint.revision / job.evaluation(fewshot_seed)

    def log(self, job: ModelJob) -> Path:
        return self.out / "logs" / job.checkpoint.revision / f"{job.key}.log"

    def lock(self, job: ModelJob) -> Path:
        return self.out / "locks" / job.checkpoint.revision / f"{job.key}.lock"

    @property
    def events(self) -> Path:
        return self.out / "sweep.log"

    def cache(self, job: ModelJob) -> Path:
        return self.out / "cache" / job.checkpoint.revision / job.key

    def trained(self, job: ModelJob) -> bool:
        return not job.finetuned or (self.model_dir(job) / RUN_CARD).is_file()

    def evaluated(self, job: ModelJob) -> bool:
        return all(self.result_json(job, f).is_file() for f in job.fewshot_seeds)

    def leftover_weights(self, job: ModelJob) -> list[Path]:
        """What a fine-tuned job keeps besides its run card (deleted after evaluation when keep_weights is false)."""
        folder = self.model_dir(job)
        return [p for p in folder.iterdir() if p.name != RUN_CARD] if job.finetuned and folder.is_dir() else []


def default_out(spec: RunSpec) -> Path:
    """`runs/<name>/` beside the spec; for a spec shipped inside the installed package, `runs/<name>/` here."""
    from amuro.configs import is_packaged

    beside = spec.path is not None and not is_packaged(spec.path)
    out = (spec.path.parent if beside else Path("runs")) / spec.name
    return out / spec.family if spec.family else out


def checkpoints(spec: RunSpec) -> list[Checkpoint]:
    c = spec.checkpoints
    names = list_revisions(spec.model, spec.resolve(c.revisions_file))
    chosen = select(spec.model, names, revisions=list(c.revisions), steps=list(c.steps), uniform=c.uniform,
                    final=c.final)
    if c.tokens_per_step:  # names without tokens (Pythia, SmolLM2): step x the run's batch in tokens
        chosen = [ck if ck.tokens is not None else replace(ck, tokens=ck.step * c.tokens_per_step) for ck in chosen]
    return chosen


def plan(spec: RunSpec) -> list[ModelJob]:
    """Every job of the spec: per checkpoint, the base model, then one fine-tuned model per training set, method
    and seed."""
    draws = tuple(spec.evaluate.fewshot_seeds) or (None,)
    return [job for ckpt in checkpoints(spec) for job in (
        ModelJob(ckpt, BASE, tuple(spec.tasks(BASE)), fewshot_seeds=draws),
        *(ModelJob(ckpt, train, tuple(spec.tasks(train)), method, seed, draws) for train in spec.train
          for method in spec.methods for seed in (spec.seeds or (None,))))]


def settings(spec: RunSpec) -> list[str]:
    """The knobs that decide the numbers, as the profile and the spec set them."""
    from amuro.study.profiles import get_profile

    e, t = spec.evaluate, spec.training
    args = ", ".join(f"{k}={v}" for k, v in e.model_args.items() if k != "token")
    return [f"profile {spec.profile}: {get_profile(spec.profile).summary}",
            f"  evaluation: --model {e.model} ({args}), {e.num_fewshot}-shot, demonstrations {e.fewshot}, "
            f"QQP/STS-B {e.splits}, RTE {e.rte}, instruction-tuning sets as {e.harness}, "
            f"gen_kwargs {e.gen_kwargs or 'as the tasks set them'}; formats {', '.join(e.formats)}, "
            f"instruction-tuning sets {', '.join(e.instruction_formats)}",
            f"  training: loss averaged {t.get('loss_averaging', 'per_token')}, "
            f"{t.get('total_batch_size', 8)} examples per optimizer step on any number of processes"
            + (f", overrides {dict((k, v) for k, v in t.items() if k != 'loss_averaging')}" if len(t) > 1 else "")]


def describe(spec: RunSpec, jobs: list[ModelJob], layout: Layout, gpu: str = "a100",
             calibrate: bool = False) -> str:
    """The plan as `amuro sweep --dry-run` prints it: counts, one line per job with its state, the compute plan."""
    from amuro.study.budget import compute_plan

    trainings = [j for j in jobs if j.finetuned]
    done_t = sum(layout.trained(j) for j in trainings)
    done_e = sum(layout.evaluated(j) for j in jobs)
    n_ckpt = len({j.checkpoint.revision for j in jobs})
    methods = f" x {len(spec.methods)} methods ({', '.join(spec.methods)})" if len(spec.methods) > 1 else ""
    from amuro.study.ledger import observe, run_lines

    methods += f" x {len(spec.seeds)} seeds" if spec.seeds else ""
    lines = [f"{spec.name}: {n_ckpt} checkpoints of {spec.model} x (base + {len(spec.train)} training sets{methods}) "
             f"-> {layout.out}", *settings(spec), *run_lines(observe(spec)),
             f"trainings: {len(trainings)} ({done_t} done, {len(trainings) - done_t} to run)",
             f"evaluations: {len(jobs)} ({done_e} done, {len(jobs) - done_e} to run)"
             + (f", each once per draw of demonstrations ({len(spec.evaluate.fewshot_seeds)})"
                if spec.evaluate.fewshot_seeds else "")
             + f", {sum(len(j.tasks) * len(j.fewshot_seeds) for j in jobs)} lm-eval tasks in all"]
    for j in jobs:
        state = "done" if layout.evaluated(j) else "trained" if j.finetuned and layout.trained(j) else "to run"
        lines.append(f"  step {j.checkpoint.step:>9}  {j.name:<40} {len(j.tasks):>3} tasks  {state}")
    return "\n".join([*lines, compute_plan(spec, jobs, gpu, calibrate)])
