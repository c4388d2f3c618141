"""How the model's tokenizer reaches the TokenProb tasks through real lm-eval: `revision` (a Hub branch, from an
offline cache), `tokenizer=` and `add_bos_token` in the model_args. Each run is checked per document: the task's
choices are the first subtokens of the labels under *that* tokenizer, and the scores are TokenProb computed
directly with that model and tokenizer."""

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import oracles
from amuro.tasks.registry import parse_task_name
from amuro.tasks.templates import target_delimiter

from conftest import HUB_REVISIONS, evaluate

TASKS = ["amuro_mnli_default", "amuro_paws_io"]


def documents(results):
    for task, samples in results["samples"].items():
        set_name, fmt = parse_task_name(task)
        for s in samples:
            yield s["arguments"][0][0], s["doc"], target_delimiter(set_name, fmt), [float(ll) for ll, _ in
                                                                                   s["filtered_resps"]]


def check(results, model, tok, **encode) -> int:
    """Every document scored with `tok`'s first subtokens and `model`'s logits; returns the documents seen."""
    n = 0
    for context, doc, delimiter, lls in documents(results):
        for label, choice in zip(doc["amuro_choices"], doc["amuro_tp_choices"]):
            assert oracles.is_first_subtoken(tok, context, label, choice, delimiter, **encode), (label, choice)
        expected = oracles.tokenprob(model, tok, context, doc["amuro_choices"], delimiter, **encode)
        np.testing.assert_allclose(lls, expected, atol=1e-4)
        n += 1
    return n


def fits(results, tok) -> bool:
    """Whether every document's choices are also first subtokens under `tok`."""
    return all(oracles.is_first_subtoken(tok, context, label, choice, delimiter)
               for context, doc, delimiter, _ in documents(results)
               for label, choice in zip(doc["amuro_choices"], doc["amuro_tp_choices"]))


def load(path, revision=None):
    return (AutoModelForCausalLM.from_pretrained(path, revision=revision, dtype=torch.float32).eval(),
            AutoTokenizer.from_pretrained(path, revision=revision))


def test_revision_gives_the_task_the_tokenizer_of_that_branch(hub):
    tokenizers = {}
    for revision in HUB_REVISIONS:  # step100: byte-level BPE; step200: SentencePiece-like with BOS
        model, tokenizers[revision] = load(hub, revision)
        out = evaluate(hub, TASKS, model_args={"revision": revision}, limit=4)
        assert check(out, model, tokenizers[revision]) == 8
        other = tokenizers.get(HUB_REVISIONS[0])
        if revision == HUB_REVISIONS[1]:
            assert not fits(out, other)  # the other branch's tokenizer would have given other choices


def test_tokenizer_argument_overrides_the_models_own(tiny_bpe, tiny_sp):
    model, own = load(tiny_bpe)
    _, sp = load(tiny_sp)
    out = evaluate(tiny_bpe, TASKS, model_args={"tokenizer": tiny_sp}, limit=4)
    assert check(out, model, sp) == 8 and not fits(out, own)


def test_add_bos_token_false_reaches_the_model_and_the_task(tiny_sp):
    model, tok = load(tiny_sp)
    assert tok("a")["input_ids"][0] == tok.bos_token_id  # this tokenizer prepends BOS by default
    out = evaluate(tiny_sp, TASKS, model_args={"add_bos_token": False}, limit=4)
    assert check(out, model, tok, add_special_tokens=False) == 8
    with_bos = [oracles.tokenprob(model, tok, context, doc["amuro_choices"], delimiter)
                for context, doc, delimiter, _ in documents(out)]
    assert not all(np.allclose(lls, b, atol=1e-4) for (_, _, _, lls), b in zip(documents(out), with_bos))
