"""Prompts longer than the model's context (amuro-hf `long_prompts=`): the paper profile gives the model the whole
4-shot xsum prompt, past its trained positions, as the authors' runs did; the corrected profile cuts it from the left
(lm-eval's policy). Each task logs once how many documents were longer. What the model read is counted at its input:
every forward's real tokens (attention mask, plus the cache it continues from)."""

import logging

import pytest

from conftest import evaluate

CONTEXT = 128  # the tiny model's trained positions; 4-shot xsum prompts are several times longer


@pytest.fixture(scope="module")
def short_model(tmp_path_factory):
    from amuro.demo.tiny import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("short") / "tiny", max_positions=CONTEXT))


def _run_counting(model_path, long_prompts, profile_fewshot):
    """Evaluate amuro_xsum_default 4-shot, recording the real tokens of every multi-token forward."""
    from transformers import OlmoForCausalLM

    seen = []

    def hook(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None or ids.shape[1] < 2:
            return
        mask = kwargs.get("attention_mask")
        if mask is None:
            cache = kwargs.get("past_key_values")
            past = cache.get_seq_length() if cache is not None else 0
            seen.extend([past + ids.shape[1]] * ids.shape[0])
        elif mask.dim() == 2:  # (batch, cache + input): 1 for every real token
            seen.extend(int(n) for n in mask.sum(-1))
        else:  # (batch, 1, input, cache + input) additive or boolean: what the last input position attends to
            last = mask[:, 0, -1]
            seen.extend(int(n) for n in ((last == 0) if last.is_floating_point() else last).sum(-1))

    original = OlmoForCausalLM.forward

    def counted(self, *args, **kwargs):
        hook(self, args, kwargs)
        return original(self, *args, **kwargs)

    OlmoForCausalLM.forward = counted
    try:
        out = evaluate(model_path, ["amuro_xsum_default"], model="amuro-hf",
                       model_args={"tokenprob": "paper", "long_prompts": long_prompts}, num_fewshot=4, limit=3,
                       metadata={"amuro_fewshot": profile_fewshot})
    finally:
        OlmoForCausalLM.forward = original
    return out, seen


def _prompt_lengths(model_path, out):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    return [len(tok(s["arguments"][0][0])["input_ids"]) for s in out["samples"]["amuro_xsum_default"]]


@pytest.mark.slow
def test_the_paper_profile_gives_the_model_the_whole_prompt(short_model, caplog):
    with caplog.at_level(logging.WARNING, logger="amuro"):
        out, seen = _run_counting(short_model, "whole", "paper")
    lengths = _prompt_lengths(short_model, out)
    assert min(lengths) > CONTEXT  # every document's prompt is longer than the context...
    assert set(lengths) <= set(seen)  # ...and reached the model whole, every token of it
    assert "amuro_xsum_default: 3 of 3 documents are longer than the model's 128-token context: given whole, " \
           "past its trained positions (long_prompts=whole)" in caplog.text


@pytest.mark.slow
def test_the_corrected_profile_cuts_long_prompts_from_the_left(short_model, caplog):
    with caplog.at_level(logging.WARNING, logger="amuro"):
        out, seen = _run_counting(short_model, "left", "shared")
    assert min(_prompt_lengths(short_model, out)) > CONTEXT
    assert seen and max(seen) <= CONTEXT  # lm-eval's left cut: at most the context, room kept for 60 new tokens
    assert "amuro_xsum_default: 3 of 3 documents are longer than the model's 128-token context: cut from the left " \
           "(long_prompts=left)" in caplog.text
