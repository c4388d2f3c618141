"""The study runner: checkpoints x training sets -> fine-tune -> evaluate with lm-eval -> one results table.

    amuro sweep runs/olmo1b_paper.yaml --dry-run     # the plan: trainings and evaluations, which are done
    amuro sweep runs/olmo1b_paper.yaml               # run it (again: finished cells are skipped)

A cell is one model to evaluate: a checkpoint as it is (`train == "base"`), or the checkpoint fine-tuned on one
training set by `training/sft.py`. Each cell leaves, under `runs/<name>/`:
    models/<revision>/<train>/   the fine-tuned model and its run_card.json (weights deleted after evaluation
                                 when the spec says keep_weights: false; the run card stays)
    lm_eval/<revision>/<train>.json   lm-eval's results for all the cell's tasks (one model load per cell)
    logs/<revision>/<train>.log  the training log
and its rows in `results.csv` (the schema of `amuro.results`, plus `source`: the lm-eval JSON each row comes from).
Every file is written to a temporary name and renamed, and results.csv is rewritten whole under a lock with a row
per key, so a killed sweep loses at most the cell in flight and a rerun never duplicates a row.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import submitit

from amuro.checkpoints import Checkpoint, list_revisions, select
from amuro.errors import AmuroError
from amuro.registry import SETS, parse_task_name
from amuro.results import BASE, COLUMNS
from amuro.spec import RunSpec

RESULTS = "results.csv"
KEY = ("model", "revision", "train", "eval", "format", "num_fewshot", "metric")
SFT_SCRIPT = Path(__file__).resolve().parents[2] / "training" / "sft.py"  # in a source checkout


@dataclass(frozen=True)
class Cell:
    checkpoint: Checkpoint
    train: str  # BASE, or the training set the checkpoint is fine-tuned on
    tasks: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.checkpoint.revision}/{self.train}"


class Sweep:
    def __init__(self, spec: RunSpec, out: str | Path | None = None):
        self.spec = spec
        default = (spec.path.parent if spec.path else Path("runs")) / spec.name
        self.out = Path(out) if out else default

    # --- the plan -------------------------------------------------------------------------------------------
    def checkpoints(self) -> list[Checkpoint]:
        c = self.spec.checkpoints
        names = list_revisions(self.spec.model, self.spec.resolve(c.revisions_file))
        return select(self.spec.model, names, revisions=list(c.revisions), steps=list(c.steps), uniform=c.uniform,
                      final=c.final)

    def cells(self) -> list[Cell]:
        return [Cell(ckpt, train, tuple(self.spec.tasks(train)))
                for ckpt in self.checkpoints() for train in (BASE, *self.spec.train)]

    def model_dir(self, cell: Cell) -> Path:
        return self.out / "models" / cell.checkpoint.revision / cell.train

    def result_json(self, cell: Cell) -> Path:
        return self.out / "lm_eval" / cell.checkpoint.revision / f"{cell.train}.json"

    def trained(self, cell: Cell) -> bool:
        return cell.train == BASE or (self.model_dir(cell) / "run_card.json").is_file()

    def evaluated(self, cell: Cell) -> bool:
        return self.result_json(cell).is_file()

    def describe(self, cells: list[Cell]) -> str:
        trainings = [c for c in cells if c.train != BASE]
        done_t = sum(self.trained(c) for c in trainings)
        done_e = sum(self.evaluated(c) for c in cells)
        n_ckpt = len({c.checkpoint.revision for c in cells})
        lines = [f"{self.spec.name}: {n_ckpt} checkpoints of {self.spec.model} x (base + {len(self.spec.train)} "
                 f"training sets) -> {self.out}",
                 f"trainings: {len(trainings)} ({done_t} done, {len(trainings) - done_t} to run)",
                 f"evaluations: {len(cells)} ({done_e} done, {len(cells) - done_e} to run), "
                 f"{sum(len(c.tasks) for c in cells)} lm-eval tasks in all"]
        for c in cells:
            state = "done" if self.evaluated(c) else "trained" if c.train != BASE and self.trained(c) else "to run"
            lines.append(f"  step {c.checkpoint.step:>9}  {c.name:<40} {len(c.tasks):>3} tasks  {state}")
        return "\n".join(lines)

    # --- running ----------------------------------------------------------------------------------------------
    def run(self, dry_run: bool = False) -> Path:
        from tqdm.auto import tqdm

        cells = self.cells()
        print(self.describe(cells), flush=True)
        if dry_run:
            return self.out / RESULTS
        self.out.mkdir(parents=True, exist_ok=True)
        # Rows of cells a killed sweep evaluated but did not write yet: one rewrite of results.csv for all.
        append_rows(self.out / RESULTS, [row for c in cells if self.evaluated(c) for row in self.rows(c)])
        pending = [c for c in cells if not self.evaluated(c)]
        if self.spec.launcher.kind == "slurm":
            self._run_submitit(pending)
        else:
            for cell in tqdm(pending, desc=f"sweep {self.spec.name}", unit="cell"):
                self.run_cell(cell)
        print(f"results: {self.out / RESULTS}", flush=True)
        return self.out / RESULTS

    def run_cell(self, cell: Cell) -> None:
        """Train (if fine-tuned and not yet trained), evaluate, write the rows; each step skipped once done."""
        if not self.trained(cell):
            self.train(cell)
        if not self.evaluated(cell):
            self.evaluate(cell)
        append_rows(self.out / RESULTS, self.rows(cell))
        if cell.train != BASE and not self.spec.keep_weights:
            for path in self.model_dir(cell).iterdir():
                if path.name != "run_card.json":
                    _remove(path)

    def train(self, cell: Cell) -> None:
        script = self.spec.resolve(self.spec.launcher.train_script) or SFT_SCRIPT
        if not script.is_file():
            raise AmuroError(f"training script {script} not found; set launcher.train_script in the run spec")
        command = [sys.executable if c == "python" else c for c in self.spec.launcher.train_command]
        load = cell.checkpoint.load_args()
        args = ["--model_name_or_path", load["pretrained"], "--dataset", cell.train,
                "--output_dir", str(self.model_dir(cell)), "--resume"]
        if "revision" in load:
            args += ["--revision", load["revision"]]
        for key, value in self.spec.training.items():
            args += [f"--{key}", *_cli_values(value)]
        log = self.out / "logs" / cell.checkpoint.revision / f"{cell.train}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as f:
            code = subprocess.run([*command, str(script), *args], stdout=f, stderr=subprocess.STDOUT,
                                  preexec_fn=_die_with_parent).returncode
        if code:
            lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
            raise AmuroError(f"training {cell.name} failed ({lines[-1] if lines else f'exit {code}'}); log: {log}")
        for checkpoint in self.model_dir(cell).glob("checkpoint-*"):  # only --resume needed them
            _remove(checkpoint)

    def load_args(self, cell: Cell) -> dict:
        """lm-eval model_args of the cell's model."""
        load = cell.checkpoint.load_args() if cell.train == BASE else {"pretrained": str(self.model_dir(cell))}
        return {**load, **self.spec.evaluate.model_args}

    def evaluate(self, cell: Cell) -> None:
        """All the cell's tasks in one `simple_evaluate`: the model is loaded once."""
        import lm_eval
        import torch
        from lm_eval.utils import handle_non_serializable

        import amuro

        plan, args = self.spec.evaluate, self.load_args(cell)
        cache = None
        if plan.cache:  # lm-eval's request cache is keyed by request only: one database per model and revision
            cache = str(self.out / "cache" / cell.checkpoint.revision / cell.train)
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
        # lm-eval warns, for every task with a custom dataset loader, that custom kwargs exist: noise here.
        task_logger = logging.getLogger("lm_eval.api.task")
        if not any(isinstance(f, _NotCustomKwargsWarning) for f in task_logger.filters):
            task_logger.addFilter(_NotCustomKwargsWarning())
        manager = amuro.task_manager(include_defaults=False, metadata=dict(args))
        results = lm_eval.simple_evaluate(
            model=plan.model, model_args=args, tasks=list(cell.tasks), num_fewshot=plan.num_fewshot,
            limit=plan.limit, batch_size=plan.batch_size, task_manager=manager, use_cache=cache,
            device=plan.device or ("cuda" if torch.cuda.is_available() else "cpu"), verbosity="WARNING")
        results.pop("samples", None)
        ckpt = cell.checkpoint
        results["amuro"] = {"model": ckpt.model, "revision": ckpt.revision, "step": ckpt.step, "tokens": ckpt.tokens,
                            "train": cell.train, "model_args": args}
        _write_atomic(self.result_json(cell), json.dumps(results, indent=1, default=handle_non_serializable))

    def rows(self, cell: Cell) -> list[dict]:
        """The results-table rows of an evaluated cell, from its lm-eval JSON."""
        path = self.result_json(cell)
        return rows_from_lm_eval(json.loads(path.read_text()), source=str(path.relative_to(self.out)))

    def _run_submitit(self, pending: list[Cell]) -> None:
        """One SLURM job per cell through submitit; a requeued job reruns its cell, skipping what is done."""
        from tqdm.auto import tqdm

        params = dict(self.spec.launcher.slurm)
        executor = submitit.AutoExecutor(folder=self.out / "slurm" / "%j", cluster=params.pop("cluster", None))
        executor.update_parameters(name=f"amuro-{self.spec.name}", **params)
        jobs = [executor.submit(CellJob(self.spec, str(self.out), c.name)) for c in pending]
        print(f"submitted {len(jobs)} jobs: {', '.join(j.job_id for j in jobs)}", flush=True)
        for job in tqdm(submitit.helpers.as_completed(jobs), total=len(jobs), desc="sweep jobs", unit="cell"):
            job.result()  # raises if the job failed


