"""All 63 tasks (57 + 6 harness) through real lm-eval on the tiny model, and the groups that aggregate them."""

import math

import pytest

from amuro.tasks.registry import SETS

from conftest import evaluate


@pytest.mark.slow
def test_all_63_tasks_run_and_aggregate(tiny_bpe):
    results = evaluate(tiny_bpe, ["amuro", "amuro_harness"], num_fewshot=2, limit=3)["results"]
    for name, ts in SETS.items():
        for fmt in ts.formats:
            row = results[f"amuro_{name}_{fmt}"]
            for metric in ts.metrics:
                value = row[f"{metric},none"]
                assert 0.0 <= value <= 1.0 and not math.isnan(value), (name, fmt, metric)
    assert "acc,none" in results["amuro_cls"] and "rougeL,none" in results["amuro_gen"]
    assert "rougeL,none" not in results["amuro_cls"] and "acc,none" not in results["amuro_gen"]


def test_generation_is_greedy_bounded_and_scored_by_rouge(tiny_bpe):
    from amuro.eval.scoring import rouge_l

    out = evaluate(tiny_bpe, ["amuro_xsum_default"], limit=4)
    config = out["configs"]["amuro_xsum_default"]["generation_kwargs"]
    assert config["max_gen_toks"] == 60 and config["do_sample"] is False and config["until"] == ["\n### Input:"]
    samples = out["samples"]["amuro_xsum_default"]
    for s in samples:
        assert s["rougeL"] == pytest.approx(rouge_l(s["doc"]["summary"], s["filtered_resps"][0]))
    assert out["results"]["amuro_xsum_default"]["rougeL,none"] == pytest.approx(
        sum(s["rougeL"] for s in samples) / len(samples))


def test_rte_counts_neutral_and_contradiction_as_not_entailment(tiny_bpe):
    samples = evaluate(tiny_bpe, ["amuro_rte_default"], limit=12)["samples"]["amuro_rte_default"]
    for s in samples:
        pred = max(range(3), key=lambda i: float(s["filtered_resps"][i][0]))
        gold = [0] if s["doc"]["label"] == 0 else [1, 2]
        assert s["acc"] == float(pred in gold)
