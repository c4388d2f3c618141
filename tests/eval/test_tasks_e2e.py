"""All 63 tasks (57 + 6 harness) through real lm-eval on the tiny model, each of the 57 scored checked against an
independent computation on the same model (tests/oracles.py), and the groups that aggregate them."""

import math

import numpy as np
import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

import oracles
from amuro.tasks.registry import CLASSIFICATION, FORMATS, GENERATION, MULTIPLE_CHOICE, SETS
from amuro.tasks.templates import stop_sequences, target_delimiter

from conftest import FIXTURES, evaluate

# The gold answer of a row, read from the dataset's own columns (the cards in /work/shared/study/DATASETS.md),
# not from amuro's rendering: a generation target, or the indices of the choices scored correct.
GEN_TARGET = {"xsum": "summary", "xlsum": "summary", "cnn": "highlights", "socialiqa": "question",
              "tweetqa": "Question", "sciq_qg": "question"}
NLI, YES_NO = ("entailment", "neutral", "contradiction"), ("yes", "no")


def gold(name: str, doc: dict) -> set[int]:
    if name in ("mnli", "mnli_mm", "gpt3nli"):
        return {doc["label"]}  # 0 entailment, 1 neutral, 2 contradiction
    if name == "rte":
        return {0} if doc["label"] == 0 else {1, 2}  # not_entailment: neutral or contradiction
    if name in ("paws", "qqp"):
        return {0 if doc["label"] == 1 else 1}  # 1 = paraphrase / duplicate -> "yes"
    if name == "stsb":
        return {0 if doc["label"] > 3.5 else 1}
    if name == "boolq":
        return {0 if doc["answer"] else 1}
    if name in ("arc_easy", "arc_challenge", "openbookqa"):
        return {doc["choices"]["label"].index(doc["answerKey"].strip())}
    if name == "hellaswag":
        return {int(doc["label"])}
    if name == "sciq_mc":
        return {3}  # lm-eval's order: distractor1-3, then the correct answer
    raise KeyError(name)


def load(path):
    import torch

    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), AutoTokenizer.from_pretrained(path)


def expected_scores(model, tok, name: str, fmt: str, samples: list[dict]) -> dict[str, list[float]]:
    """Per-document scores of one task, from the model directly: TokenProb, summed log-likelihood (raw and
    divided by the choice's length) or greedy decoding scored by Rouge-L F."""
    ts, delimiter = SETS[name], target_delimiter(name, fmt)
    out = {m: [] for m in ts.metrics}
    for s in samples:
        doc, context = s["doc"], s["arguments"][0][0]
        assert context.endswith(doc["amuro_prompt"])
        if ts.kind == GENERATION:
            response = oracles.greedy(model, tok, context, stop_sequences(name, fmt))
            assert s["filtered_resps"][0] == response, (name, fmt)
            out["rougeL"].append(oracles.rouge_l_f(doc[GEN_TARGET[name]], response))
        elif ts.kind == CLASSIFICATION:
            assert tuple(doc["amuro_choices"]) == (NLI if ts.family == "nli" else YES_NO)
            lls = oracles.tokenprob(model, tok, context, doc["amuro_choices"], delimiter)
            out["acc"].append(float(int(np.argmax(lls)) in gold(name, doc)))
        else:
            assert [c for _, c in s["arguments"]] == [delimiter + c for c in doc["amuro_choices"]]
            pred, pred_norm = oracles.multiple_choice(model, tok, context, doc["amuro_choices"], delimiter)
            out["acc"].append(float(pred in gold(name, doc)))
            out["acc_norm"].append(float(pred_norm in gold(name, doc)))
    return out


