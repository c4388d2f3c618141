"""The SLURM launcher: a sweep's pending jobs as one SLURM job array, submitted and watched through submitit.

One array task per checkpoint runs that checkpoint's pending jobs (base, then each fine-tuning) one after another, so
a node fetches each base model once; `launcher.slurm.max_concurrent` throttles the array (`--array=0-N%max`), the
rest of `launcher.slurm` is submitit's parameters (partition, GPUs, time: docs/slurm.md). A task is Checkpointable:
after preemption, a timeout or `scontrol requeue` SLURM starts it again and it skips what is done (training resumes
from its last checkpoint). The sweep watches its tasks with `squeue` (sacct needs accounting, which small clusters
lack); a task that ends without finishing its jobs (scancel, node failure, out of memory or time) stops the sweep
with one line naming the task, its log and the command that continues, and a task that fails names the job and its
error. Files, under the sweep's output folder:

    slurm/<array>_<task>/     submitit's files of a task: <array>_<task>_0_log.out and .err (its log), the pickled
                              task and its result (a single task is a plain job: slurm/<job>/)
    sweep.log                 `submitted <array>_<task> <jobs>` per task; each stage a task finishes ends in
                              `slurm=<array>_<task>`
"""

from __future__ import annotations

import re
import signal
import subprocess
import time

import submitit

from amuro.errors import AmuroError, did_you_mean

# squeue states of a job that will not run again; a job squeue no longer lists has ended too (GONE)
ENDED = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "GONE"}
GRACE_S = 5  # an ended task's result file may show up this late on a shared file system


class SlurmTask(submitit.helpers.Checkpointable):
    """One array task: run some jobs of a sweep (by name), as the local sweep runs them (first those no other sweep
    holds). It carries the run spec as the sweep holds it, command-line overrides included."""

    def __init__(self, spec, out: str, jobs: tuple[str, ...]):
        self.spec, self.out, self.jobs = spec, out, tuple(jobs)

    def __call__(self) -> tuple[str, ...]:
        from amuro.study.sweep import Sweep

        terms = _count_sigterms()
        sweep = Sweep(self.spec, self.out)
        by_name = {j.name: j for j in sweep.jobs()}
        try:
            sweep.run_jobs([by_name[name] for name in self.jobs])
        except Exception as e:
            if _stopping(terms):
                # SLURM stops the task (scancel, requeue, preemption): its SIGTERM reached every process of the job
                # and ended the training process. Not a failure of the job: wait for the SIGKILL that follows (or
                # submitit's requeue on USR2, or the time limit) instead of writing an error result.
                while True:
                    time.sleep(1)
            where = sweep.running.name if sweep.running else ", ".join(self.jobs)
            raise TaskFailed(f"{where}: {_one_line(e)}") from e  # one line the sweep reads back
        return self.jobs


def _count_sigterms() -> list:
    """The SIGTERMs this process receives from now on, under submitit, whose handler still runs (it logs a SIGTERM
    and carries on); elsewhere a SIGTERM ends the process as usual."""
    received, previous = [], signal.getsignal(signal.SIGTERM)

    def handler(signum, frame):
        received.append(signum)
        previous(signum, frame)

    if callable(previous):
        signal.signal(signal.SIGTERM, handler)
    return received


def _stopping(received: list, wait_s: float = 2.0) -> bool:
    """Whether SLURM is stopping this task; the SIGTERM may reach this process a moment after a child it ended."""
    deadline = time.time() + wait_s
    while not received and time.time() < deadline:
        time.sleep(0.1)
    return bool(received)


class TaskFailed(Exception):
    """`<job>: <error>`: the last line of a failed task's traceback, which the sweep reads back (submitit keeps only
    the text of a task's exception)."""


