"""Prefix reuse in `--model amuro-hf`: greedy generation from a shared prefix's KV cache is token for token plain
`generate`, and through lm-eval the outputs and log-likelihoods equal `--model hf`'s."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from amuro.eval.prefix import generate_from_prefix, shared_prefix_groups

from conftest import evaluate


def test_shared_prefix_groups():
    a, b, c = (1,) * 40 + (2, 3), (1,) * 40 + (4,), (9, 9)
    assert shared_prefix_groups([a, b, c], 32) == [(40, [a, b]), (0, [c])]
    assert shared_prefix_groups([a], 32) == [(0, [a])]  # a lone sequence has nothing to share


@pytest.mark.parametrize("style", ["tiny_bpe", "tiny_sp"])
def test_generation_from_a_shared_prefix_is_token_identical_to_plain_generate(style, request):
    path = request.getfixturevalue(style)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    demos = "".join(f"### Input: The {w} team played a long game in the city and won it.\n ### Summary: {w} won.\n"
                    for w in ("red", "blue", "green", "old"))
    docs = ["The river rose after the rain", "A new school opened", "The market sold apples and bread all week"]
    prompts = [tok(demos + f"### Input: {d}.\n ### Summary: ").input_ids for d in docs]
    (length, members), = shared_prefix_groups([tuple(p) for p in prompts], 32)
    # A batch of 2 and a batch of 1: suffixes of different lengths padded between the prefix and themselves.
    ours = generate_from_prefix(model, list(members[0][:length]), [list(m[length:]) for m in members], 2,
                                tok.pad_token_id, max_new_tokens=40, do_sample=False)
    for m, tokens in zip(members, ours):
        with torch.no_grad():
            plain = model.generate(torch.tensor([m]), attention_mask=torch.ones(1, len(m), dtype=torch.long),
                                   max_new_tokens=40, do_sample=False, pad_token_id=tok.pad_token_id)
        expected = plain[0, len(m):].tolist()
        assert tokens == expected[:len(tokens)] and len(tokens) > 0
        assert len(tokens) == len(expected) or tokens[-1] == tok.eos_token_id  # cut after EOS


@pytest.mark.slow
@pytest.mark.parametrize("style", ["tiny_bpe", "tiny_sp"])
def test_amuro_hf_equals_plain_hf_through_lm_eval(style, request, monkeypatch):
    from amuro.eval import hf_model

    calls = []
    original = hf_model.generate_from_prefix
    monkeypatch.setattr(hf_model, "generate_from_prefix",
                        lambda model, prefix, suffixes, *a, **k: calls.append(len(suffixes))
                        or original(model, prefix, suffixes, *a, **k))
    path = request.getfixturevalue(style)
    tasks = ["amuro_xsum_default", "amuro_socialiqa_io", "amuro_arc_easy_default", "amuro_mnli_instruct"]
    kwargs = dict(num_fewshot=2, limit=6, metadata={"amuro_fewshot": "paper"})  # 4-shot xsum: over 1,024
    plain, ours = evaluate(path, tasks, **kwargs), evaluate(path, tasks, model="amuro-hf", **kwargs)
    assert calls == [6, 6]  # the two generation tasks, each document continued from its task's prefix
    for task in tasks:
        for a, b in zip(plain["samples"][task], ours["samples"][task]):
            assert a["arguments"] == b["arguments"]
            if task in tasks[:2]:
                assert a["resps"] == b["resps"]  # generated text, identical
            else:
                np.testing.assert_allclose([float(ll) for ll, _ in a["filtered_resps"]],
                                           [float(ll) for ll, _ in b["filtered_resps"]], atol=1e-4)


@pytest.mark.parametrize("style", ["tiny_bpe", "tiny_sp"])
def test_scores_after_a_shared_prefix_equal_whole_forwards_across_batches(style, request):
    """Batches of different widths continue from one copy of the prefix (the last batch smaller): each row's
    log-probability is the whole input's, as a plain forward gives it."""
    from amuro.eval.prefix import continuation_scores

    path = request.getfixturevalue(style)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    prefix = tok("### Input: The red team played a long game in the city and won it. ### Label: yes\n" * 3).input_ids
    words = ["The river rose", "A new school opened in the town", "Apples", "The market sold bread all week long",
             "Rain fell"]
    rows = [(tok(f" {w}. ### Label:").input_ids, tok(f" {label}").input_ids) for w in words for label in ("yes", "no")]
    ours = continuation_scores(model, prefix, rows, batch_size=3)
    for (suffix, continuation), (logp, _) in zip(rows, ours):
        ids = torch.tensor([prefix + suffix + continuation])
        with torch.no_grad():
            full = torch.log_softmax(model(ids).logits[0].float(), -1)
        start = len(prefix) + len(suffix)
        expected = sum(float(full[start - 1 + k, t]) for k, t in enumerate(continuation))
        assert logp == pytest.approx(expected, abs=1e-4)
