"""What the sweep keeps for the report, from real lm-eval samples on a tiny model, and plan.json."""

import json
from dataclasses import replace

import pytest

from amuro.study.diagnostics import diagnose, diagnostic_columns, record_failure, write_plan
from amuro.study.plan import Layout, ModelJob
from amuro.study.spec import load_spec

from conftest import ROOT, evaluate


def test_prediction_counts_and_sample_generations_from_lm_eval_samples(tiny_bpe):
    tasks = ["amuro_mnli_default", "amuro_arc_easy_default", "amuro_xsum_io"]
    results = evaluate(tiny_bpe, tasks, limit=5)
    found = diagnose({**results["samples"], "not_ours": []})
    assert set(found) == set(tasks)  # other tasks are skipped
    mnli = found["amuro_mnli_default"]["predictions"]
    assert list(mnli) == ["entailment", "neutral", "contradiction"] and sum(mnli.values()) == 5
    # They agree with lm-eval's own per-document judgement: each document it scored right won with its gold label.
    from collections import Counter

    samples = results["samples"]["amuro_mnli_default"]
    right = Counter(s["doc"]["amuro_choices"][s["doc"]["amuro_gold"][0]] for s in samples if s["acc"] == 1.0)
    assert all(mnli[label] >= k for label, k in right.items())
    assert sum(right.values()) == round(5 * results["results"]["amuro_mnli_default"]["acc,none"])
    arc = found["amuro_arc_easy_default"]["predictions"]
    assert set(arc) <= set("ABCDE") and sum(arc.values()) == 5 and list(arc) == sorted(arc)
    xsum = found["amuro_xsum_io"]
    gens = [s["filtered_resps"][0] for s in results["samples"]["amuro_xsum_io"]]
    assert xsum["empty_generations"] == sum(not g.strip() for g in gens)
    assert [e["prediction"] for e in xsum["examples"]] == gens[:3]
    assert [e["reference"] for e in xsum["examples"]] == [s["target"] for s in results["samples"]["amuro_xsum_io"][:3]]
    # As results-table columns: JSON text the report reads back.
    cols = diagnostic_columns(found["amuro_mnli_default"])
    assert json.loads(cols["predictions"]) == mnli and cols["empty_generations"] == "" and cols["examples"] == ""
    assert diagnostic_columns(None) == {"predictions": "", "empty_generations": "", "examples": ""}
    # Samples of a shape it does not know lose their diagnostics, never the evaluation.
    odd = diagnose({"amuro_mnli_default": [{"doc": {}, "filtered_resps": [[0.0, False]]}]})
    assert odd == {"amuro_mnli_default": {"unreadable": "KeyError: 'amuro_choices'"}}


def test_plan_json_keeps_failures_until_the_job_succeeds(tmp_path, monkeypatch):
    from amuro.study.checkpoints import Checkpoint

    monkeypatch.setenv("AMURO_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "amuro_data.json").write_text('{"synthetic": true, "what": "made-up rows"}')
    spec = replace(load_spec(ROOT / "runs" / "tiny.yaml"), model="m")
    ckpt = Checkpoint(model="m", revision="step1", step=1, tokens=None)
    jobs = [ModelJob(ckpt, "base", ("amuro_mnli_default",)), ModelJob(ckpt, "mnli", ("amuro_mnli_default",))]
    layout = Layout(tmp_path / "out")
    write_plan(layout.plan, spec, jobs, layout.evaluated)
    record_failure(layout.plan, jobs[1], RuntimeError("CUDA out of memory\nTraceback ..."))
    plan = json.loads(layout.plan.read_text())
    assert plan["spec"] == "tiny" and plan["train"] == ["mnli"] and plan["num_fewshot"] == 1
    assert plan["data"] == {"source": "AMURO_DATA_DIR", "dir": str((tmp_path / "data").resolve()),
                            "synthetic": True, "what": "made-up rows"}
    assert [(j["name"], j["tasks"]) for j in plan["jobs"]] == [("step1/base", ["amuro_mnli_default"]),
                                                               ("step1/mnli", ["amuro_mnli_default"])]
    assert plan["failed"] == {"step1/mnli": "RuntimeError: CUDA out of memory"}
    write_plan(layout.plan, spec, jobs, layout.evaluated)  # a rerun keeps the failure of a job still to run
    assert json.loads(layout.plan.read_text())["failed"] == plan["failed"]
    record_failure(layout.plan, jobs[1], None)  # ... until it succeeds
    assert json.loads(layout.plan.read_text())["failed"] == {}


@pytest.mark.slow
def test_a_failed_training_is_recorded_and_the_report_marks_its_cells_failed(tmp_path):
    import subprocess
    import sys

    from amuro.demo.tiny import build_tiny_checkpoints

    model = build_tiny_checkpoints(tmp_path / "tiny", 1)
    spec = tmp_path / "fail.yaml"
    spec.write_text((ROOT / "runs" / "tiny.yaml").read_text()
                    .replace("checkpoints: {uniform: 2}", "checkpoints: {uniform: 1}")
                    .replace("formats: [default, instruct]", "formats: [default]")
                    .replace("  base: [in_domain, ood, cross_task]", "  base: [mnli, xsum]")
                    .replace("  finetuned: [in_domain, ood, cross_task]", "  finetuned: [mnli, xsum]")
                    + "launcher: {train_script: no_such_script.py}\n")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "amuro.cli", "sweep", str(spec), "--model", str(model), "--out",
                             str(out)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 2 and "no_such_script.py not found" in result.stderr
    plan = json.loads((out / "plan.json").read_text())
    (name, error), = plan["failed"].items()
    assert name.endswith("/mnli") and error.startswith("AmuroError: launcher.train_script") and "not found" in error
    from amuro.cli import main

    assert main(["report", str(out / "results.csv"), "--out", str(tmp_path / "report")]) == 0
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    m = summary["mrc"]["cls_to_gen"]  # (xsum, mnli): failed; the paws and socialiqa cells: not in the spec
    assert (m["n"], m["n_failed"], m["n_not_in_spec"], m["n_missing"]) == (0, 1, 3, 0)
    assert summary["run_on"]["failed_jobs"] == [[name, error]]
    assert f"**Failed job** {name}: {error}" in (tmp_path / "report" / "report.md").read_text()
