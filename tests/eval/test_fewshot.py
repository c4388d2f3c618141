"""Few-shot demonstrations through real lm-eval: the authors' join in paper mode."""

import json

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
