"""Seeds as a study axis (`seeds:` fine-tunes each cell once per seed, `evaluate: fewshot_seeds:` draws the
demonstrations once per seed) and specs of several families: the plan, the flags each job passes, the rows it
writes; end to end on the tiny sweep, through `amuro report`."""

import json
from dataclasses import replace

import pandas as pd
import pytest

from amuro.errors import AmuroError
from amuro.study.backends import evaluate_arguments
from amuro.study.families import load_specs
from amuro.study.spec import load_spec, parse_spec
from amuro.study.sweep import Sweep

from conftest import ROOT, TINY


def test_seeds_multiply_the_fine_tuned_jobs_and_fewshot_seeds_the_evaluations(tmp_path):
    spec = load_spec(ROOT / "runs" / "olmo1b_paper.yaml")
    spec = replace(spec, seeds=(0, 1, 2), evaluate=replace(spec.evaluate, fewshot_seeds=(1234, 7)))
    sweep = Sweep(spec, tmp_path)
    jobs = [j for j in sweep.jobs() if j.checkpoint.step == 342000]
    assert [j.key for j in jobs][:4] == ["base", "xsum-seed0", "xsum-seed1", "xsum-seed2"]
    assert len(jobs) == 1 + 5 * 3 and all(j.fewshot_seeds == (1234, 7) for j in jobs)
    tuned = jobs[2]
    command = sweep.train_command(tuned)
    assert command[command.index("--seed") + 1] == "1"
    assert "--seed" not in sweep.train_command(replace(tuned, seed=None))
    assert evaluate_arguments(sweep, tuned, 7)["fewshot_random_seed"] == 7
    assert "fewshot_random_seed" not in evaluate_arguments(sweep, tuned)
    layout = sweep.layout
    assert layout.result_json(tuned, 7) == tmp_path / "lm_eval" / tuned.checkpoint.revision / "xsum-seed1-fewshot7.json"
    assert layout.model_dir(tuned) == tmp_path / "models" / tuned.checkpoint.revision / "xsum-seed1"


@pytest.mark.parametrize("change,message", [
    ({"seeds": [0, 0]}, r"seeds must be distinct integers >= 0, got \[0, 0\]"),
    ({"evaluate": {"num_fewshot": 0, "fewshot_seeds": [1]}}, "fewshot_seeds draws demonstrations, but num_fewshot"),
    ({"family": "a/b"}, "family 'a/b' must be letters"),
])
def test_bad_seeds_name_the_problem(change, message):
    with pytest.raises(AmuroError, match=message):
        parse_spec({"model": "m", "checkpoints": {"steps": [1]}, **change})


def test_a_spec_of_several_families_is_one_spec_per_family(tmp_path, capsys):
    specs = load_specs(ROOT / "runs" / "cross_family.yaml")
    assert [(s.family, s.model) for s in specs] == [("pythia160m", "EleutherAI/pythia-160m"),
                                                    ("olmo2_1b", "allenai/OLMo-2-0425-1B")]
    assert all(s.seeds == (0, 1, 2) and s.evaluate.fewshot_seeds == (1234, 42) for s in specs)
    from amuro.study.plan import checkpoints, default_out

    tokens = {s.family: [c.tokens for c in checkpoints(s)] for s in specs}  # one axis of tokens seen
    assert tokens["pythia160m"][1] == 10000 * 2097152 and tokens["olmo2_1b"][0] == 21 * 10**9
    assert default_out(specs[0]) == ROOT / "runs" / "cross_family" / "pythia160m"
    with pytest.raises(AmuroError, match="names several families"):
        load_spec(ROOT / "runs" / "cross_family.yaml")
    from amuro.cli import main

    assert main(["sweep", "cross_family", "--dry-run", "--out", str(tmp_path / "x")]) == 0
    printed = capsys.readouterr().out
    assert "5 checkpoints of EleutherAI/pythia-160m x (base + 5 training sets x 3 seeds)" in printed
    assert f"amuro report {tmp_path}/x/pythia160m/results.csv {tmp_path}/x/olmo2_1b/results.csv" in printed
    assert not (tmp_path / "x").exists()  # a dry run writes nothing
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: m\nfamilies: {a: {model: m, checkpoints: {steps: [1]}}}\n")
    with pytest.raises(AmuroError, match="'model' goes inside each entry of families"):
        load_specs(bad)


@pytest.mark.slow
def test_seeds_and_draws_end_to_end_on_the_tiny_sweep(tiny_checkpoints, tmp_path):
    """Two fine-tuning seeds x two draws of demonstrations on the tiny spec: each seed trains its own model (its
    run card says which seed), each draw is an lm-eval run of its own (its config says which), the rows carry
    both, and the report resamples them and splits each finding's spread."""
    from amuro.cli import main

    spec = load_spec(TINY)
    spec = replace(spec, model=tiny_checkpoints, family="tiny", seeds=(0, 1),
                   checkpoints=replace(spec.checkpoints, uniform=None, revisions=("step200-tokens2M",)),
                   evaluate=replace(spec.evaluate, fewshot_seeds=(1, 2), base=("in_domain",),
                                    finetuned=("in_domain",)))
    sweep = Sweep(spec, tmp_path / "sweep")
    results = sweep.run()
    table = pd.read_csv(results, dtype=str, keep_default_na=False)
    tuned = table[table["train"] == "mnli"]
    assert sorted(set(zip(tuned["seed"], tuned["fewshot_seed"]))) == [("0", "1"), ("0", "2"), ("1", "1"),
                                                                      ("1", "2")]
    assert set(table.loc[table["train"] == "base", "seed"]) == {""} and set(table["family"]) == {"tiny"}
    job = next(j for j in sweep.jobs() if j.seed == 1)
    card = json.loads((sweep.layout.model_dir(job) / "run_card.json").read_text())
    assert card["seed"] == 1
    config = json.loads(sweep.layout.result_json(job, 2).read_text())["config"]
    assert config["fewshot_seed"] == 2
    assert main(["report", str(results), "--out", str(tmp_path / "report")]) == 0
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["input"]["seeds"] == ["0", "1"] and summary["input"]["fewshot_seeds"] == ["1", "2"]
    assert summary["input"]["runs_per_cell"] == 4 and summary["run_on"]["family"] == "tiny"
    gain = next(f for f in summary["findings"] if f["finding"] == "gain: learned in fine-tuning")
    assert gain["runs_per_cell"] == 4 and gain["n_cells"] == 2  # one checkpoint x (mnli, mnli_mm)
    md = (tmp_path / "report" / "report.md").read_text()
    assert "## Seeds and demonstrations" in md and "up to 4 runs per cell" in md
