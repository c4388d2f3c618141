"""Independent reference computations the tests compare amuro and lm-eval against.

Each oracle is written from the definition of what it computes (Rouge-L from the LCS of rouge-score's tokens,
TokenProb and multiple-choice log-likelihoods from one transformers forward pass, greedy decoding from
`model.generate`), never by calling the amuro code it checks.
"""

from __future__ import annotations

import re

import numpy as np


# --- Rouge-L ---------------------------------------------------------------------------------------------------

def rouge_tokens(text: str) -> list[str]:
    """rouge-score's tokenizer without a stemmer: lowercase, every run of characters other than a-z0-9 is a
    separator (so `café` -> `caf`, `don't` -> `don t`)."""
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence, by the textbook dynamic programme."""
    previous = [0] * (len(b) + 1)
    for x in a:
        row = [0]
        for j, y in enumerate(b):
            row.append(previous[j] + 1 if x == y else max(previous[j + 1], row[j]))
        previous = row
    return previous[-1]


def rouge_l_f(reference: str, prediction: str) -> float:
    """Rouge-L F-measure: 2PR / (P + R) with P = LCS / |prediction|, R = LCS / |reference|; 0 when either side
    has no token or nothing is in common."""
    ref, pred = rouge_tokens(reference), rouge_tokens(prediction)
    lcs = lcs_length(ref, pred)
    if lcs == 0:
        return 0.0
    p, r = lcs / len(pred), lcs / len(ref)
    return 2 * p * r / (p + r)


# --- log-likelihoods on a transformers model ----------------------------------------------------------------------

def last_log_probs(model, ids: list[int]):
    """Log-softmax of the logits at the last position of `ids`."""
    import torch

    with torch.no_grad():
        return torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].float(), -1)


def split_context(tok, context: str, continuation: str, **encode) -> tuple[list[int], list[int]]:
    """Token ids of `context` and of `continuation` after it. The context's trailing whitespace belongs to the
    continuation (BPE tokenizers write `Ġword`): the continuation's ids are those of `context + continuation`
    past the ids of the stripped context. `encode`: tokenizer arguments (add_special_tokens)."""
    ctx = context.rstrip()
    ctx_ids = tok(ctx, **encode)["input_ids"]
    whole = tok(context + continuation, **encode)["input_ids"]
    assert whole[:len(ctx_ids)] == ctx_ids, "the context's tokens change when the continuation is appended"
    return ctx_ids, whole[len(ctx_ids):]


def continuation_log_prob(model, tok, context: str, continuation: str, max_length: int | None = None) -> float:
    """log P(continuation | context): the sum of the log-probabilities of the continuation's tokens, read from one
    forward pass over context + continuation (the last `max_length + 1` tokens of it, when given)."""
    import torch

    ctx_ids, cont_ids = split_context(tok, context, continuation)
    ids = (ctx_ids + cont_ids)
    if max_length is not None:
        ids = ids[-(max_length + 1):]
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids[:-1]])).logits[0].float(), -1)
    positions = range(len(ids) - 1 - len(cont_ids), len(ids) - 1)
    return float(sum(logp[p, t] for p, t in zip(positions, cont_ids)))


def first_token_log_prob(model, tok, context: str, continuation: str, max_length: int | None = None,
                         **encode) -> float:
    """log P(first token of the continuation | context), the context cut to its last `max_length` tokens."""
    ctx_ids, cont_ids = split_context(tok, context, continuation, **encode)
    ids = ctx_ids if max_length is None else ctx_ids[-max_length:]
    return float(last_log_probs(model, ids)[cont_ids[0]])


def tokenprob(model, tok, context: str, labels, delimiter: str, **encode) -> list[float]:
    """TokenProb: the log-probability of each label's first subtoken right after the prompt (whose trailing
    whitespace belongs to that subtoken under these tokenizers)."""
    return [first_token_log_prob(model, tok, context, delimiter + w, **encode) for w in labels]


def is_first_subtoken(tok, prompt: str, label: str, choice: str, delimiter: str, **encode) -> bool:
    """Whether `choice`, written after the prompt, is exactly the first token of `label` written there."""
    ctx_ids, label_ids = split_context(tok, prompt, delimiter + label, **encode)
    return split_context(tok, prompt, delimiter + choice, **encode)[1] == label_ids[:1]


def multiple_choice(model, tok, context: str, choices, delimiter: str) -> tuple[int, int]:
    """(argmax of the summed log-likelihoods, argmax of them divided by each choice's length in characters):
    the predictions behind lm-eval's `acc` and `acc_norm`."""
    lls = np.array([continuation_log_prob(model, tok, context, delimiter + c) for c in choices])
    return int(np.argmax(lls)), int(np.argmax(lls / np.array([len(c) for c in choices], dtype=float)))


def greedy(model, tok, context: str, stop: list[str], max_new_tokens: int = 60) -> str:
    """Greedy decoding with `model.generate`, the text cut at the first stop string."""
    import torch

    ids = tok(context, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    text = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    for s in stop:
        text = text.split(s)[0]
    return text


# --- the authors' lenient TokenProb rule ------------------------------------------------------------------------

PRIORITY = {("entailment", "neutral", "contradiction"): ("contradiction", "neutral", "entailment"),
            ("yes", "no"): ("no", "yes")}


def authors_prediction(model, tok, prompt: str, labels) -> int:
    """The authors' rule, written from its description: softmax at the last prompt position over the whole
    vocabulary, argmax among every subtoken id of the bare and space-prefixed label words (special tokens
    included), the owning word mapped back to a label by their substring test in priority order (labels they never
    used: the owning word's own label)."""
    import torch

    words = list(labels) + [" " + w for w in labels]
    ids, owners = [], []
    for w in words:
        pieces = tok(w).input_ids
        ids += pieces
        owners += [w] * len(pieces)
    enc = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        probs = model(**enc).logits[0, -1].softmax(-1)
    word = owners[int(torch.argmax(probs[ids]))]
    if tuple(labels) not in PRIORITY:  # labels of our own: the word itself
        return list(labels).index(word[1:] if word.startswith(" ") else word)
    for label in PRIORITY[tuple(labels)]:
        if label in word:
            return list(labels).index(label)
    return -1


# --- catwalk v1.0.0rc0 (the paper's scorer of the instruction-tuning sets), from its definitions ------------------

def catwalk_prompt(set_name: str, row: dict) -> tuple[str, list[str], int]:
    """The zero-shot context, the answer options and the gold index of a row in catwalk's bundled lm-eval tasks
    (catwalk/dependencies/lm_eval/tasks/{arc,openbookqa,hellaswag,sciq,superglue}.py)."""
    import re

    def hellaswag(text):
        text = text.strip().replace(" [title]", ". ")
        return re.sub("\\[.*?\\]", "", text).replace("  ", " ")

    if set_name in ("arc_easy", "arc_challenge"):
        key = {"1": "A", "2": "B", "3": "C", "4": "D", "5": "E"}.get(row["answerKey"], row["answerKey"])
        return "Question: " + row["question"] + "\nAnswer:", row["choices"]["text"], "ABCDE".index(key)
    if set_name == "openbookqa":
        return row["question_stem"], row["choices"]["text"], "ABCD".index(row["answerKey"].strip())
    if set_name == "hellaswag":
        ctx = row["ctx_a"] + " " + row["ctx_b"].capitalize()
        return hellaswag(row["activity_label"] + ": " + ctx), [hellaswag(e) for e in row["endings"]], int(row["label"])
    if set_name == "sciq_mc":
        options = [row["distractor1"], row["distractor2"], row["distractor3"], row["correct_answer"]]
        return "{}\nQuestion: {}\nAnswer:".format(row["support"], row["question"]).strip(), options, 3
    if set_name == "boolq":  # super_glue's label: 1 = yes; options reordered to ["no", "yes"]
        return f"{row['passage']}\nQuestion: {row['question']}?\nAnswer:", ["no", "yes"], int(row["answer"])
    raise KeyError(set_name)


def catwalk_context(set_name: str, scored: list[dict], pool: list[dict], i: int, k: int) -> str:
    """The context catwalk builds for document i of the scored split at k shots: Random(i).sample(pool, k + 1), the
    document itself dropped, the first k, each written `context.strip() + " " + answer.strip() + "\\n\\n"`, then the
    document's zero-shot context."""
    import random

    doc = scored[i]
    drawn = [r for r in random.Random(i).sample(pool, k + 1) if r != doc][:k]
    prefix = ""
    for row in drawn:
        context, options, gold = catwalk_prompt(set_name, row)
        prefix += f"{context.strip()} {(' ' + options[gold]).strip()}\n\n"
    return prefix + catwalk_prompt(set_name, doc)[0]


def catwalk_loglikelihood(model, tok, context: str, continuation: str) -> tuple[float, int]:
    """catwalk's (summed log-probability, token count) of `continuation` after `context`: each tokenized alone
    without special tokens, the pair run through the model once."""
    import torch

    ctx = tok(context, add_special_tokens=False)["input_ids"] or [tok.eos_token_id]
    cont = tok(continuation, add_special_tokens=False)["input_ids"]
    ids = ctx + cont
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids[:-1]])).logits[0].float(), -1)
    return float(sum(logp[len(ctx) - 1 + j, t] for j, t in enumerate(cont))), len(cont)
