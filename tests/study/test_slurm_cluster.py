"""`launcher: slurm` on a real SLURM cluster: the one-node cluster `.ci/slurm.sh start` brings up (CI runs it; the
tests skip, saying why, where there is none). A small spec (two checkpoints, base + mnli, one task each) runs as an
array of two tasks, one per checkpoint: its table equals a local run's, also after `scontrol requeue` of a running
task; `scancel` stops the sweep with one line and the command that continues; a job failing on bad data names its
task, job and log; two sweeps at once do each job once."""

import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import pytest

from amuro.study.results import read_results

from conftest import FIXTURES, REVISIONS, TINY, slurm_cluster_missing, sweep_command

SMALL = {"  base: [in_domain, ood, cross_task]": "  base: [mnli]", "  finetuned: [in_domain, ood, cross_task]":
         "  finetuned: [mnli]", "formats: [default, instruct]": "formats: [default]"}


def small_spec(folder, launcher="{kind: slurm, slurm: {timeout_min: 10}}", base_only=False, first_only=False):
    text = TINY.read_text()
    changes = {**SMALL, **({"train: [mnli]": "train: []"} if base_only else {}),
               **({"checkpoints: {uniform: 2}": f"checkpoints: {{revisions: [{REVISIONS[0]}]}}"} if first_only else {})}
    for old, new in changes.items():
        assert old in text
        text = text.replace(old, new)
    path = folder / "small.yaml"
    path.write_text(text + f"launcher: {launcher}\n")
    return path


@pytest.fixture(scope="module")
def cluster():
    """The test cluster's sinfo, or a skip that says why there is none."""
    if why := slurm_cluster_missing():
        pytest.skip(why)
    sinfo = subprocess.run(["sinfo"], capture_output=True, text=True).stdout
    print(f"\n{sinfo}", end="")
    return sinfo


