"""`amuro sweep`: the tiny spec end to end through real training and real lm-eval, crash safety, the SLURM path
through submitit's local executor, and one-line errors."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from amuro.study.results import read_results
from amuro.study.spec import load_spec
from amuro.study.slurm import SlurmTask
from amuro.study.sweep import Sweep

from conftest import REVISIONS, TINY, run_sweep, slurm_cluster_missing, sweep_command




@pytest.mark.slow
def test_tiny_spec_end_to_end(reference, tiny_checkpoints):
    table = read_results(reference / "results.csv")  # the schema's validation
    # 2 checkpoints x (base, mnli) x 7 sets (in-domain mnli mnli_mm, out-of-domain rte gpt3nli, cross-task xsum
    # socialiqa paws) x 2 formats, one metric each
    assert len(table) == 2 * 2 * 7 * 2
    assert set(table["train"]) == {"base", "mnli"} and set(table["revision"]) == set(REVISIONS)
    assert set(table["step"]) == {100, 200} and set(table["tokens"]) == {10**6, 2 * 10**6}
    assert set(table["eval"]) == {"mnli", "mnli_mm", "rte", "gpt3nli", "xsum", "socialiqa", "paws"}
    assert set(table["metric"]) == {"acc", "rougeL"} and set(table["num_fewshot"]) == {1} and set(table["n"]) == {4}
    assert not table.duplicated(["revision", "train", "eval", "format", "metric"]).any()
    for source, rows in table.groupby("source"):  # every row is traceable to lm-eval's JSON
        results = json.loads((reference / source).read_text())
        for row in rows.itertuples():
            assert results["results"][f"amuro_{row.eval}_{row.format}"][f"{row.metric},none"] == row.value
    # keep_weights: false -> the fine-tuned weights are gone, their run cards stay
    for revision in REVISIONS:
        assert [p.name for p in (reference / "models" / revision / "mnli").iterdir()] == ["run_card.json"]
    card = json.loads((reference / "models" / REVISIONS[0] / "mnli" / "run_card.json").read_text())
    assert card["train"] == "mnli" and card["global_steps"] == 2
    # The report reads the sweep's table as it is.
    from amuro.cli import main

    assert main(["report", str(reference / "results.csv"), "--out", str(reference / "report")]) == 0
    summary = json.loads((reference / "report" / "summary.json").read_text())
    mrc = summary["mrc"]["cls_to_gen"]  # (xsum, mnli) and (socialiqa, mnli) at two steps; paws was never trained
    assert mrc["n"] + mrc["n_zero_base"] == 4 and mrc["n_not_in_spec"] == 4 and mrc["n_missing"] == 0
    # What the report needs besides the scores: prediction counts, generations, the plan.
    for row in table.itertuples():
        if row.metric == "acc":
            assert sum(json.loads(row.predictions).values()) == row.n == 4
        else:
            assert 0 <= int(row.empty_generations) <= 4 and len(json.loads(row.examples)) == 3
    plan = json.loads((reference / "plan.json").read_text())
    assert plan["spec"] == "tiny" and plan["failed"] == {} and len(plan["jobs"]) == 4
    assert summary["run_on"]["data"]["source"] == "AMURO_DATA_DIR" and summary["run_on"]["spec"] == "tiny"
    assert {g["step"] for g in summary["ft_gain"]} == {100, 200}
    # A rerun skips every finished cell and leaves the table as it was.
    before = (reference / "results.csv").read_text()
    written = file_stamps(reference)
    again = run_sweep(tiny_checkpoints, reference)
    assert "trainings: 2 (2 done, 0 to run)" in again.stdout and "evaluations: 4 (4 done, 0 to run)" in again.stdout
    assert (reference / "results.csv").read_text() == before
    assert file_stamps(reference) == written  # no lm-eval JSON, training log or run card written again


def file_stamps(out):
    """(inode, mtime) of every lm-eval JSON, training log and run card: a rewrite changes them, a re-evaluation
    with the same scores included."""
    files = [*out.glob("lm_eval/*/*.json"), *out.glob("logs/*/*.log"), *out.glob("models/*/*/run_card.json")]
    return {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in files}


def _kill_when(model, out, condition, timeout=600):
    """Start the sweep and SIGKILL its process group once `condition(out)` holds; False if it finished first."""
    proc = subprocess.Popen(sweep_command(model, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        if condition(out):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.02)
    proc.wait()
    return False


@pytest.mark.slow
def test_sigkill_at_several_points_then_rerun_equals_an_uninterrupted_run(reference, tiny_checkpoints, tmp_path):
    out = tmp_path / "killed"
    first_log = out / "logs" / REVISIONS[0] / "mnli.log"
    first_json = out / "lm_eval" / REVISIONS[0] / "mnli.json"

    def rows(path):
        return len((path / "results.csv").read_text().splitlines()) - 1 if (path / "results.csv").is_file() else 0

    # 1. while the first fine-tune trains
    assert _kill_when(tiny_checkpoints, out, lambda o: first_log.is_file())
    plan = run_sweep(tiny_checkpoints, out, "--dry-run").stdout
    assert "trainings: 2 (0 done, 2 to run)" in plan and "evaluations: 4 (1 done, 3 to run)" in plan
    # 2. the moment the fine-tuned model's lm-eval results are written (before or after its rows)
    assert _kill_when(tiny_checkpoints, out, lambda o: first_json.is_file())
    # 3. while the second checkpoint is evaluated or trained
    assert _kill_when(tiny_checkpoints, out, lambda o: rows(o) > 28)
    run_sweep(tiny_checkpoints, out)
    assert (out / "results.csv").read_text() == (reference / "results.csv").read_text()
    assert not list(out.rglob("*.tmp"))


@pytest.mark.slow
def test_model_loads_once_per_cell_and_the_request_cache_is_per_revision(tiny_checkpoints, tmp_path, monkeypatch):
    import transformers

    loads = []
    real = transformers.AutoModelForCausalLM.from_pretrained.__func__

    def counting(cls, *args, **kwargs):  # a spy: the real loader runs
        loads.append(args[0] if args else kwargs.get("pretrained_model_name_or_path"))
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", classmethod(counting))
    spec = load_spec(TINY)
    spec = replace(spec, model=tiny_checkpoints, train=(),
                   evaluate=replace(spec.evaluate, base=("mnli", "paws", "xsum"), cache=True))
    sweep = Sweep(spec, tmp_path / "run")
    cells = sweep.jobs()
    assert len(cells) == 2 and all(len(c.tasks) == 6 for c in cells)
    for cell in cells:
        sweep.run_job(cell)
    assert loads == [f"{tiny_checkpoints}/{r}" for r in REVISIONS]  # one load per cell for its 6 tasks
    caches = sorted(p.relative_to(tmp_path / "run") for p in (tmp_path / "run" / "cache").rglob("*.db"))
    assert [str(p) for p in caches] == [f"cache/{r}/base_rank0.db" for r in REVISIONS]
    table = read_results(tmp_path / "run" / "results.csv")
    by_revision = table.pivot_table(index=["eval", "format"], columns="revision", values="value")
    assert (by_revision[REVISIONS[0]] != by_revision[REVISIONS[1]]).any()  # no checkpoint got another's scores


@pytest.mark.slow
@pytest.mark.skipif(not slurm_cluster_missing(), reason="the SLURM cluster is up: test_slurm_cluster.py tests this")
def test_slurm_launcher_through_submitits_local_executor(tiny_checkpoints, tmp_path):
    spec = tmp_path / "slurm.yaml"
    one = "checkpoints: {revisions: [step200-tokens2M]}"
    spec.write_text(TINY.read_text().replace("checkpoints: {uniform: 2}", one)
                    .replace("keep_weights: false", "keep_weights: true")
                    .replace("  base: [in_domain, ood, cross_task]", "  base: [mnli]")
                    .replace("  finetuned: [in_domain, ood, cross_task]", "  finetuned: [mnli]")
                    + "launcher: {kind: slurm, slurm: {cluster: local, timeout_min: 20}}\n")
    out = tmp_path / "out"
    result = run_sweep(tiny_checkpoints, out, spec=spec)
    assert "submitted SLURM job" in result.stdout and "one task" in result.stdout  # one checkpoint: one task
    table = read_results(out / "results.csv")
    assert sorted(table["train"].unique()) == ["base", "mnli"] and len(table) == 2 * 2
    assert list((out / "slurm").glob("*/*_result.pkl"))  # submitit's own bookkeeping
    # A requeued task reruns its jobs: everything is done, so nothing is trained or evaluated again.
    stamps, before = file_stamps(out), (out / "results.csv").read_text()
    names = ("step200-tokens2M/base", "step200-tokens2M/mnli")
    task = SlurmTask(replace(load_spec(spec), model=tiny_checkpoints), str(out), names)
    assert task.checkpoint().function is task  # what submitit requeues on preemption
    assert task() == names
    assert file_stamps(out) == stamps and len(stamps) == 4 and (out / "results.csv").read_text() == before


def test_dry_run_counts_without_running_anything(tiny_checkpoints, tmp_path, capsys):
    from amuro.cli import main

    assert main(["sweep", str(TINY), "--model", tiny_checkpoints, "--out", str(tmp_path / "x"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "tiny: 2 checkpoints" in out and "trainings: 2 (0 done, 2 to run)" in out
    assert "evaluations: 4 (0 done, 4 to run), 56 lm-eval tasks in all" in out
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("change,message", [
    ("checkpoints: {revisions: [step300-tokens3M]}",
     "revision 'step300-tokens3M' is not a branch of {model} (did you mean step200-tokens2M?)"),
    ("checkpoints: {steps: [150]}", "no revision of {model} is at step 150 (nearest: step100-tokens1M)"),
])
def test_a_revision_not_in_the_repo_is_a_one_line_error(change, message, tiny_checkpoints, tmp_path, capsys):
    from amuro.cli import main

    spec = tmp_path / "bad.yaml"
    spec.write_text(TINY.read_text().replace("checkpoints: {uniform: 2}", change))
    assert main(["sweep", str(spec), "--model", tiny_checkpoints, "--dry-run"]) == 2
    assert capsys.readouterr().err == f"amuro: error: {message.format(model=tiny_checkpoints)}\n"


def test_an_unknown_set_or_format_in_the_spec_is_a_one_line_error(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(TINY.read_text().replace("formats: [default, instruct]", "formats: [default, chat]"))
    result = subprocess.run([sys.executable, "-m", "amuro.cli", "sweep", str(spec), "--dry-run"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    known = "known formats: default, io, instruct, harness"
    assert result.stderr == f"amuro: error: {spec}: unknown prompt format 'chat'; {known}\n"
