"""`amuro sweep SPEC --watch`: follow a pre-training run that is still publishing checkpoints, so that the report's
"Is more pre-training still paying off?" is live while pre-training runs.

    amuro sweep my_run.yaml --watch --interval 600      # Ctrl-C stops it; the same command resumes

Every `interval` seconds the model's revisions are listed again: the Hub's branches, or a local folder's
revisions.txt, which a training run extends as it saves checkpoints (amuro.demo.pretrain writes it that way: a name
is added once its folder is complete; a folder without revisions.txt yet has no checkpoints). The jobs (base
evaluation, fine-tunings, evaluations: the spec's `train` and `evaluate`) of every checkpoint of the main
trajectory that appears after the watch started are run through `Sweep.run_job`, then the report is refreshed in
<sweep folder>/report/. The spec's own checkpoint selection is run first, like a plain sweep, when it selects
something yet. Checkpoints the watch adopted are recorded in the sweep folder's watched.txt: a watch stopped with
Ctrl-C (one line on stderr, exit 130) and started again resumes their jobs, skipping whatever is done.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

from amuro.errors import AmuroError
from amuro.files import write_atomic
from amuro.study.checkpoints import REVISIONS_FILE, checkpoints, list_revisions
from amuro.study.plan import ModelJob
from amuro.study.sweep import Sweep

WATCHED = "watched.txt"
INTERRUPTED = 130  # the shell's code for Ctrl-C


def revisions_now(spec) -> list[str]:
    """The model's revisions at this moment; none yet for a local training folder without revisions.txt."""
    if Path(spec.model).is_dir() and not (Path(spec.model) / REVISIONS_FILE).is_file():
        return []
    return list_revisions(spec.model, spec.resolve(spec.checkpoints.revisions_file))


class Watch:
    def __init__(self, spec, out=None, interval: float = 60.0, report: bool = True):
        self.sweep = Sweep(spec, out)
        self.spec, self.interval, self.report = spec, interval, report
        self.state = self.sweep.out / WATCHED
        self.adopted = self.state.read_text().split() if self.state.is_file() else []
        self.seen = set(revisions_now(spec))
        self.selected = self._selected()

    def _selected(self) -> list[ModelJob]:
        try:
            return self.sweep.jobs()
        except AmuroError as e:  # e.g. `uniform: 4` while the run has no checkpoint yet
            print(f"the spec's checkpoints: {e}; watching for new ones", flush=True)
            return []

    def jobs(self) -> list[ModelJob]:
        """The spec's selection, then every job of the adopted checkpoints (each once, in step order)."""
        adopted = []
        if self.adopted:
            c = replace(self.spec.checkpoints, revisions=tuple(self.adopted), steps=(), uniform=None, final=False)
            adopted = Sweep(replace(self.spec, checkpoints=c), self.sweep.out).jobs()
        jobs = {j.name: j for j in [*self.selected, *adopted]}
        return sorted(jobs.values(), key=lambda j: j.checkpoint.step)

    def poll(self) -> list[str]:
        """Adopt the checkpoints that appeared since the last poll; returns their names."""
        names = revisions_now(self.spec)
        new = [c.revision for c in checkpoints(self.spec.model, names)
               if c.revision not in self.seen and c.revision not in self.adopted]
        self.seen |= set(names)
        if new:
            self.adopted += new
            write_atomic(self.state, "".join(f"{n}\n" for n in self.adopted))
        return new

    def run_pending(self) -> int:
        pending = [j for j in self.jobs() if not self.sweep.layout.evaluated(j)]
        for job in pending:
            print(f"  step {job.checkpoint.step}: {job.name}", flush=True)
            self.sweep.run_job(job)
        if pending and self.report and self.sweep.layout.results.is_file():
            from amuro.report.build import write_report

            try:
                path = write_report(self.sweep.layout.results, self.sweep.out / "report")
                print(f"report refreshed: {path}", flush=True)
            except AmuroError as e:
                print(f"report not refreshed: {e}", flush=True)
        return len(pending)

    def run(self) -> None:
        self.sweep.out.mkdir(parents=True, exist_ok=True)
        print(f"watching {self.spec.model} every {self.interval:g} s -> {self.sweep.out} "
              f"({len(self.jobs())} jobs known; Ctrl-C stops, the same command resumes)", flush=True)
        while True:
            new = self.poll()
            if new:
                print(f"new checkpoints: {' '.join(new)}", flush=True)
            self.run_pending()
            time.sleep(self.interval)


def watch(spec, out=None, interval: float = 60.0, report: bool = True) -> None:
    """Run a Watch until Ctrl-C, then exit 130 with one line."""
    try:
        Watch(spec, out, interval, report).run()
    except KeyboardInterrupt:
        print("amuro: interrupted; the same command resumes the watch", file=sys.stderr)
        raise SystemExit(INTERRUPTED) from None
