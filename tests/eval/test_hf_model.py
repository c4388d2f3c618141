"""`--model amuro-hf`: each `tokenprob=` mode through real lm-eval, on amuro tasks and on a plain lm-eval task of
our own (a local JSON dataset), checked per choice against log-probabilities read from the model directly."""

import json
import shutil

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import oracles

TOY_TASK = """\
task: toy_choice
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{answer}}}}"
target_delimiter: " "
metric_list:
  - metric: acc
"""
TOY_DOCS = [
    {"question": "Which of these is red?", "choices": ["the red apple", "a blue car", "green grass"], "answer": 0},
    {"question": "What did the dog find?", "choices": ["a bone in the garden", "the sun", "water"], "answer": 0},
    {"question": "Where is the river?", "choices": ["near the school", "after lunch", "the old market"], "answer": 2},
]


def toy_task(folder, docs=TOY_DOCS):
    """A plain lm-eval multiple-choice task (no amuro hooks) over a local JSONL file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "toy.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / "toy_choice.yaml").write_text(TOY_TASK.format(data=folder / "toy.jsonl"))
    return folder


def run(model_path, tasks, model_args=None, include=None, **kwargs):
    import lm_eval

    import amuro

    args = {"pretrained": str(model_path), "dtype": "float32", **(model_args or {})}
    manager = amuro.task_manager(include_path=include, include_defaults=False, metadata=args)
    return lm_eval.simple_evaluate(model="amuro-hf", model_args=args, tasks=tasks, task_manager=manager, device="cpu",
                                   batch_size=4, log_samples=True, **kwargs)


def load(path):
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), AutoTokenizer.from_pretrained(path)


def per_choice(samples):
    """(context, continuations, log-likelihoods) of each document, as lm-eval ran them."""
    for s in samples:
        yield s["arguments"][0][0], [c for _, c in s["arguments"]], [float(ll) for ll, _ in s["filtered_resps"]]


@pytest.mark.parametrize("mode", ["first", "off"])
def test_first_and_off_on_multiple_choice_amuro_and_plain_tasks(mode, tiny_bpe, tmp_path):
    model, tok = load(tiny_bpe)
    out = run(tiny_bpe, ["amuro_arc_easy_default", "toy_choice"], {"tokenprob": mode}, include=toy_task(tmp_path),
              limit=4)
    multi_token = 0
    for task in ("amuro_arc_easy_default", "toy_choice"):
        # `first` cuts another task's options to their first token; amuro's multiple-choice sets keep whole options
        cut = mode == "first" and not task.startswith("amuro")
        reference = oracles.first_token_log_prob if cut else oracles.continuation_log_prob
        samples = out["samples"][task]
        assert len(samples) == (4 if task.startswith("amuro") else 3)
        for context, continuations, lls in per_choice(samples):
            expected = [reference(model, tok, context, c) for c in continuations]
            np.testing.assert_allclose(lls, expected, atol=1e-4)
            multi_token += sum(len(oracles.split_context(tok, context, c)[1]) > 1 for c in continuations)
        expected_acc = np.mean([int(np.argmax(lls)) == s["doc"][key] for s, (_, _, lls) in
                                zip(samples, per_choice(samples))
                                for key in (["answer"] if task == "toy_choice" else ["amuro_label"])])
        assert out["results"][task]["acc,none"] == pytest.approx(expected_acc)
    assert multi_token >= 10  # the two modes differ on these choices


@pytest.mark.parametrize("shots,fewshot", [(0, "random"), (4, "paper")])
def test_first_reads_the_last_max_length_tokens_of_a_long_context(shots, fewshot, tiny_bpe):
    model, tok = load(tiny_bpe)
    out = run(tiny_bpe, ["amuro_mnli_default"], {"max_length": 24}, num_fewshot=shots, limit=6,
              metadata={"amuro_fewshot": fewshot})
    truncated = 0
    for context, continuations, lls in per_choice(out["samples"]["amuro_mnli_default"]):
        assert len(oracles.split_context(tok, context, continuations[0])[0]) > 24
        expected = [oracles.first_token_log_prob(model, tok, context, c, max_length=24) for c in continuations]
        np.testing.assert_allclose(lls, expected, atol=1e-4)
        whole = [oracles.first_token_log_prob(model, tok, context, c) for c in continuations]
        truncated += not np.allclose(lls, whole, atol=1e-4)
    assert truncated == 6  # the cut is what made these scores


def test_paper_rule_reads_the_last_max_length_tokens_of_a_long_context_and_shares_no_prefix(tiny_bpe, monkeypatch):
    """long_prompts=left: the lenient rule reads the logits after the context's last 24 tokens; the cut contexts
    (each cut at a different place in the same demonstrations) run alone, batched."""
    from amuro.eval import hf_model
    from amuro.eval.scoring import paper_candidates

    prefixes = []
    original = hf_model.continuation_scores
    monkeypatch.setattr(hf_model, "continuation_scores",
                        lambda model, prefix, rows, *a: prefixes.append(len(prefix)) or original(model, prefix, rows, *a))
    model, tok = load(tiny_bpe)
    out = run(tiny_bpe, ["amuro_mnli_default"], {"max_length": 24, "tokenprob": "paper"}, num_fewshot=4, limit=6,
              metadata={"amuro_fewshot": "paper"})
    for s in out["samples"]["amuro_mnli_default"]:
        ids = tok(s["arguments"][0][0])["input_ids"]
        assert len(ids) > 24
        logprobs = oracles.last_log_probs(model, ids[-24:])
        pairs = paper_candidates(tok, s["doc"]["amuro_choices"])
        expected = [max(float(logprobs[t]) for t, k in pairs if k == label) for label in range(3)]
        np.testing.assert_allclose([float(ll) for ll, _ in s["filtered_resps"]], expected, atol=1e-4)
    assert prefixes == [0]  # one batched pass of whole (cut) contexts, no shared prefix


def test_paper_rule_breaks_a_tie_by_candidate_order_not_label_order(tiny_bpe, tmp_path):
    """Labels "no" and "x no": the token "Ġno" is a candidate of both, first as part of the bare "x no" (label 1),
    later as " no" (label 0). A model whose top logit is "Ġno" ties the two labels; the authors' argmax over their
    candidate list takes the first position holding the maximum, i.e. label 1."""
    path = tmp_path / "model"
    shutil.copytree(tiny_bpe, path)
    model, tok = load(path)
    labels, question = ["no", "x no"], "Is the lamp on the table?"
    assert tok.convert_ids_to_tokens(tok(" no")["input_ids"]) == ["Ġno"]
    [t] = tok(" no")["input_ids"]
    assert t in tok("x no")["input_ids"] and t not in tok("no")["input_ids"] and t not in tok(question)["input_ids"]
    with torch.no_grad():  # make "Ġno" the most likely next token after this question (tied embeddings)
        hidden = model(**tok(question, return_tensors="pt"), output_hidden_states=True).hidden_states[-1][0, -1]
        model.get_output_embeddings().weight[t] = 50 * hidden / hidden.norm()
    model.save_pretrained(path)
    assert int(oracles.last_log_probs(model, tok(question)["input_ids"]).argmax()) == t

    docs = [{"question": question, "choices": labels, "answer": 0}]
    out = run(path, ["toy_choice"], {"tokenprob": "paper"}, include=toy_task(tmp_path / "task", docs))
    [(_, _, lls)] = per_choice(out["samples"]["toy_choice"])
    assert int(np.argmax(lls)) == 1 == oracles.authors_prediction(model, tok, question, labels)
    assert 0 < lls[1] - lls[0] < 1e-6  # a tie, broken the authors' way
    assert out["results"]["toy_choice"]["acc,none"] == 0.0
