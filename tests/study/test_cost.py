"""The compute plan: counts from the registry's split sizes and the spec, tokens with and without prefix sharing,
GPU-hours for a throughput profile, printed by `amuro sweep --dry-run`."""

import pytest

from amuro.cli import main
from amuro.study.cost import (GPUS, LENGTHS, MAX_NEW_TOKENS, OPTIONS, Totals, gpu_hours, model_parameters,
                              task_totals, training_tokens)
from amuro.tasks.registry import SETS

from conftest import ROOT


def test_every_split_a_set_reads_has_its_size_and_every_set_a_length():
    for ts in SETS.values():
        assert set(ts.splits()) <= set(ts.split_rows) and all(n > 0 for n in ts.split_rows.values())
        assert ts.name in LENGTHS
    assert SETS["xsum"].split_rows["test"] == 11_334 and SETS["hellaswag"].split_rows["validation"] == 10_042


def test_task_totals_share_the_demonstrations_once():
    mnli = task_totals("amuro_mnli_default", 4, None)
    assert mnli.documents == 9_815 and mnli.generated == 0
    demos = (mnli.prompt_full - mnli.prompt_shared) / (mnli.documents - 1)  # the demonstrations, run once vs each time
    assert demos == 4 * ((mnli.prompt_shared - demos) / mnli.documents + 2)  # 4 x (prompt + 1-token target + "\n")
    xsum = task_totals("amuro_xsum_io", 0, None)
    assert xsum.prompt_full == xsum.prompt_shared == 11_334 * LENGTHS["xsum"][0]  # the io prompt is the document
    assert xsum.generated == 11_334 * MAX_NEW_TOKENS
    arc = task_totals("amuro_arc_easy_harness", 0, None)  # one row per option, its tokens after the prompt
    assert arc.prompt_full % (570 * OPTIONS["arc_easy"]) == 0
    assert task_totals("amuro_mnli_default", 4, 100).documents == 100
    assert task_totals("amuro_mnli_default", 4, 0.5).documents == 4_908


def test_training_tokens_and_parameters():
    assert training_tokens("tulu", {}) == 16_307 * 5 * 1_000  # int(326,154 x 5%): the authors' rounding
    assert training_tokens("mnli", {"max_steps": 2}) == 2 * 8 * training_tokens("mnli", {}) // (6000 * 3)
    assert model_parameters("allenai/OLMo-1B-hf") == (1e9, "from its name")
    assert model_parameters("EleutherAI/pythia-160m")[0] == 160e6


def test_gpu_hours_scale_with_the_profile_and_the_approach():
    t = Totals(documents=10, prompt_shared=10**9, prompt_full=5 * 10**9, generated=10**6, training=10**8)
    a100 = gpu_hours(t, 1e9, GPUS["a100"], "ours", "bfloat16")
    assert gpu_hours(t, 1e9, GPUS["h100"], "ours", "bfloat16") < a100 < gpu_hours(t, 1e9, GPUS["a100"], "authors", "")
    prefill = 10**9 * 2 * 1e9 / (312e12 * 0.35) / 3600
    assert gpu_hours(Totals(prompt_shared=10**9), 1e9, GPUS["a100"], "ours", "bfloat16") == pytest.approx(prefill)


def test_the_dry_run_prints_the_compute_plan_of_the_papers_spec(tmp_path, capsys):
    spec = ROOT / "runs" / "olmo1b_paper.yaml"  # its revisions_file stands in for the Hub's branch list
    hours = {}
    for gpu in ("a100", "h100"):
        assert main(["sweep", str(spec), "--dry-run", "--gpu", gpu, "--out", str(tmp_path / "out")]) == 0
        lines = capsys.readouterr().out.splitlines()
        rows = {line[:22].strip(): line.split() for line in lines if line[:22].strip() in (
            "base evaluation", "training", "fine-tuned evaluation", "total")}
        assert len(rows) == 4 and f"--gpu {gpu}" in "\n".join(lines)
        ours, authors = (float(x.replace(",", "")) for x in rows["total"][-2:])
        assert 0 < ours < authors
        hours[gpu] = ours
    assert hours["h100"] < hours["a100"]
