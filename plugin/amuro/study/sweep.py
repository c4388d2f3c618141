"""The study runner: checkpoints x training sets -> fine-tune -> evaluate with lm-eval -> one results table.

    amuro sweep runs/olmo1b_paper.yaml --dry-run     # the plan: trainings and evaluations, which are done
    amuro sweep olmo1b_paper                         # a shipped spec by name; finished jobs are skipped

`amuro.study.plan` says what the jobs are and where their files go; this module runs them. Every file is written
through a temporary file and renamed, and results.csv is rewritten whole under a lock with a row per key, so a
killed sweep loses at most the job in flight and a rerun never duplicates a row.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from amuro.console import LOG_FILE, quiet
from amuro.errors import AmuroError, os_error
from amuro.files import claim_folder, fault_point, remove, remove_stale_temporaries, write_atomic
from amuro.study import diagnostics
from amuro.study.backends import evaluate_arguments
from amuro.study.measures import catch_up, measure
from amuro.study.plan import Layout, ModelJob, default_out, describe, plan
from amuro.study.results import append_rows, rows_from_lm_eval
from amuro.study.spec import RunSpec
from amuro.train import cli_values

TRAIN_MODULE = "amuro.train.sft"


class Sweep:
    def __init__(self, spec: RunSpec, out: str | Path | None = None, rerun: str | None = None):
        self.spec = spec
        # Absolute: the lm-eval JSON records paths inside the run folder relative to it (`_portable`).
        self.layout = Layout((Path(out) if out else default_out(spec)).resolve())
        # The command that continues this sweep, for the line that says it stopped (the CLI passes its own).
        self.rerun = rerun or f"amuro sweep {spec.path or spec.name} --model {spec.model} --out {self.out}"
        self.running: ModelJob | None = None  # the job run_jobs is at (a SLURM task names it when it fails)

    @property
    def out(self) -> Path:
        return self.layout.out

    def jobs(self) -> list[ModelJob]:
        return plan(self.spec)

    def run(self, dry_run: bool = False, force: bool = False, gpu: str = "a100", calibrate: bool = False) -> Path:
        """Run every job that is not finished, one console line per job; the libraries' logs go to amuro.log.
        Several sweeps (or SLURM jobs) on the same spec and output folder split the jobs between them through
        per-job locks: each job is trained and evaluated once."""
        jobs = self.jobs()
        print(describe(self.spec, jobs, self.layout, gpu, calibrate), flush=True)
        slurm = self.spec.launcher.kind == "slurm"
        if dry_run:
            if slurm:
                from amuro.study import slurm as launcher

                print(launcher.describe(self.spec, self._todo(jobs), self.out), flush=True)
            return self.layout.results
        claim_folder(self.out, force=force)
        diagnostics.write_plan(self.layout.plan, self.spec, jobs, self.layout.evaluated)
        with quiet(self.out / LOG_FILE):
            catch_up(self, jobs)  # amuro.study.measures: opt-in BASE measures of jobs evaluated before they were on
            # Rows of jobs a killed sweep evaluated but did not write yet: one rewrite of results.csv for all.
            append_rows(self.layout.results, [row for j in jobs if self.layout.evaluated(j) for row in self.rows(j)])
            if slurm:
                from amuro.study.slurm import run_on_slurm

                run_on_slurm(self, self._todo(jobs))
            else:
                self.run_jobs(self._todo(jobs))
        print(f"results: {self.layout.results}  (library logs: {self.out / LOG_FILE})", flush=True)
        return self.layout.results

    def _todo(self, jobs: list[ModelJob]) -> list[ModelJob]:
        return [j for j in jobs if not self.layout.evaluated(j) or self._keeps_weights_it_should_not(j)]

    def run_jobs(self, jobs: list[ModelJob]) -> None:
        """First the jobs nobody else holds; then wait for the others (done by then, or their holder died)."""
        busy = [j for i, j in enumerate(jobs, 1) if not self._run_and_say(j, i, len(jobs), wait=False)]
        for i, job in enumerate(busy, len(jobs) - len(busy) + 1):
            self._run_and_say(job, i, len(jobs), wait=True)

    def _run_and_say(self, job: ModelJob, i: int, n: int, wait: bool) -> bool:
        start, self.running = time.time(), job
        stages = self.run_job(job, wait=wait)
        if stages is None:
            return False
        did = ", ".join(stages) if stages else "already done (by another sweep or an earlier try)"
        print(f"[{i}/{n}] {job.name}: {did} ({time.time() - start:.0f} s)", flush=True)
        return True

    def run_job(self, job: ModelJob, wait: bool = True) -> list[str] | None:
        """Under the job's lock: train (if fine-tuned and not yet trained), evaluate, write the rows, delete the
        weights the spec does not keep; each step skipped once done. Returns what it did, or None if another
        process holds the lock and `wait` is False. A lock dies with its holder, so a killed sweep's jobs are taken
        over by the next one."""
        from filelock import FileLock, Timeout

        path = self.layout.lock(job)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path))
        try:
            lock.acquire(timeout=-1 if wait else 0)
        except Timeout:
            return None
        stages = []
        try:
            for path in (self.layout.result_json(job, f) for f in job.fewshot_seeds):
                remove_stale_temporaries(path.parent, path.name)
            try:
                if not self.layout.trained(job):
                    self.train(job)
                    self.event("trained", job.name)
                    stages.append("trained")
                    fault_point("trained")
                if not self.layout.evaluated(job):
                    self.evaluate(job)
                    self.event("evaluated", job.name)
                    stages.append(f"evaluated {len(job.tasks)} tasks")
                    fault_point("evaluated")
            except Exception as e:  # noted in plan.json for the report, then raised naming the job
                diagnostics.record_failure(self.layout.plan, job, e)
                failure = self._failed(job, e)
                if failure is e:
                    raise
                raise failure from e
            diagnostics.record_failure(self.layout.plan, job, None)
            measure(self, job)  # amuro.study.measures: the opt-in BASE measures (evaluate.completion_loss)
            append_rows(self.layout.results, self.rows(job))
            fault_point("rows_written")
            if not self.spec.keep_weights:
                for leftover in self.layout.leftover_weights(job):
                    remove(leftover)
        finally:
            lock.release()
        return stages

    def _failed(self, job: ModelJob, e: Exception) -> Exception:
        """The error a failed job raises: one line that names the job (an AmuroError or OSError: a bad input, a
        model or file that cannot be read, the Hub unreachable); any other error keeps its traceback, with the
        job in a note."""
        if isinstance(e, (AmuroError, OSError)):
            text = str(e) if isinstance(e, AmuroError) else os_error(e)
            said = text if job.name in text else f"job {job.name} failed: {text}"
            return AmuroError(f"{said} (kept in {self.layout.plan}; the same command continues)")
        e.add_note(f"amuro sweep: while running job {job.name} (kept in {self.layout.plan})")
        return e

    def _keeps_weights_it_should_not(self, job: ModelJob) -> bool:  # a kill between evaluation and deletion
        return not self.spec.keep_weights and bool(self.layout.leftover_weights(job))

    def event(self, what: str, name: str) -> None:
        """A line in sweep.log (appended in one write: concurrent sweeps' lines never interleave); in a SLURM job it
        ends in `slurm=<job id>`."""
        import datetime

        array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
        job = f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")
        where = f" slurm={job}" if job else ""
        line = f"{datetime.datetime.now().isoformat(timespec='seconds')} pid={os.getpid()} {what} {name}{where}\n"
        with open(self.layout.events, "a") as f:
            f.write(line)

    def train_command(self, job: ModelJob) -> list[str]:
        """`<launcher.train_command> -m amuro.train.sft <flags>` (or the spec's own train_script)."""
        from amuro.configs import find

        launcher = self.spec.launcher
        command = [sys.executable if c == "python" else c for c in launcher.train_command]
        for i in range(1, len(command)):  # a shipped accelerate config, named or given relative to the repo root
            if command[i - 1] == "--config_file" and not Path(command[i]).expanduser().is_file():
                command[i] = str(find("ds_configs", command[i]))
        if launcher.train_script:
            script = self.spec.resolve(launcher.train_script)
            if not script.is_file():
                raise AmuroError(f"launcher.train_script {script} not found")
            target = [str(script)]
        else:
            target = ["-m", TRAIN_MODULE]
        load = job.checkpoint.load_args()
        args = ["--model_name_or_path", load["pretrained"], "--dataset_name", job.train,
                "--output_dir", str(self.layout.model_dir(job)), "--resume"]
        if "revision" in load:
            args += ["--model_revision", load["revision"]]
        if job.seed is not None:  # the spec's `seeds`: one model per seed (TRL's --seed)
            args += ["--seed", str(job.seed)]
        return [*command, *target, *args, *training_flags(self.spec, job.method)]

    def train(self, job: ModelJob) -> None:
        log = self.layout.log(job)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as f:
            code = subprocess.run(self.train_command(job), stdout=f, stderr=subprocess.STDOUT,
                                  preexec_fn=_die_with_parent).returncode
        if code:
            lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
            raise AmuroError(f"training {job.name} failed ({lines[-1] if lines else f'exit {code}'}); log: {log}")
        for checkpoint in self.layout.model_dir(job).glob("checkpoint-*"):  # only --resume needed them
            remove(checkpoint)

    def load_args(self, job: ModelJob) -> dict:
        """lm-eval model_args of the job's model, in the dtype of its kind (`RunSpec.eval_dtype`)."""
        load = job.checkpoint.load_args() if not job.finetuned else {"pretrained": str(self.layout.model_dir(job))}
        return {**load, **self.spec.evaluate.model_args, "dtype": self.spec.eval_dtype(job.train)}

    def evaluate(self, job: ModelJob) -> None:
        """All the job's tasks in one `simple_evaluate` per draw of demonstrations (the model is loaded once per
        draw); a draw already evaluated is kept."""
        for fewshot_seed in job.fewshot_seeds:
            if not self.layout.result_json(job, fewshot_seed).is_file():
                self._evaluate(job, fewshot_seed)

    def _evaluate(self, job: ModelJob, fewshot_seed: int | None) -> None:
        import lm_eval
        from lm_eval.utils import handle_non_serializable

        import amuro

        kwargs = evaluate_arguments(self, job, fewshot_seed)  # amuro.study.backends: the call for hf, amuro-hf, vllm
        if kwargs["use_cache"]:  # lm-eval's request cache is keyed by request only: one per model and revision
            Path(kwargs["use_cache"]).parent.mkdir(parents=True, exist_ok=True)
        manager = amuro.task_manager(include_defaults=False, metadata=kwargs.pop("metadata"))
        plan, folder = self.spec.evaluate, self.layout.lm_eval_dir(job, fewshot_seed)
        tracker = None
        if plan.log_samples or plan.wandb_args or plan.hf_hub_log_args:  # lm-eval's own outputs, as its CLI writes
            from lm_eval.loggers import EvaluationTracker

            tracker = EvaluationTracker(**{"output_path": str(folder), **plan.hf_hub_log_args})
        results = lm_eval.simple_evaluate(**kwargs, task_manager=manager, evaluation_tracker=tracker)
        samples = results.pop("samples", None)
        found = diagnostics.diagnose(samples or {})  # what the report needs from the samples (amuro block)
        if tracker is not None:
            lm_eval_outputs(results, samples, plan, tracker, folder,
                            f"{self.spec.name}/{job.checkpoint.revision}/{job.evaluation(fewshot_seed)}")
        ckpt = job.checkpoint
        results["amuro"] = {"model": ckpt.model, "revision": ckpt.revision, "step": ckpt.step, "tokens": ckpt.tokens,
                            "train": job.train, "method": job.method, "family": self.spec.family, "seed": job.seed,
                            "fewshot_seed": fewshot_seed, "model_args": kwargs["model_args"],
                            "provenance": self.spec.provenance(), "diagnostics": found}
        text = json.dumps(results, indent=1, default=handle_non_serializable)
        write_atomic(self.layout.result_json(job, fewshot_seed), self._portable(text))

    def _portable(self, text: str) -> str:
        """Paths inside the run folder relative to it, the task YAMLs' paths relative to their package: a results
        file that means the same after the folder is moved (secrets are redacted by write_atomic)."""
        import amuro

        tasks = str(Path(amuro.tasks_dir()).parent)
        for absolute, relative in ((str(self.out.resolve()), "."), (tasks, ".")):
            text = text.replace(json.dumps(absolute + "/")[1:-1], json.dumps(relative + "/")[1:-1])
        return text

    def rows(self, job: ModelJob) -> list[dict]:
        """The results-table rows of an evaluated job, from its lm-eval JSON(s)."""
        paths = [self.layout.result_json(job, f) for f in job.fewshot_seeds]
        return [row for p in paths for row in rows_from_lm_eval(json.loads(p.read_text()),
                                                                 source=str(p.relative_to(self.out)))]


def training_flags(spec: RunSpec, method: str = "full") -> list[str]:
    """The flags of `amuro.train.sft` a spec's profile and `training:` (and `lora:`) give every training job."""
    overrides = {**spec.training, **(spec.lora if method == "lora" else {})}
    flags = ["--use_peft"] if method == "lora" else []
    for key, value in overrides.items():
        flags += [f"--{key}", *cli_values(value)]
    return flags


def lm_eval_outputs(results: dict, samples: dict | None, plan, tracker, folder: Path, run_name: str) -> None:
    """What `lm_eval --output_path --log_samples --wandb_args ...` leaves, written by lm-eval's own EvaluationTracker
    (results_<date>.json, samples_<task>_<date>.jsonl) and W&B logger (its run folder under `folder` unless
    wandb_args says `dir`); then the secrets lm-eval wrote are redacted."""
    from amuro.files import redact, redact_folder

    if plan.wandb_args:
        from lm_eval.loggers import WandbLogger
        from lm_eval.utils import handle_non_serializable

        folder.mkdir(parents=True, exist_ok=True)
        logger = WandbLogger({"dir": str(folder), "name": run_name, **plan.wandb_args})
        try:  # as lm-eval's CLI does: W&B trouble never costs the evaluation
            logger.post_init(json.loads(redact(json.dumps(results, default=handle_non_serializable))))
            logger.log_eval_result()
            if plan.log_samples and samples:
                logger.log_eval_samples(samples)
        except Exception as e:  # lm-eval's W&B sample tables cannot read function metrics (Rouge-L here)
            logging.getLogger("lm_eval").warning("W&B logging stopped short: %s", e)
        finally:
            logger.run.finish()
    tracker.save_results_aggregated(results=results, samples=samples if plan.log_samples else None)
    if plan.log_samples and samples:
        for task in results["configs"]:
            tracker.save_results_samples(task_name=task, samples=samples[task])
    if tracker.push_results_to_hub or tracker.push_samples_to_hub:
        tracker.recreate_metadata_card()
    redact_folder(folder)


def _die_with_parent() -> None:
    """In the training process (Linux): receive SIGKILL when the sweep dies, so that a killed sweep leaves no
    trainer writing into a folder its rerun trains into again."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