class CellJob(submitit.helpers.Checkpointable):
    """A submitit job: run one cell. Checkpointable: on preemption or timeout submitit requeues it, and the
    rerun skips what the cell has finished (training resumes from its last checkpoint). It carries the run spec
    as the sweep holds it, command-line overrides included."""

    def __init__(self, spec: RunSpec, out: str, cell: str):
        self.spec, self.out, self.cell = spec, out, cell

    def __call__(self) -> str:
        sweep = Sweep(self.spec, self.out)
        cell = next(c for c in sweep.cells() if c.name == self.cell)
        sweep.run_cell(cell)
        return self.cell


# --- the results table ------------------------------------------------------------------------------------------
def rows_from_lm_eval(results: dict, source: str) -> list[dict]:
    """Rows in the results schema from one cell's lm-eval results JSON."""
    meta, rows = results["amuro"], []
    for task, metrics in sorted(results["results"].items()):
        set_name, fmt = parse_task_name(task)
        for metric in SETS[set_name].metrics:
            stderr = metrics.get(f"{metric}_stderr,none")
            rows.append({
                "model": meta["model"], "revision": meta["revision"], "step": meta["step"],
                "tokens": "" if meta["tokens"] is None else meta["tokens"], "train": meta["train"],
                "eval": set_name, "format": fmt, "num_fewshot": results["n-shot"][task], "metric": metric,
                "value": metrics[f"{metric},none"],
                "stderr": stderr if isinstance(stderr, (int, float)) else "",
                "n": results["n-samples"][task]["effective"], "source": source,
            })
    return rows


def append_rows(path: Path, rows: list[dict]) -> None:
    """Add rows to a results CSV, replacing any with the same key; rewritten whole and renamed under a lock, so
    readers never see half a file and concurrent jobs never lose each other's rows."""
    import csv
    import fcntl

    if not rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = list(csv.DictReader(open(path, newline=""))) if path.is_file() else []
        merged = {tuple(str(r[k]) for k in KEY): r for r in old}
        for row in rows:
            merged[tuple(str(row[k]) for k in KEY)] = row
        header = list(COLUMNS) + [c for r in merged.values() for c in r if c not in COLUMNS]
        header = list(dict.fromkeys(header))
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=header, restval="")
            writer.writeheader()
            writer.writerows(merged.values())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


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


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path) if path.is_dir() else path.unlink()


def _cli_values(value) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]