@pytest.mark.slow
def test_all_63_tasks_score_what_the_model_gives_and_aggregate(tiny_bpe):
    out = evaluate(tiny_bpe, ["amuro", "amuro_harness"], num_fewshot=2, limit=3)
    results, samples = out["results"], out["samples"]
    model, tok = load(tiny_bpe)
    seen = {"acc": set()}
    for name in SETS:
        for fmt in FORMATS:
            task = f"amuro_{name}_{fmt}"
            assert len(samples[task]) == 3
            for metric, values in expected_scores(model, tok, name, fmt, samples[task]).items():
                assert results[task][f"{metric},none"] == pytest.approx(np.mean(values), abs=1e-9), (task, metric)
                if metric != "rougeL":
                    seen["acc"] |= set(values)
    for name, ts in SETS.items():  # the harness prompts (lm-eval's own tasks' rendering), in range
        for fmt in set(ts.formats) - set(FORMATS):
            for metric in ts.metrics:
                value = results[f"amuro_{name}_{fmt}"][f"{metric},none"]
                assert 0.0 <= value <= 1.0 and not math.isnan(value), (name, fmt, metric)
    assert seen["acc"] == {0.0, 1.0}  # both outcomes occur: the checks above are not all trivially equal
    assert "acc,none" in results["amuro_cls"] and "rougeL,none" in results["amuro_gen"]
    assert "rougeL,none" not in results["amuro_cls"] and "acc,none" not in results["amuro_gen"]
    # A group is the unweighted mean of its members.
    for group, kinds in (("amuro_gen", (GENERATION,)), ("amuro_cls", (CLASSIFICATION, MULTIPLE_CHOICE))):
        metric = "rougeL" if group == "amuro_gen" else "acc"
        members = [f"amuro_{s}_{f}" for s, ts in SETS.items() if ts.kind in kinds for f in FORMATS]
        assert results[group][f"{metric},none"] == pytest.approx(
            np.mean([results[t][f"{metric},none"] for t in members]))


def test_generation_is_greedy_bounded_and_scored_by_rouge_l_f(tiny_bpe, tmp_path, monkeypatch):
    """The random tiny model repeats one token, so the references are built around what it generates (greedy, by
    the oracle): partial overlaps make Rouge-L F differ from its precision and recall."""
    import json
    import shutil

    from amuro.tasks.data import load_split
    from amuro.tasks.templates import render

    model, tok = load(tiny_bpe)
    rows = load_split("socialiqa", "validation")[:4]
    predictions = [oracles.greedy(model, tok, render("socialiqa", "io", r).prompt, ["\n"]) for r in rows]
    suffixes = [" and what is this", "", " why", None]  # None: a reference with nothing in common
    for row, pred, suffix in zip(rows, predictions, suffixes):
        row["question"] = "Who went to the market?" if suffix is None else pred + suffix
    data = tmp_path / "data"
    (data / "socialiqa").mkdir(parents=True)
    (data / "socialiqa" / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    shutil.copy(FIXTURES / "socialiqa" / "train.jsonl", data / "socialiqa" / "train.jsonl")
    shutil.copytree(FIXTURES / "xsum", data / "xsum")
    monkeypatch.setenv("AMURO_DATA_DIR", str(data))

    out = evaluate(tiny_bpe, ["amuro_xsum_default", "amuro_socialiqa_io"], limit=4)
    config = out["configs"]["amuro_xsum_default"]["generation_kwargs"]
    assert config["max_gen_toks"] == 60 and config["do_sample"] is False and config["until"] == ["\n### Input:"]
    assert out["configs"]["amuro_socialiqa_io"]["generation_kwargs"]["until"] == ["\n"]
    for task, name, fmt in (("amuro_xsum_default", "xsum", "default"), ("amuro_socialiqa_io", "socialiqa", "io")):
        samples = out["samples"][task]
        scores = expected_scores(model, tok, name, fmt, samples)["rougeL"]
        assert [s["rougeL"] for s in samples] == pytest.approx(scores, abs=1e-12)
        assert out["results"][task]["rougeL,none"] == pytest.approx(np.mean(scores))
    assert [s["filtered_resps"][0] for s in out["samples"]["amuro_socialiqa_io"]] == predictions
    # Partial overlaps (neither precision nor recall), a perfect match and no overlap
    f = [s["rougeL"] for s in out["samples"]["amuro_socialiqa_io"]]
    assert 0 < f[0] < f[2] < f[1] == 1.0 and f[3] == 0.0


def test_rte_counts_neutral_and_contradiction_as_not_entailment(tiny_bpe):
    samples = evaluate(tiny_bpe, ["amuro_rte_default"], limit=12)["samples"]["amuro_rte_default"]
    for s in samples:
        pred = max(range(3), key=lambda i: float(s["filtered_resps"][i][0]))
        assert s["acc"] == float(pred in gold("rte", s["doc"]))
    assert {s["doc"]["label"] for s in samples} == {0, 1}
