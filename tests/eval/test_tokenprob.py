"""TokenProb through real lm-eval, checked per document against direct transformers computations.

- `--model hf`: the label whose first subtoken scores highest right after the prompt, compared with a reference
  that reads the logits itself, on a byte-level BPE tokenizer and a SentencePiece-like one with BOS.
- `--model amuro-hf tokenprob=paper`: compared with an independent implementation of the authors' lenient rule.
"""

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from amuro.tasks.registry import CLASSIFICATION, FORMATS, SETS
from amuro.tasks.templates import target_delimiter

from conftest import evaluate
from oracles import authors_prediction, last_log_probs
from oracles import tokenprob as reference_tokenprob

CLS_TASKS = [f"amuro_{s}_{f}" for s, ts in SETS.items() if ts.kind == CLASSIFICATION for f in FORMATS]


def _load(path):
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), AutoTokenizer.from_pretrained(path)


def _samples(results):
    for task, samples in results["samples"].items():
        set_name, fmt = task[len("amuro_"):].rsplit("_", 1)
        for s in samples:
            context = s["arguments"][0][0]
            lls = [float(ll) for ll, _ in s["filtered_resps"]]
            yield set_name, fmt, s["doc"], context, lls


@pytest.mark.parametrize("style", ["tiny_bpe", "tiny_sp"])
@pytest.mark.parametrize("shots", [0, 2])
def test_plain_hf_scores_first_subtoken_tokenprob(style, shots, request):
    path = request.getfixturevalue(style)
    model, tok = _load(path)
    results = evaluate(path, CLS_TASKS, num_fewshot=shots, limit=8)
    n = split = 0
    for set_name, fmt, doc, context, lls in _samples(results):
        split += doc["amuro_tp_choices"] != doc["amuro_choices"]  # some labels are several subtokens here
        ref = reference_tokenprob(model, tok, context, doc["amuro_choices"], target_delimiter(set_name, fmt))
        np.testing.assert_allclose(lls, ref, atol=1e-4)
        assert int(np.argmax(lls)) == int(np.argmax(ref))
        n += 1
    assert n == len(CLS_TASKS) * 8 and split >= n // 2


@pytest.mark.parametrize("style,shots,fewshot", [("tiny_bpe", 0, "random"), ("tiny_bpe", 4, "paper"),
                                                 ("tiny_sp", 4, "paper"), ("tiny_sp", 2, "random")])
def test_amuro_hf_paper_rule_matches_the_authors(style, shots, fewshot, request, monkeypatch):
    from amuro.eval import hf_model
    from amuro.eval.scoring import paper_candidates

    prefixes = []  # (prefix length, documents) of each pass
    original = hf_model.continuation_scores
    monkeypatch.setattr(hf_model, "continuation_scores",
                        lambda model, prefix, rows, *a: prefixes.append((len(prefix), len({tuple(r[0]) for r in rows})))
                        or original(model, prefix, rows, *a))
    path = request.getfixturevalue(style)
    model, tok = _load(path)
    tasks = [t for t in CLS_TASKS if t.endswith("_default") or t.endswith("_instruct")]
    results = evaluate(path, tasks, model="amuro-hf", model_args={"tokenprob": "paper"}, num_fewshot=shots,
                       limit=8, metadata={"amuro_fewshot": fewshot})
    n = 0
    for _, _, doc, context, lls in _samples(results):
        assert context.endswith(" ")  # used verbatim, trailing space included
        assert int(np.argmax(lls)) == authors_prediction(model, tok, context, doc["amuro_choices"])
        # each label's score: its best candidate's log-probability after the whole context, read at batch 1
        logprobs = last_log_probs(model, tok(context)["input_ids"])
        pairs = paper_candidates(tok, doc["amuro_choices"])
        best = [max(float(logprobs[t]) for t, k in pairs if k == label) for label in range(len(lls))]
        np.testing.assert_allclose(lls, best, atol=1e-4)
        n += 1
    assert n == len(tasks) * 8
    if fewshot == "paper":  # the authors' first-k demonstrations: one prefix pass per task, its 8 documents on top
        assert len(prefixes) == len(tasks) and all(p > 0 and docs == 8 for p, docs in prefixes)


def test_paper_fewshot_uses_the_first_rows_of_the_scored_split(tiny_bpe):
    results = evaluate(tiny_bpe, ["amuro_mnli_default"], num_fewshot=2, limit=3,
                       metadata={"amuro_fewshot": "paper"})
    samples = results["samples"]["amuro_mnli_default"]
    first_two = [samples[0]["doc"], samples[1]["doc"]]
    demos = "".join(d["amuro_prompt"] + d["amuro_target"] + "\n" for d in first_two)
    for s in samples:  # every document, the first two included, gets the same two demonstrations
        assert s["arguments"][0][0] == demos + s["doc"]["amuro_prompt"]


def test_random_fewshot_is_per_document_seeded_and_never_the_scored_document(tiny_bpe):
    kwargs = dict(num_fewshot=3, limit=8, metadata={"amuro_fewshot": "random"})
    a = evaluate(tiny_bpe, ["amuro_gpt3nli_io"], **kwargs)["samples"]["amuro_gpt3nli_io"]
    b = evaluate(tiny_bpe, ["amuro_gpt3nli_io"], **kwargs)["samples"]["amuro_gpt3nli_io"]
    contexts = [s["arguments"][0][0] for s in a]
    assert contexts == [s["arguments"][0][0] for s in b]
    draws = set()
    for s, context in zip(a, contexts):  # gpt3nli draws demonstrations from its only split
        demos = context.split("\n")[:-1]
        assert len(demos) == 3 and not any(d.startswith(s["doc"]["amuro_prompt"]) for d in demos)
        draws.add(tuple(demos))
    assert len(draws) > 1  # a new draw per document


def test_amuro_hf_first_equals_plain_hf_and_runs_a_shared_prefix_once(tiny_bpe, monkeypatch):
    from amuro.eval import hf_model

    calls = []
    original = hf_model.continuation_scores
    monkeypatch.setattr(hf_model, "continuation_scores",
                        lambda model, prefix, rows, *a: calls.append(len({tuple(r[0]) for r in rows}))
                        or original(model, prefix, rows, *a))
    tasks = ["amuro_mnli_default", "amuro_paws_io", "amuro_boolq_instruct"]
    kwargs = dict(num_fewshot=4, limit=8, metadata={"amuro_fewshot": "paper"})
    plain = list(_samples(evaluate(tiny_bpe, tasks, **kwargs)))
    ours = list(_samples(evaluate(tiny_bpe, tasks, model="amuro-hf", **kwargs)))
    assert calls == [8, 8, 8]  # one prefix pass per task, its 8 documents scored on top of it
    for (_, _, _, ctx_a, lls_a), (_, _, _, ctx_b, lls_b) in zip(plain, ours):
        assert ctx_a == ctx_b
        np.testing.assert_allclose(lls_a, lls_b, atol=1e-4)
