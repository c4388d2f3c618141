"""Few-shot demonstrations through real lm-eval: the authors' join in paper mode."""

import json

import pytest

from conftest import FIXTURES, evaluate

# The authors' io templates and completions (docs/study.md §2), written here from the raw HF columns.
AUTHORS_IO = {
    "xsum": ("xsum", lambda r: r["document"], lambda r: r["summary"]),
    "xlsum": ("xlsum", lambda r: r["text"], lambda r: r["summary"]),
    "socialiqa": ("socialiqa", lambda r: r["context"] + r["answerA"] + r["answerB"] + r["answerC"],
                  lambda r: r["question"]),
    "mnli": ("mnli", lambda r: f"{r['premise']} {r['hypothesis']}",
             lambda r: ["entailment", "neutral", "contradiction"][r["label"]]),
    "mnli_mm": ("mnli_mm", lambda r: f"{r['premise']} {r['hypothesis']}",
                lambda r: ["entailment", "neutral", "contradiction"][r["label"]]),
    "paws": ("paws", lambda r: f"{r['sentence1']} {r['sentence2']}", lambda r: "yes" if r["label"] == 1 else "no"),
}
EVAL_SPLITS = {"xsum": "test", "xlsum": "test", "socialiqa": "validation", "mnli": "validation_matched",
               "mnli_mm": "validation_mismatched", "paws": "test"}


def _rows(set_name):
    path = FIXTURES / set_name / f"{EVAL_SPLITS[set_name]}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_paper_mode_io_context_is_the_authors_join_for_all_six_io_tasks(tiny_bpe):
    tasks = [f"amuro_{s}_io" for s in AUTHORS_IO]
    samples = evaluate(tiny_bpe, tasks, num_fewshot=2, limit=3, metadata={"amuro_fewshot": "paper"})["samples"]
    for set_name, (_, prompt, completion) in AUTHORS_IO.items():
        rows = _rows(set_name)
        prefix = "".join(prompt(r) + completion(r) + "\n" for r in rows[:2])  # no delimiter before the completion
        got = [s["arguments"][0][0] for s in samples[f"amuro_{set_name}_io"]]
        print(f"--- amuro_{set_name}_io, document 0 ---\n{got[0]}")
        assert got == [prefix + prompt(r) for r in rows[:3]]


def _read(set_name, split):
    path = FIXTURES / set_name / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _demo_prefixes(samples):
    return [s["arguments"][0][0][:-len(s["doc"]["amuro_prompt"])] for s in samples]


@pytest.mark.parametrize("task", ["amuro_mnli_default", "amuro_arc_easy_harness", "amuro_socialiqa_io"])
def test_shared_mode_is_the_default_one_seeded_draw_from_the_demonstration_split(tiny_bpe, task):
    from amuro.tasks.registry import get_set, parse_task_name
    from amuro.tasks.templates import render

    set_name, fmt = parse_task_name(task)
    ts = get_set(set_name)
    demo_prompts = {render(set_name, fmt, r).prompt for r in _read(set_name, ts.fewshot_split)}
    scored_prompts = {render(set_name, fmt, r).prompt for r in _read(set_name, ts.eval_split)}
    draws = []
    for seed in (1234, 42):
        samples = evaluate(tiny_bpe, [task], num_fewshot=3, limit=6, fewshot_random_seed=seed)["samples"][task]
        prefixes = _demo_prefixes(samples)
        assert len(set(prefixes)) == 1 and len(prefixes) == 6  # one draw, every document
        shown = [p for p in demo_prompts if p in prefixes[0]]
        assert len(shown) == 3 and not any(p in prefixes[0] for p in scored_prompts - demo_prompts)
        draws.append(prefixes[0])
    assert draws[0] != draws[1]  # --fewshot_random_seed chooses the draw


def test_shared_mode_on_a_single_split_set_never_shows_a_document_itself(tiny_bpe):
    samples = evaluate(tiny_bpe, ["amuro_gpt3nli_io"], num_fewshot=3, limit=12)["samples"]["amuro_gpt3nli_io"]
    prefixes = _demo_prefixes(samples)
    for s, prefix in zip(samples, prefixes):
        assert s["doc"]["amuro_prompt"] not in prefix and prefix.count("\n") == 3
    assert max(prefixes.count(p) for p in prefixes) >= 12 - 3  # all but the drawn rows share the one draw
