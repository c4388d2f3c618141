"""Run specs: the shipped ones load, roles resolve to the paper's pairings, bad specs are one-line errors."""

import pytest

from amuro.cli import main
from amuro.errors import AmuroError
from amuro.study.spec import load_spec, parse_spec

from conftest import ROOT


BASE_SPEC = {"model": "m", "checkpoints": {"uniform": 2}}


def test_the_papers_spec_encodes_the_study():
    spec = load_spec(ROOT / "runs" / "olmo1b_paper.yaml")
    assert spec.model == "allenai/OLMo-1B-hf" and spec.checkpoints.final
    assert spec.checkpoints.steps == (1000, 18000, 342000, 424000, 505000, 592000, 738000)
    assert spec.train == ("xsum", "socialiqa", "mnli", "paws", "tulu") and spec.evaluate.num_fewshot == 4
    assert len(spec.tasks("base")) == 57  # every set in every format
    assert spec.eval_sets("mnli") == ["xsum", "socialiqa", "mnli", "mnli_mm", "rte", "gpt3nli", "paws"]
    assert spec.eval_sets("xsum") == ["xsum", "xlsum", "cnn", "socialiqa", "mnli", "paws"]
    assert spec.eval_sets("tulu") == ["arc_easy", "arc_challenge", "openbookqa", "hellaswag", "boolq", "sciq_mc"]
    assert "amuro_mnli_io" in spec.tasks("mnli")


def test_harness_format_runs_for_the_instruction_tuning_sets_only():
    spec = parse_spec({**BASE_SPEC, "train": ["tulu"], "evaluate": {"formats": ["default", "harness"],
                                                                      "base": ["all"]}})
    assert "amuro_arc_easy_harness" in spec.tasks("base") and "amuro_mnli_default" in spec.tasks("base")
    assert len(spec.tasks("base")) == 19 + 6 and "amuro_mnli_harness" not in spec.tasks("base")
    assert spec.tasks("tulu") == [t for s in spec.eval_sets("tulu") for t in (f"amuro_{s}_default", f"amuro_{s}_harness")]


def test_the_tiny_spec_loads():
    spec = load_spec(ROOT / "runs" / "tiny.yaml")
    assert spec.name == "tiny" and spec.train == ("mnli",) and not spec.keep_weights
    assert spec.training["max_steps"] == 2


@pytest.mark.parametrize("change,message", [
    ({"train": ["squad"]}, "unknown task set 'squad'"),
    ({"train": ["rte"]}, "set 'rte' has no training split"),
    ({"evaluate": {"formats": ["chat"]}}, "unknown prompt format 'chat'"),
    ({"evaluate": {"base": ["in_domian"]}}, "unknown task set 'in_domian'"),
    ({"evaluate": {"shots": 4}}, "evaluate: unknown key 'shots'"),
    ({"launcher": {"kind": "pbs"}}, "launcher kind 'pbs' is not local or slurm"),
    ({"checkpoints": {}}, "checkpoints selects nothing"),
    ({"model": None, "checkpoints": None}, "missing key 'model'"),
])
def test_bad_specs_name_the_problem(change, message):
    data = {**BASE_SPEC, **change}
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(AmuroError, match=message):
        parse_spec(data)


def test_unreadable_specs_are_one_line_errors(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "missing.yaml"), "--dry-run"]) == 2
    assert capsys.readouterr().err.strip() == f"amuro: error: cannot read run spec {tmp_path}/missing.yaml: " \
                                              "No such file or directory"
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: m\ncheckpoints: [unclosed\n")
    assert main(["sweep", str(bad), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"amuro: error: {bad}:") and "not valid YAML" in err and "\n" not in err
