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
    assert len(spec.tasks("base")) == 45  # 13 sets x 3 formats, the 6 instruction-tuning sets in their harness prompt
    assert spec.profile == "paper" and "amuro_arc_easy_harness" in spec.tasks("base")
    assert spec.eval_sets("mnli") == ["xsum", "socialiqa", "mnli", "mnli_mm", "rte", "gpt3nli", "paws"]
    assert spec.eval_sets("xsum") == ["xsum", "xlsum", "cnn", "socialiqa", "mnli", "paws"]
    assert spec.eval_sets("tulu") == ["arc_easy", "arc_challenge", "openbookqa", "hellaswag", "boolq", "sciq_mc"]
    assert "amuro_mnli_io" in spec.tasks("mnli")


def test_harness_format_runs_for_the_instruction_tuning_sets_only():
    spec = parse_spec({**BASE_SPEC, "train": ["tulu"], "evaluate": {"formats": ["default"], "base": ["all"],
                                                                      "instruction_formats": ["default", "harness"]}})
    assert "amuro_arc_easy_harness" in spec.tasks("base") and "amuro_mnli_default" in spec.tasks("base")
    assert len(spec.tasks("base")) == 19 + 6 and "amuro_mnli_harness" not in spec.tasks("base")
    assert spec.tasks("tulu") == [t for s in spec.eval_sets("tulu") for t in (f"amuro_{s}_default", f"amuro_{s}_harness")]
    with pytest.raises(AmuroError, match="'harness' exists only for the instruction-tuning sets"):
        parse_spec({**BASE_SPEC, "evaluate": {"formats": ["default", "harness"]}})


def test_a_profile_sets_the_knobs_the_spec_leaves_unset():
    paper = parse_spec({**BASE_SPEC, "profile": "paper", "train": ["mnli"]})
    e = paper.evaluate
    assert (e.model, e.model_args, e.fewshot, e.gen_kwargs, e.instruction_formats) == (
        "amuro-hf", {"tokenprob": "paper", "long_prompts": "whole"}, "paper", {"until": []}, ("harness",))
    assert (e.splits, e.rte, e.harness) == ("authors", "neutral", "catwalk")
    assert [paper.eval_dtype(t) for t in ("base", "mnli", "tulu")] == ["float32", "bfloat16", "float32"]
    assert paper.training == {"loss_averaging": "per_example", "round_rotary_to_bf16": True}
    corrected = parse_spec({**BASE_SPEC, "train": ["mnli"]})  # the default profile
    assert corrected.profile == "corrected" and corrected.evaluate.model_args["tokenprob"] == "first"
    assert corrected.training == {"loss_averaging": "per_token"} and corrected.evaluate.gen_kwargs is None
    assert {corrected.eval_dtype(t) for t in ("base", "mnli", "tulu")} == {"bfloat16"}
    assert (corrected.evaluate.splits, corrected.evaluate.rte, corrected.evaluate.harness) == (
        "labelled", "two_way", "lm_eval")
    # The spec wins, knob by knob; a plain `hf` model gets no amuro-hf argument.
    mine = parse_spec({**BASE_SPEC, "profile": "paper", "train": ["mnli"],
                       "evaluate": {"model": "hf", "fewshot": "random", "model_args": {"dtype": "bfloat16"}},
                       "training": {"loss_averaging": "per_token"}})
    assert (mine.evaluate.model, mine.evaluate.model_args, mine.evaluate.fewshot) == ("hf", {"dtype": "bfloat16"},
                                                                                       "random")
    assert {mine.eval_dtype(t) for t in ("base", "mnli")} == {"bfloat16"}  # model_args.dtype: every model
    assert parse_spec({**BASE_SPEC, "profile": "paper", "evaluate": {"dtype": {"sft": "float32"}}}).eval_dtype(
        "mnli") == "float32"
    with pytest.raises(AmuroError, match="evaluate: dtype: unknown kind 'finetuned'; kinds: base, sft, tulu"):
        parse_spec({**BASE_SPEC, "evaluate": {"dtype": {"finetuned": "float32"}}})
    with pytest.raises(AmuroError, match="evaluate: unknown rte 'three'; known: two_way, neutral"):
        parse_spec({**BASE_SPEC, "evaluate": {"rte": "three"}})
    assert mine.training == {"loss_averaging": "per_token", "round_rotary_to_bf16": True}
    assert mine.provenance()["profile"] == "paper"
    with pytest.raises(AmuroError, match=r"unknown profile 'papr' \(did you mean paper\?\); profiles: paper, corrected"):
        parse_spec({**BASE_SPEC, "profile": "papr"})


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
