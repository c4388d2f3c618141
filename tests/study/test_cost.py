"""The compute plan: counts per code path from the registry's split sizes and the spec (amuro.study.cost), priced on
equal footing (amuro.study.budget), printed by `amuro sweep --dry-run [--calibrate]`."""

import dataclasses

import pytest

from amuro.cli import main
from amuro.study.budget import GPUS, assumed_rates, eval_dtypes, model_shape, seconds
from amuro.study.cost import (CUT, LENGTHS, MAX_NEW_TOKENS, ONE, OPTIONS, SHARED, WHOLE, Work, pipelines, task_work,
                              training_tokens)
from amuro.study.plan import plan
from amuro.study.spec import load_spec
from amuro.study.sweep import Sweep
from amuro.tasks.registry import SETS

from conftest import ROOT

PAPER, CORRECTED = ROOT / "runs" / "olmo1b_paper.yaml", ROOT / "runs" / "olmo1b_corrected.yaml"


def test_every_split_a_set_reads_has_its_size_and_every_set_a_length():
    for ts in SETS.values():
        assert set(ts.splits()) <= set(ts.split_rows) and all(n > 0 for n in ts.split_rows.values())
        assert ts.name in LENGTHS
    assert SETS["xsum"].split_rows["test"] == 11_334 and SETS["hellaswag"].split_rows["validation"] == 10_042


def test_shared_demonstrations_run_once_ours_and_every_time_the_authors():
    pipes = pipelines(load_spec(CORRECTED))
    ours, path = task_work("amuro_mnli_default", pipes["ours"], 4, None, 2048)
    authors, authors_path = task_work("amuro_mnli_default", pipes["authors"], 4, None, 2048)
    assert (path, authors_path) == (SHARED, ONE) and ours.documents == authors.documents == 9_815
    prefix = ours.prompt_one  # the demonstrations and the template's head, once, at batch 1
    assert authors.prompt == authors.prompt_one == 9_815 * ((ours.prompt - prefix) // 9_815 + prefix)
    assert task_work("amuro_mnli_default", pipes["ours"], 4, 100, 2048)[0].documents == 100
    xsum = task_work("amuro_xsum_io", pipes["authors"], 0, None, 2048)[0]  # no stop: 60 tokens, one at a time
    assert xsum.generated == xsum.decode_one == 11_334 * MAX_NEW_TOKENS and xsum.decode_batched == 0
    arc = task_work("amuro_arc_easy_harness", pipes["authors"], 0, None, 2048)  # catwalk: batches, options
    assert arc[1] == WHOLE and arc[0].prompt_one == 0 and arc[0].prompt % OPTIONS["arc_easy"] == 0


@pytest.mark.parametrize("long_prompts", ["left", "whole"])
def test_documents_longer_than_the_context_share_no_prefix_where_they_are_cut(long_prompts):
    """Every mnli 4-shot context exceeds a 64-token context: under long_prompts=left HFLM cuts each from the left
    and runs it alone (no sharing); under long_prompts=whole amuro-hf still runs the demonstrations once."""
    spec = load_spec(PAPER)
    pipe = dataclasses.replace(pipelines(spec)["ours"], long_prompts=long_prompts)
    work, path = task_work("amuro_mnli_default", pipe, 4, None, 64)
    whole, _ = task_work("amuro_mnli_default", pipe, 4, None, 4096)
    if long_prompts == "left":
        assert path == CUT and work.prompt_one == 0 and work.prompt == 9_815 * 64  # each cut to the context
    else:
        assert path == SHARED and work.prompt == whole.prompt and work.prompt_one > 0


def test_training_tokens_and_model_shape():
    assert training_tokens("tulu", {}) == 16_307 * 5 * 1_000  # int(326,154 x 5%): the authors' rounding
    assert training_tokens("mnli", {"max_steps": 2}) == 2 * 8 * training_tokens("mnli", {}) // (6000 * 3)
    olmo = model_shape("allenai/OLMo-1B-hf")
    assert olmo.flop_params == pytest.approx(16 * (4 * 2048**2 + 3 * 2048 * 8192) + 50304 * 2048)
    assert (olmo.layers, olmo.context) == (16, 2048)
    assert model_shape("EleutherAI/pythia-160m").flop_params == 160e6


def test_both_pipelines_are_priced_at_the_same_rates():
    shape = model_shape("allenai/OLMo-1B-hf")
    work = Work(prompt=10**9, prompt_one=10**8, decode_one=10**5, decode_batched=10**4, train_batched=10**8)
    a100 = assumed_rates("a100", shape, 16)
    assert a100.prefill_one == a100.prefill_batched and a100.train_one == a100.train_batched
    assert seconds(work, assumed_rates("h100", shape, 16), shape, "bfloat16") < seconds(work, a100, shape, "bfloat16") \
        < seconds(work, a100, shape, "float32")
    prefill = 10**9 * 2 * shape.flop_params / (GPUS["a100"].bf16_tflops * 1e12 * 0.35)
    assert seconds(Work(prompt=10**9), a100, shape, "bfloat16") == pytest.approx(prefill)


def test_the_plan_prices_the_dtype_lm_eval_is_given(tmp_path):
    for path, base in ((CORRECTED, "bfloat16"), (PAPER, "float32")):
        spec = load_spec(path)
        sweep = Sweep(spec, tmp_path / spec.name)
        for job in plan(spec):
            assert eval_dtypes(spec, job)["ours"] == sweep.load_args(job)["dtype"]
        assert sweep.load_args(plan(spec)[0])["dtype"] == base


def test_the_dry_run_prints_the_plan_per_stage_and_the_like_for_like_ratio(tmp_path, capsys):
    hours = {}
    for spec in (PAPER, CORRECTED):
        for gpu in ("a100", "h100"):
            assert main(["sweep", str(spec), "--dry-run", "--gpu", gpu, "--out", str(tmp_path / "out")]) == 0
            text = capsys.readouterr().out
            rows = {line[:22].strip(): line.split() for line in text.splitlines() if line[:22].strip() in (
                "base evaluation", "training", "fine-tuned evaluation", "total")}
            assert len(rows) == 4 and f"--gpu {gpu}" in text and "like for like" in text
            ours, authors = (float(x.replace(",", "")) for x in rows["total"][-3:-1])
            assert 0 < ours < authors
            hours[spec.stem, gpu] = ours
        assert "our code path per task" in text
    assert hours["olmo1b_paper", "h100"] < hours["olmo1b_paper", "a100"]
    assert "alone, cut to the context" in text  # the corrected profile cuts the 4-shot summarization prompts


def test_calibration_measures_the_rates_on_this_machine(tiny_checkpoints, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("AMURO_DATA_DIR")  # no local data: the rates are measured, the fixed costs assumed
    assert main(["sweep", str(ROOT / "runs" / "tiny.yaml"), "--model", tiny_checkpoints, "--dry-run", "--calibrate",
                 "--out", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "on this machine (cpu" in text and "(measured)" in text and "model load 30 s (assumed)" in text
    assert "lengths: cost.LENGTHS (assumed)" in text and "seconds ours" in text  # a tiny plan: seconds, not 0.0 h
    # without --calibrate, a tiny model gets no GPU plan (its GPU-hours would all read 0.0)
    assert main(["sweep", str(ROOT / "runs" / "tiny.yaml"), "--model", tiny_checkpoints, "--dry-run",
                 "--out", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "none in GPU-hours for a tiny model" in text and "GPU-h ours" not in text
