"""Fault injection: deterministic kills at each stage boundary of a sweep, each followed by a rerun that must give
the uninterrupted table; two sweeps started together split the jobs and run each once; no secret is written."""

import os
import subprocess

import pytest

from amuro.files import FAULT_ENV

from conftest import REVISIONS, TINY, run_sweep, sweep_command

JOBS = [f"{r}/{t}" for r in REVISIONS for t in ("base", "mnli")]


def events(out) -> list[tuple[str, str]]:
    """(stage, job) of every line of sweep.log: what was trained and evaluated, and how often."""
    lines = (out / "sweep.log").read_text().splitlines() if (out / "sweep.log").is_file() else []
    return [tuple(line.split()[2:4]) for line in lines]


def killed_at(point, model, out) -> subprocess.CompletedProcess:
    result = subprocess.run(sweep_command(model, out), capture_output=True, text=True, timeout=900,
                            env={**os.environ, FAULT_ENV: point})
    assert result.returncode == -9, (point, result.returncode, result.stderr[-2000:])  # it died where told
    return result


@pytest.mark.slow
@pytest.mark.parametrize("point", ["trained", "evaluated", "rows_written", "before_rename:results.csv"])
def test_a_kill_at_each_stage_boundary_then_a_rerun_gives_the_uninterrupted_table(point, reference,
                                                                                   tiny_checkpoints, tmp_path):
    out = tmp_path / "run"
    killed_at(point, tiny_checkpoints, out)
    before = events(out)
    run_sweep(tiny_checkpoints, out)
    assert (out / "results.csv").read_text() == (reference / "results.csv").read_text()
    assert not list(out.rglob("*.tmp"))  # a killed write's temporary files are cleaned up
    for revision in REVISIONS:  # keep_weights: false, also for a job killed between its rows and the deletion
        assert [p.name for p in (out / "models" / revision / "mnli").iterdir()] == ["run_card.json"]
    # Each job was trained and evaluated exactly once over both runs: nothing finished was done again.
    done = before + events(out)[len(before):]
    assert sorted(j for stage, j in done if stage == "evaluated") == sorted(JOBS)
    assert sorted(j for stage, j in done if stage == "trained") == sorted(j for j in JOBS if j.endswith("mnli"))


@pytest.mark.slow
def test_two_sweeps_started_together_split_the_jobs(reference, tiny_checkpoints, tmp_path):
    out = tmp_path / "run"
    procs = [subprocess.Popen(sweep_command(tiny_checkpoints, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=1200)
        assert proc.returncode == 0, err[-3000:]
    assert (out / "results.csv").read_text() == (reference / "results.csv").read_text()
    done = events(out)
    assert sorted(j for stage, j in done if stage == "evaluated") == sorted(JOBS)  # each once, by one of them
    assert sorted(j for stage, j in done if stage == "trained") == sorted(j for j in JOBS if j.endswith("mnli"))
    pids = {line.split()[1] for line in (out / "sweep.log").read_text().splitlines()}
    assert len(pids) == 2  # both sweeps did work


@pytest.mark.slow
def test_no_secret_is_written_anywhere(tiny_checkpoints, tmp_path):
    canary = "hf_CANARY0123456789abcdef"
    spec = tmp_path / "secret.yaml"
    spec.write_text(TINY.read_text().replace("model_args: {dtype: float32}",
                                             f"model_args: {{dtype: float32, token: {canary}}}")
                    .replace("checkpoints: {uniform: 2}", f"checkpoints: {{revisions: [{REVISIONS[0]}]}}"))
    out = tmp_path / "run"
    run_sweep(tiny_checkpoints, out, spec=spec)
    found = subprocess.run(["grep", "-r", "-l", "hf_CANARY", str(out)], capture_output=True, text=True)
    assert found.stdout == "", found.stdout  # grep -r hf_CANARY finds nothing
    assert list((out / "lm_eval").rglob("*.json"))
    # and the run folder records its own paths relative to itself
    text = "".join(p.read_text() for p in (out / "lm_eval").rglob("*.json"))
    assert str(out.resolve()) not in text and "site-packages" not in text and "lm_eval_tasks/" not in text
