import pytest

from amuro.errors import AmuroError
from amuro.tasks.registry import (CLASSIFICATION, FORMATS, GENERATION, HARNESS, MULTIPLE_CHOICE, SETS, TRAINING_SETS,
                                  check_format, get_set, parse_task_name, task_kind, task_name)


def test_nineteen_sets_eighteen_datasets():
    assert list(SETS) == ["xsum", "xlsum", "cnn", "socialiqa", "tweetqa", "sciq_qg", "mnli", "mnli_mm", "rte",
                          "gpt3nli", "paws", "qqp", "stsb", "arc_easy", "arc_challenge", "openbookqa", "hellaswag",
                          "boolq", "sciq_mc"]
    # The paper's 18 datasets: SciQ serves two sets (question generation and multiple choice), and MNLI's
    # matched and mismatched halves count as two datasets although they are one HF config.
    assert len({(s.hf_path, s.hf_name) for s in SETS.values()}) == 17
    assert get_set("sciq_qg").hf_path == get_set("sciq_mc").hf_path == "allenai/sciq"


def test_kinds_and_metrics():
    cls = {n for n, s in SETS.items() if s.kind == CLASSIFICATION}
    assert cls == {"mnli", "mnli_mm", "rte", "gpt3nli", "paws", "qqp", "stsb", "boolq"}
    assert {n for n, s in SETS.items() if s.kind == MULTIPLE_CHOICE} == {
        "arc_easy", "arc_challenge", "openbookqa", "hellaswag", "sciq_mc"}
    assert {n for n, s in SETS.items() if s.kind == GENERATION} == {
        "xsum", "xlsum", "cnn", "socialiqa", "tweetqa", "sciq_qg"}
    assert get_set("mnli").metrics == ("acc",) and get_set("arc_easy").metrics == ("acc", "acc_norm")
    assert get_set("xsum").metrics == ("rougeL",)


def test_training_sets_and_roles():
    assert {n for n, s in SETS.items() if s.train_split} == set(TRAINING_SETS)
    for train in TRAINING_SETS:
        assert train in get_set(train).in_domain_for
    assert get_set("xlsum").in_domain_for == ("xsum",) and get_set("cnn").ood_for == ("xsum",)
    assert {n for n, s in SETS.items() if "mnli" in s.ood_for} == {"rte", "gpt3nli"}
    assert {n for n, s in SETS.items() if "paws" in s.ood_for} == {"qqp", "stsb"}
    assert {n for n, s in SETS.items() if "socialiqa" in s.ood_for} == {"tweetqa", "sciq_qg"}


def test_labelled_splits_fix_the_reference_defects():
    assert (get_set("qqp").hf_path, get_set("qqp").eval_split) == ("nyu-mll/glue", "validation")
    assert (get_set("stsb").hf_path, get_set("stsb").eval_split) == ("nyu-mll/glue", "validation")


def test_demonstrations_never_come_from_the_scored_split_except_single_split_gpt3nli():
    same = {n for n, s in SETS.items() if s.fewshot_split == s.eval_split}
    assert same == {"gpt3nli"}


def test_task_names_round_trip():
    names = [task_name(s, f) for s in SETS for f in FORMATS]
    assert len(names) == 57 and "amuro_mnli_instruct" in names and "amuro_mnli_mm_io" in names
    assert all(parse_task_name(n) == (n[6:].rsplit("_", 1)[0], n.rsplit("_", 1)[1]) for n in names)
    harness = [task_name(s, HARNESS) for s, ts in SETS.items() if ts.harness]
    assert len(harness) == 6 and all(parse_task_name(n) == (n[6:-8], HARNESS) for n in harness)


def test_the_harness_format_belongs_to_the_six_instruction_tuning_sets():
    assert {s for s, ts in SETS.items() if HARNESS in ts.formats} == {s for s, ts in SETS.items()
                                                                      if "tulu" in ts.in_domain_for}
    assert check_format(HARNESS) == HARNESS and check_format(HARNESS, "boolq") == HARNESS
    assert task_kind("boolq", HARNESS) == MULTIPLE_CHOICE and task_kind("boolq", "default") == CLASSIFICATION
    with pytest.raises(AmuroError, match="set 'mnli' has no 'harness' format"):
        task_name("mnli", HARNESS)
    with pytest.raises(AmuroError, match="not an amuro task name"):
        parse_task_name("amuro_mnli_harness")


@pytest.mark.parametrize("call", [lambda: get_set("squad"), lambda: task_name("mnli", "chat"),
                                  lambda: parse_task_name("amuro_mnli_chat")])
def test_unknown_names_are_one_line_errors(call):
    with pytest.raises(AmuroError) as e:
        call()
    assert "\n" not in str(e.value)
