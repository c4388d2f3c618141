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
import subprocess
import sys
from pathlib import Path

from amuro.errors import AmuroError
from amuro.files import remove, write_atomic
from amuro.study.plan import Layout, ModelJob, default_out, describe, plan
from amuro.study.results import append_rows, rows_from_lm_eval
from amuro.study.spec import RunSpec
from amuro.train import RUN_CARD

TRAIN_MODULE = "amuro.train.sft"


class Sweep:
    def __init__(self, spec: RunSpec, out: str | Path | None = None):
        self.spec = spec
        self.layout = Layout(Path(out) if out else default_out(spec))

    @property
    def out(self) -> Path:
        return self.layout.out

    def jobs(self) -> list[ModelJob]:
        return plan(self.spec)

    def run(self, dry_run: bool = False, gpu: str = "a100") -> Path:
        from tqdm.auto import tqdm

        jobs = self.jobs()
        print(describe(self.spec, jobs, self.layout, gpu), flush=True)
        if dry_run:
            return self.layout.results
        self.out.mkdir(parents=True, exist_ok=True)
        # Rows of jobs a killed sweep evaluated but did not write yet: one rewrite of results.csv for all.
        append_rows(self.layout.results, [row for j in jobs if self.layout.evaluated(j) for row in self.rows(j)])
        pending = [j for j in jobs if not self.layout.evaluated(j)]
        if self.spec.launcher.kind == "slurm":
            from amuro.study.slurm import run_on_slurm

            run_on_slurm(self, pending)
        else:
            for job in tqdm(pending, desc=f"sweep {self.spec.name}", unit="model"):
                self.run_job(job)
        print(f"results: {self.layout.results}", flush=True)
        return self.layout.results

    def run_job(self, job: ModelJob) -> None:
        """Train (if fine-tuned and not yet trained), evaluate, write the rows; each step skipped once done."""
        if not self.layout.trained(job):
            self.train(job)
        if not self.layout.evaluated(job):
            self.evaluate(job)
        append_rows(self.layout.results, self.rows(job))
        if job.finetuned and not self.spec.keep_weights:
            for path in self.layout.model_dir(job).iterdir():
                if path.name != RUN_CARD:
                    remove(path)

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
        args = ["--model_name_or_path", load["pretrained"], "--dataset", job.train,
                "--output_dir", str(self.layout.model_dir(job)), "--resume"]
        if "revision" in load:
            args += ["--revision", load["revision"]]
        for key, value in self.spec.training.items():
            args += [f"--{key}", *_cli_values(value)]
        return [*command, *target, *args]

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
        """lm-eval model_args of the job's model."""
        load = job.checkpoint.load_args() if not job.finetuned else {"pretrained": str(self.layout.model_dir(job))}
        return {**load, **self.spec.evaluate.model_args}

    def evaluate(self, job: ModelJob) -> None:
        """All the job's tasks in one `simple_evaluate`: the model is loaded once."""
        import lm_eval
        import torch
        from lm_eval.utils import handle_non_serializable

        import amuro

        plan, args = self.spec.evaluate, self.load_args(job)
        cache = None
        if plan.cache:  # lm-eval's request cache is keyed by request only: one database per model and revision
            cache = str(self.layout.cache(job))
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
        # lm-eval warns, for every task with a custom dataset loader, that custom kwargs exist: noise here.
        task_logger = logging.getLogger("lm_eval.api.task")
        if not any(isinstance(f, _NotCustomKwargsWarning) for f in task_logger.filters):
            task_logger.addFilter(_NotCustomKwargsWarning())
        manager = amuro.task_manager(include_defaults=False, metadata=dict(args))
        results = lm_eval.simple_evaluate(
            model=plan.model, model_args=args, tasks=list(job.tasks), num_fewshot=plan.num_fewshot,
            limit=plan.limit, batch_size=plan.batch_size, task_manager=manager, use_cache=cache,
            device=plan.device or ("cuda" if torch.cuda.is_available() else "cpu"), verbosity="WARNING")
        results.pop("samples", None)
        ckpt = job.checkpoint
        results["amuro"] = {"model": ckpt.model, "revision": ckpt.revision, "step": ckpt.step, "tokens": ckpt.tokens,
                            "train": job.train, "model_args": args}
        write_atomic(self.layout.result_json(job), json.dumps(results, indent=1, default=handle_non_serializable))

    def rows(self, job: ModelJob) -> list[dict]:
        """The results-table rows of an evaluated job, from its lm-eval JSON."""
        path = self.layout.result_json(job)
        return rows_from_lm_eval(json.loads(path.read_text()), source=str(path.relative_to(self.out)))


class _NotCustomKwargsWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Custom kwargs can be passed" not in record.getMessage()


def _die_with_parent() -> None:
    """In the training process (Linux): receive SIGKILL when the sweep dies, so that a killed sweep leaves no
    trainer writing into a folder its rerun trains into again."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _cli_values(value) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]
