"""Scoring rules: TokenProb choice strings, the authors' lenient candidate ids, Rouge-L."""

from __future__ import annotations

import functools
from typing import Sequence


def _encode(tok, texts: list[str], add_bos_token: bool | None) -> list[list[int]]:
    # What lm-eval's HFLM.tok_encode does for each text: the tokenizer's own default unless add_bos_token is given,
    # and no second BOS for a text that already starts with it (a chat template may write one).
    if not texts:
        return []
    kwargs = {} if add_bos_token is None else {"add_special_tokens": add_bos_token}
    bos = getattr(tok, "bos_token", None)
    if bos and texts[0].startswith(bos):
        kwargs = {"add_special_tokens": False}
    return tok(texts, **kwargs)["input_ids"]


def first_subtoken_choices(tok, prompts: Sequence[str], labels: Sequence[str], delimiter: str,
                           add_bos_token: bool | None = None) -> tuple[list[list[str]], int]:
    """For each prompt, the text of each label's first subtoken after the prompt, as lm-eval's HFLM will see it.

    HFLM moves the prompt's trailing whitespace into the continuation and scores `continuation` as the tokens of
    `context + continuation` past those of `context`. For a label `w` the natural continuation is
    `lead + w`, `lead` = the whitespace + `delimiter`; we keep only the first token `t` of `w` there and return the
    string `s` for which `context + lead + s` tokenizes to `context`, the lead's own tokens if it has any, then
    exactly `t`. Usually the lead merges into the label's first token (`Ġent`: no tokens of its own); after a chat
    template's `<|assistant|>\n` it stays one (`Ċ`, then `ent`): the same token for every label, so lm-eval's
    multiple-choice argmax is TokenProb either way, the label whose first subtoken has the highest logit right after
    the prompt. Returns (choices per prompt, number of prompts that fell back to whole words because a first
    subtoken could not be written as text on its own). Tokenizes in batches: MNLI has 10k prompts.
    """
    contexts = [p.rstrip() for p in prompts]
    leads = [p[len(c):] + delimiter for p, c in zip(prompts, contexts)]
    ctx_ids = _encode(tok, contexts, add_bos_token)
    lead_ids = _encode(tok, [c + lead for c, lead in zip(contexts, leads)], add_bos_token)
    wholes = _encode(tok, [c + lead + w for c, lead in zip(contexts, leads) for w in labels], add_bos_token)
    n = len(labels)
    prefixes, firsts, texts = [], [], []  # per (prompt, label): the tokens before the label's first one, it, its text
    for d, (ids, with_lead, lead) in enumerate(zip(ctx_ids, lead_ids, leads)):
        separate = with_lead[:len(ids)] == ids and len(with_lead) > len(ids)  # the lead keeps tokens of its own
        for whole in wholes[d * n:(d + 1) * n]:
            before = with_lead if separate and whole[:len(with_lead)] == with_lead else ids
            first = whole[len(before)] if whole[:len(before)] == before and len(whole) > len(before) else None
            tail = before[-4:]  # the piece's text is local: decode a short tail, not the whole context
            tail_text = tok.decode(tail)
            piece = tok.decode(tail + [first]) if first is not None else ""
            piece = piece[len(tail_text):] if piece.startswith(tail_text) else ""
            if before is ids:  # the lead is part of the label's first token: the choice text is what follows it
                piece = piece[len(lead):] if piece.startswith(lead) else ""
            prefixes.append(before)
            firsts.append(first)
            texts.append(piece)
    verify = _encode(tok, [contexts[i // n] + leads[i // n] + t for i, t in enumerate(texts)], add_bos_token)
    out, fallbacks = [], 0
    for d in range(len(ctx_ids)):
        span = range(d * n, (d + 1) * n)
        choices = [texts[i] for i in span]
        if not all(texts[i] and verify[i] == prefixes[i] + [firsts[i]] for i in span):
            choices, fallbacks = list(labels), fallbacks + 1
        if len(set(choices)) != len(choices):
            raise_ambiguous(tok, labels, choices)
        out.append(choices)
    return out, fallbacks


def raise_ambiguous(tok, labels, choices):
    from amuro.errors import AmuroError

    raise AmuroError(f"labels {list(labels)} share a first subtoken under tokenizer "
                     f"{getattr(tok, 'name_or_path', tok)!r} ({choices}); TokenProb cannot tell them apart")


def paper_candidates(tok, labels: Sequence[str]) -> list[tuple[int, int]]:
    """The authors' lenient candidates (docs/study.md §3): every subtoken id, special tokens included, of
    each label and of each label with a leading space, in the order [labels..., " "+labels...]. Returns
    (token id, label index) pairs in that order; the first pair holding the highest logit wins."""
    words = list(labels) + [" " + w for w in labels]
    return [(i, k % len(labels)) for k, w in enumerate(words) for i in tok(w)["input_ids"]]


@functools.lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(reference: str, prediction: str) -> float:
    """Rouge-L F-measure, rouge-score defaults (no stemming), as the authors' `evaluate.load('rouge')`."""
    return _rouge_scorer().score(reference, prediction)["rougeL"].fmeasure