def _one_line(e: BaseException) -> str:
    lines = [ln for ln in str(e).splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    return text if isinstance(e, AmuroError) else f"{type(e).__name__}: {text}".rstrip(": ")


def array_tasks(jobs) -> list[list]:
    """The jobs grouped by checkpoint, in plan order: one array task each."""
    groups: dict[str, list] = {}
    for job in jobs:
        groups.setdefault(job.checkpoint.revision, []).append(job)
    return list(groups.values())


def parameters(spec) -> tuple[dict, str | None, int | None]:
    """(submitit parameters, submitit cluster, max_concurrent) from `launcher.slurm`, every key checked."""
    from submitit.slurm.slurm import SlurmExecutor

    params = dict(spec.launcher.slurm)
    cluster, throttle = params.pop("cluster", None), params.pop("max_concurrent", None)
    known = {*submitit.AutoExecutor._valid_parameters(), *(f"slurm_{k}" for k in SlurmExecutor._valid_parameters())}
    for key in params:
        if key not in known and not key.startswith(("local_", "debug_")):
            raise AmuroError(f"launcher: slurm: unknown parameter {key!r}{did_you_mean(key, known)}; "
                             "docs/slurm.md lists them")
    if throttle is not None and not (isinstance(throttle, int) and throttle > 0):
        raise AmuroError(f"launcher: slurm: max_concurrent must be a positive integer, got {throttle!r}")
    return params, cluster, throttle


def describe(spec, jobs, out) -> str:
    """What `amuro sweep --dry-run` prints for a SLURM spec: the array it would submit for the pending jobs."""
    tasks = array_tasks(jobs)
    params, _, throttle = parameters(spec)
    if not tasks:
        return "SLURM: nothing to submit"
    at_once = _at_once(len(tasks), throttle)
    shape = f"--array=0-{len(tasks) - 1}%{at_once}" if len(tasks) > 1 else "a single job"
    lines = [f"SLURM array: {len(tasks)} tasks, one per checkpoint, at most {at_once} at once ({shape}); "
             f"logs: {out}/slurm/<array>_<task>/"]
    for i, task in enumerate(tasks):
        lines.append(f"  task {i:<3} {len(task)} jobs  {task[0].checkpoint.revision}: {', '.join(j.key for j in task)}")
    settings = ", ".join(f"{k}={v}" for k, v in params.items())
    if not {"timeout_min", "slurm_time"} & set(params):
        settings += " (no timeout_min: submitit asks for 5 minutes)"
    return "\n".join([*lines, f"  per task: {settings.lstrip()}"])


def _at_once(tasks: int, throttle: int | None) -> int:
    return min(tasks, throttle or tasks)


def run_on_slurm(sweep, pending) -> None:
    """Submit the pending jobs as one array and wait for its tasks; the first task that fails or ends without
    finishing stops the sweep with one line (the other tasks keep running: their work counts)."""
    tasks = array_tasks(pending)
    if not tasks:
        return
    params, cluster, throttle = parameters(sweep.spec)
    executor = submitit.AutoExecutor(folder=sweep.out / "slurm" / "%j", cluster=cluster)
    executor.update_parameters(**{"name": f"amuro-{sweep.spec.name}", **params,
                                  "slurm_array_parallelism": _at_once(len(tasks), throttle)})
    with executor.batch():
        submitted = [executor.submit(SlurmTask(sweep.spec, str(sweep.out), [j.name for j in task])) for task in tasks]
    for job, task in zip(submitted, tasks):
        sweep.event("submitted", f"{job.job_id} {','.join(j.name for j in task)}")
    array = submitted[0].job_id.split("_")[0]
    shape = (f"array {array}: {len(tasks)} tasks ({submitted[0].job_id} .. {submitted[-1].job_id}), at most "
             f"{_at_once(len(tasks), throttle)} at once" if len(tasks) > 1 else f"job {array}: one task")
    print(f"submitted SLURM {shape}; logs: {sweep.out / 'slurm'}", flush=True)
    try:
        _watch(sweep, list(zip(submitted, tasks)))
    except KeyboardInterrupt:
        print(f"\nthe SLURM array {array} keeps running (`scancel {array}` stops it)", flush=True)
        raise


def _watch(sweep, left: list) -> None:
    """Wait for the (submitit job, its jobs) pairs; raise the first failure or early end as one line."""
    start, asked, states, ended_since, n = time.time(), 0.0, {}, {}, len(left)
    while left:
        if time.time() - asked >= min(60.0, max(2.0, (time.time() - start) / 10)):  # squeue as often as admins like
            states, asked = _states([job for job, _ in left]), time.time()
        for job, task in list(left):
            names = ", ".join(j.name for j in task)
            if job.paths.result_pickle.exists():
                left.remove((job, task))
                try:
                    job.result()
                except submitit.core.utils.FailedJobError as e:
                    failed = re.findall(r"TaskFailed: (.*)", str(e))  # SlurmTask's line; else it died before
                    raise AmuroError(f"SLURM job {job.job_id} failed on {failed[-1] if failed else names}; "
                                     f"job log: {job.paths.stderr}") from None
                print(f"[{n - len(left)}/{n}] {job.job_id} {task[0].checkpoint.revision}: "
                      f"{', '.join(j.key for j in task)} done ({time.time() - start:.0f} s)", flush=True)
            elif states is not None and (state := states.get(job.job_id, "GONE")) in ENDED:
                if time.time() - ended_since.setdefault(job.job_id, time.time()) >= GRACE_S:
                    raise AmuroError(f"SLURM job {job.job_id} ({names}) ended {state} before its jobs were done; "
                                     f"log: {job.paths.stderr}; `{sweep.rerun}` continues")
            else:
                ended_since.pop(job.job_id, None)
        time.sleep(1)


def _states(jobs) -> dict[str, str] | None:
    """{job id: state} of the jobs: squeue's for SLURM jobs, submitit's for its local executor; None when squeue
    cannot answer now (the controller is busy), {} when it knows none of them any more."""
    if not isinstance(jobs[0], submitit.SlurmJob):
        return {job.job_id: ("COMPLETED" if job.done() else job.state) for job in jobs}
    ids = sorted({job.job_id.split("_")[0] for job in jobs})
    result = subprocess.run(["squeue", "--noheader", "--array", "--states=all", "--format=%i %T", "--jobs",
                             ",".join(ids)], capture_output=True, text=True)
    if result.returncode:
        return {} if "Invalid job id" in result.stderr else None
    return dict(line.split() for line in result.stdout.splitlines() if line.strip())
