"""The shipped run specs of other model families: each one's --dry-run lists the right checkpoints offline, from
the branch list shipped beside it; and the tiny pre-training publishes checkpoints in each family's naming, which
a real sweep then runs over."""

from dataclasses import replace

import pytest

from amuro.cli import main
from amuro.demo.pretrain import NAMINGS, revision_name
from amuro.study.checkpoints import list_revisions, parse_revision
from amuro.study.plan import checkpoints
from amuro.study.spec import load_spec

from conftest import ROOT

RUNS = ROOT / "runs"
FAMILIES = {  # spec -> (first revision, last revision, number of checkpoints, tokens of the first)
    "olmo1b_paper": ("step1000-tokens4B", "main", 8, 4 * 10**9),
    "pythia160m": ("step1000", "main", 7, 1000 * 2097152),
    "olmo2_1b": ("stage1-step10000-tokens21B", "stage1-step1907359-tokens4001B", 7, 21 * 10**9),
    "smollm2_1b7": ("step-125000", "step-5000000", 7, 125000 * 2097152),
}


@pytest.mark.parametrize("name", FAMILIES)
def test_dry_run_lists_the_familys_checkpoints_offline(name, capsys, tmp_path):
    first, last, n, tokens = FAMILIES[name]
    assert main(["sweep", str(RUNS / f"{name}.yaml"), "--dry-run", "--out", str(tmp_path / "x")]) == 0
    out = capsys.readouterr().out
    assert f"{name}: {n} checkpoints of " in out
    listed = [line.split()[2].split("/")[0] for line in out.splitlines() if line.startswith("  step ")]
    assert listed[0] == first and listed[-1] == last and len(dict.fromkeys(listed)) == n
    chosen = checkpoints(load_spec(RUNS / f"{name}.yaml"))
    assert chosen[0].tokens == tokens and all(c.tokens for c in chosen)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("name", FAMILIES)
def test_shipped_branch_lists_parse_and_keep_to_the_main_trajectory(name):
    spec = load_spec(RUNS / f"{name}.yaml")
    names = list_revisions(spec.model, spec.resolve(spec.checkpoints.revisions_file))
    assert "main" in names and len(names) == len(set(names))
    parsed = {n: parse_revision(n) for n in names if n != "main"}
    assert all(parsed.values()), [n for n, p in parsed.items() if not p]
    if name == "pythia160m":  # 154 checkpoints: step0, the powers of two to 512, every 1000 to 143000
        assert len(parsed) == 154 and {p["step"] for p in parsed.values()} >= {0, 1, 512, 1000, 143000}
    if name == "olmo1b_paper":
        assert len(parsed) == 351 and names[-1] == "step738020-tokens3094B"
    if name == "olmo2_1b":  # stage-2 annealing branches are listed and never selected
        assert any(p["trajectory"] for p in parsed.values())
        assert not any(c.trajectory for c in checkpoints(spec))


def test_every_naming_parses_back_to_its_step_and_tokens():
    for naming in NAMINGS:
        parsed = parse_revision(revision_name(40, 40 * 1024, naming))
        assert parsed["step"] == 40 and parsed["trajectory"] == ""
        assert parsed["tokens"] == (40_000 if "tokens" in NAMINGS[naming] else None)


@pytest.mark.slow
@pytest.mark.parametrize("naming", NAMINGS)
def test_a_sweep_runs_over_tiny_checkpoints_published_in_each_naming(naming, tmp_path):
    from amuro.demo.pretrain import pretrain
    from amuro.demo.synthetic import pretraining_corpus
    from amuro.study.results import read_results
    from amuro.study.sweep import Sweep

    model = tmp_path / "model"
    names = pretrain(model, pretraining_corpus(200), steps=6, checkpoint_steps=[3, 6], hidden_size=32,
                     vocab_size=600, seed=1, naming=naming)
    assert (model / "revisions.txt").read_text().split() == names
    spec = load_spec(RUNS / "tiny.yaml")
    spec = replace(spec, model=str(model), train=(), checkpoints=replace(spec.checkpoints, tokens_per_step=1024),
                   evaluate=replace(spec.evaluate, base=("mnli",), formats=("default",), limit=2))
    table = read_results(Sweep(spec, tmp_path / "sweep").run())
    assert sorted(table["revision"].unique()) == sorted(names) and set(table["step"]) == {3, 6}
    expected_tokens = {3 * 1024 // 1000 * 1000, 6 * 1024 // 1000 * 1000} if "tokens" in NAMINGS[naming] \
        else {3 * 1024, 6 * 1024}
    assert set(table["tokens"]) == expected_tokens
