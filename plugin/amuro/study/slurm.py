"""The SLURM launcher: one submitit job per model of the sweep (the spec's `launcher.slurm` holds its parameters)."""

from __future__ import annotations

import submitit


class SlurmJob(submitit.helpers.Checkpointable):
    """Run one model of a sweep on a SLURM node. Checkpointable: on preemption or timeout submitit requeues it,
    and the rerun skips what the job has finished (training resumes from its last checkpoint). It carries the run
    spec as the sweep holds it, command-line overrides included."""

    def __init__(self, spec, out: str, job: str):
        self.spec, self.out, self.job = spec, out, job

    def __call__(self) -> str:
        from amuro.study.sweep import Sweep

        sweep = Sweep(self.spec, self.out)
        sweep.run_job(next(j for j in sweep.jobs() if j.name == self.job), wait=True)
        return self.job


def run_on_slurm(sweep, pending) -> None:
    """Submit the pending jobs and wait for them; a failed job raises."""
    from tqdm.auto import tqdm

    params = dict(sweep.spec.launcher.slurm)
    executor = submitit.AutoExecutor(folder=sweep.out / "slurm" / "%j", cluster=params.pop("cluster", None))
    executor.update_parameters(name=f"amuro-{sweep.spec.name}", **params)
    jobs = [executor.submit(SlurmJob(sweep.spec, str(sweep.out), j.name)) for j in pending]
    print(f"submitted {len(jobs)} jobs: {', '.join(j.job_id for j in jobs)}", flush=True)
    for job in tqdm(submitit.helpers.as_completed(jobs), total=len(jobs), desc="sweep jobs", unit="model"):
        job.result()  # raises if the job failed