@pytest.fixture(scope="module")
def local_small(tiny_checkpoints, tmp_path_factory):
    """The small spec run locally, the table every cluster run must end up equal to: its results.csv once
    `local_small()` has waited for it (it runs meanwhile the first cluster test waits for its jobs)."""
    folder = tmp_path_factory.mktemp("local_small")
    out = folder / "out"
    sweep = subprocess.Popen(sweep_command(tiny_checkpoints, out, spec=small_spec(folder, "{kind: local}")),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def results():
        _, stderr = sweep.communicate(timeout=900)
        assert sweep.returncode == 0, stderr[-3000:]
        return out / "results.csv"

    yield results
    sweep.kill()


def start(model, out, spec, **kwargs):
    return subprocess.Popen(sweep_command(model, out, spec=spec), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **kwargs)


def wait_for(condition, timeout=300):
    deadline = time.time() + timeout
    while not (found := condition()):
        assert time.time() < deadline, "timed out"
        time.sleep(0.2)
    return found


def logged(out, pattern):
    """The first match of `pattern` in sweep.log, or None."""
    log = out / "sweep.log"
    return re.search(pattern, log.read_text(), re.M) if log.is_file() else None


def submitted(out) -> dict[str, list[str]]:
    """{task id: its jobs} from sweep.log's `submitted` lines."""
    return {m[0]: m[1].split(",") for m in re.findall(r" submitted (\S+) (\S+)$", (out / "sweep.log").read_text(),
                                                       re.M)}


def stage_counts(out) -> dict[tuple[str, str], int]:
    counts = {}
    for stage, job in re.findall(r" (trained|evaluated) (\S+)", (out / "sweep.log").read_text()):
        counts[stage, job] = counts.get((stage, job), 0) + 1
    return counts


def same_rows(out, local, **where):
    """results.csv of `out` holds exactly the local run's rows where the columns have these values."""
    table, expected = read_results(out / "results.csv"), read_results(local())
    for column, value in where.items():
        expected = expected[expected[column] == value]
    assert table.reset_index(drop=True).equals(expected.reset_index(drop=True))


@pytest.mark.slow
def test_the_array_gives_the_local_table_also_after_a_requeue(cluster, local_small, tiny_checkpoints, tmp_path):
    spec, out = small_spec(tmp_path), tmp_path / "out"
    sweep = start(tiny_checkpoints, out, spec)
    # Once the first task has evaluated its base model, it is training: requeue it there.
    task = wait_for(lambda: logged(out, rf"evaluated {REVISIONS[0]}/base slurm=(\S+)")).group(1)
    assert subprocess.run(["scontrol", "requeue", task]).returncode == 0
    stdout, stderr = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, stderr[-3000:]
    assert (out / "results.csv").read_text() == local_small().read_text()
    # One array, a task per checkpoint, in sweep.log and on the console
    tasks = submitted(out)
    array = task.split("_")[0]
    assert tasks == {f"{array}_{i}": [f"{r}/base", f"{r}/mnli"] for i, r in enumerate(REVISIONS)}
    print(f"sbatch array {array}: tasks {', '.join(tasks)}")
    assert f"submitted SLURM array {array}: 2 tasks ({array}_0 .. {array}_1), at most 2 at once" in stdout
    assert "#SBATCH --array=0-1%2" in (out / "slurm" / array / f"{array}_submission.sh").read_text()
    # The requeued task ran twice and did each job once: the killed training was redone, nothing else.
    starts = (out / "slurm" / task / f"{task}_0_log.out").read_text().count("Starting with JobEnvironment")
    assert starts == 2
    assert set(stage_counts(out).values()) == {1} and len(stage_counts(out)) == 6


@pytest.mark.slow
def test_scancel_stops_the_sweep_with_one_line_and_the_command_that_continues(cluster, local_small,
                                                                              tiny_checkpoints, tmp_path):
    spec, out = small_spec(tmp_path, base_only=True), tmp_path / "out"
    sweep = start(tiny_checkpoints, out, spec)
    task = wait_for(lambda: (out / "sweep.log").is_file() and next(iter(submitted(out)), None))
    wait_for(lambda: "RUNNING" in subprocess.run(["squeue", "-h", "-j", task, "-o", "%T"], capture_output=True,
                                                 text=True).stdout)
    subprocess.run(["scancel", task], check=True)
    _, stderr = sweep.communicate(timeout=300)
    assert sweep.returncode == 2
    line = re.fullmatch(r"amuro: error: SLURM job (\S+) \((\S+)\) ended CANCELLED before its jobs were done; "
                        r"log: (\S+); `(.+)` continues\n", stderr)
    assert line, stderr
    assert line[1] == task and line[2] == f"{REVISIONS[0]}/base"
    assert line[3] == str(out.resolve() / "slurm" / task / f"{task}_0_log.err")
    command = shlex.split(line[4])
    assert command[:2] == ["amuro", "sweep"]
    rerun = subprocess.run([sys.executable, "-m", "amuro.cli", *command[1:]], capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    same_rows(out, local_small, train="base")


@pytest.mark.slow
def test_a_job_failing_on_bad_data_names_its_task_job_and_log(cluster, tiny_checkpoints, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(FIXTURES, data)
    bad = data / "mnli" / "validation_matched.jsonl"
    rows = bad.read_text().splitlines()
    bad.write_text("\n".join([rows[0], "{not json", *rows[2:]]) + "\n")
    out = tmp_path / "out"
    result = subprocess.run(sweep_command(tiny_checkpoints, out, spec=small_spec(tmp_path, base_only=True)),
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "AMURO_DATA_DIR": str(data)})
    assert result.returncode == 2
    line = re.fullmatch(r"amuro: error: SLURM job (\S+) failed on (\S+): (.+); job log: (\S+)\n", result.stderr)
    assert line, result.stderr
    task, job, error, log = line.groups()
    assert task in submitted(out) and submitted(out)[task] == [job]
    assert error.startswith(f"job {job} failed: {bad}:2: malformed JSON"), error  # the cell that failed, then file:line
    assert "TaskFailed" in open(log).read()  # the traceback is in the job's log


@pytest.mark.slow
def test_two_sweeps_at_once_do_each_job_once(cluster, local_small, tiny_checkpoints, tmp_path):
    # A checkpoint's base model: each sweep submits one task for it, the two run together and meet at its lock.
    spec, out = small_spec(tmp_path, base_only=True, first_only=True), tmp_path / "out"
    sweeps = [start(tiny_checkpoints, out, spec) for _ in range(2)]
    for sweep in sweeps:
        _, stderr = sweep.communicate(timeout=600)
        assert sweep.returncode == 0, stderr[-3000:]
    same_rows(out, local_small, train="base", revision=REVISIONS[0])
    assert stage_counts(out) == {("evaluated", f"{REVISIONS[0]}/base"): 1}
    assert len(submitted(out)) == 2  # one plain job per sweep (an array of one)


def test_dry_run_shows_the_array(tiny_checkpoints, tmp_path, capsys):
    from amuro.cli import main

    spec = small_spec(tmp_path, "{kind: slurm, slurm: {slurm_partition: gpu, timeout_min: 60, max_concurrent: 1}}")
    assert main(["sweep", str(spec), "--model", tiny_checkpoints, "--out", str(tmp_path / "x"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert (f"SLURM array: 2 tasks, one per checkpoint, at most 1 at once (--array=0-1%1); "
            f"logs: {tmp_path / 'x'}/slurm/<array>_<task>/\n"
            f"  task 0   2 jobs  {REVISIONS[0]}: base, mnli\n"
            f"  task 1   2 jobs  {REVISIONS[1]}: base, mnli\n"
            f"  per task: slurm_partition=gpu, timeout_min=60\n") in out
    assert not (tmp_path / "x").exists()


def test_an_unknown_slurm_parameter_is_a_one_line_error(tmp_path, capsys):
    from amuro.cli import main

    spec = small_spec(tmp_path, "{kind: slurm, slurm: {partition: gpu}}")
    assert main(["sweep", str(spec), "--dry-run"]) == 2
    assert capsys.readouterr().err == (f"amuro: error: {spec}: launcher: slurm: unknown parameter 'partition' "
                                       "(did you mean slurm_partition?); docs/slurm.md lists them\n")
