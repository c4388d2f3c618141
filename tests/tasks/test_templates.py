"""Prompt formats and label mapping, checked against the authors' strings (docs/study.md §2)."""

import pytest

from amuro.errors import AmuroError
from amuro.tasks.registry import FORMATS, SETS
from amuro.tasks.templates import render, stop_sequences, target_delimiter

MNLI = {"premise": "P.", "hypothesis": "H.", "label": 2, "idx": 0}
PAIR = {"sentence1": "S1.", "sentence2": "S2.", "label": 1, "idx": 0}


def test_authors_default_format_strings():
    assert render("mnli", "default", MNLI).prompt == "### Input_1: P.\n ### Input_2: H.\n ### Inference: "
    assert render("paws", "default", {**PAIR, "id": 1}).prompt == \
        "### Input_1: S1.\n ### Input_2: S2.\n ### Paraphrase Classification: "
    assert render("xsum", "default", {"document": "D.", "summary": "S.", "id": "1"}).prompt == \
        "### Input: D.\n ### Summary: "
    siqa = {"context": "C.", "question": "Q?", "answerA": "a", "answerB": "b", "answerC": "c", "label": "1"}
    assert render("socialiqa", "default", siqa).prompt == \
        "### Input: C.\n ### Answer: Answer A: a Answer B: bAnswer C: c\n ### Question: "
    tweet = {"Question": "Q?", "Answer": ["ans", "other"], "Tweet": "T #x", "qid": "1"}
    assert render("tweetqa", "default", tweet).prompt == "### Input: T #x\n ### Answer: ans\n ### Question: "
    assert render("tweetqa", "default", tweet).target == "Q?"


def test_authors_instruct_and_io_strings():
    assert render("mnli", "instruct", MNLI).prompt == \
        "Consider the following texts: Text 1: P. Text 2: H. The relation is "
    assert render("qqp", "instruct", {"question1": "A?", "question2": "B?", "label": 0, "idx": 0}).prompt == \
        "Let\u2019s compare the two sentences: Sentence_1: A? Sentence_2: B? Are they paraphrasing?: "
    assert render("cnn", "instruct", {"article": "A.", "highlights": "H1\nH2", "id": "x"}).prompt == \
        "Please read the following text: A. Provide a summary: "
    sciq = {"question": "Q?", "distractor3": "d3", "distractor1": "d1", "distractor2": "d2",
            "correct_answer": "ok", "support": "S."}
    assert render("sciq_qg", "instruct", sciq).prompt == ("Given the context: S. And the answer: Answer A: ok "
                                                          "Answer B: d1Answer C: d2Answer D: d3Generate a suitable question: ")
    assert render("mnli", "io", MNLI).prompt == "P. H."
    siqa = {"context": "C.", "question": "Q?", "answerA": "a", "answerB": "b", "answerC": "c", "label": "1"}
    assert render("socialiqa", "io", siqa).prompt == "C.abc"


def test_target_delimiter_follows_the_trailing_space():
    for name in SETS:
        assert target_delimiter(name, "default") == "" and target_delimiter(name, "instruct") == ""
        assert target_delimiter(name, "io") == " "


def test_generation_stops_where_the_next_demonstration_begins():
    assert stop_sequences("xsum", "default") == ["\n### Input:"]
    assert stop_sequences("socialiqa", "instruct") == ["\nGiven the context:"]
    assert stop_sequences("xsum", "io") == ["\n"]


@pytest.mark.parametrize("label,gold", [(0, (0,)), (1, (1, 2))])
def test_rte_is_scored_two_way(label, gold):
    ex = render("rte", "default", {**PAIR, "label": label})
    assert ex.choices == ("entailment", "neutral", "contradiction") and ex.gold == gold
    assert ex.target == ("entailment" if label == 0 else "neutral")  # the authors' word for not_entailment


@pytest.mark.parametrize("score,word", [(5.0, "yes"), (3.6, "yes"), (3.5, "no"), (0.0, "no")])
def test_stsb_is_binarised_above_three_and_a_half(score, word):
    ex = render("stsb", "default", {**PAIR, "label": score})
    assert ex.choices == ("yes", "no") and ex.target == word and ex.gold == (ex.choices.index(word),)


@pytest.mark.parametrize("name,row", [
    ("qqp", {"question1": "A?", "question2": "B?", "idx": 0}),
    ("paws", {"sentence1": "A", "sentence2": "B", "id": 0}),
])
def test_paraphrase_label_one_is_yes(name, row):
    assert render(name, "io", {**row, "label": 1}).target == "yes"
    assert render(name, "io", {**row, "label": 0}).target == "no"


def test_boolq_answer_and_nli_labels():
    boolq = {"question": "is it", "passage": "P.", "answer": True}
    assert render("boolq", "default", boolq).target == "yes"
    assert render("boolq", "io", {**boolq, "answer": False}).prompt == "P. is it?"
    assert [render("gpt3nli", "io", {"text_a": "a", "text_b": "b", "label": i, "guid": 0}).target
            for i in range(3)] == ["entailment", "neutral", "contradiction"]


def test_multiple_choice_options():
    arc = {"id": "1", "question": "Q?", "choices": {"text": ["w", "x", "y"], "label": ["1", "2", "3"]},
           "answerKey": "2"}
    ex = render("arc_easy", "instruct", arc)
    assert ex.prompt == "Answer the following question: Q? The answer is " and ex.choices == ("w", "x", "y")
    assert ex.label == 1 and ex.target == "x"
    sciq = {"question": "Q?", "distractor3": "d3", "distractor1": "d1", "distractor2": "d2",
            "correct_answer": "ok", "support": " S."}
    assert render("sciq_mc", "default", sciq).choices == ("d1", "d2", "d3", "ok")
    assert render("sciq_mc", "default", sciq).prompt == "### Input: S.\n ### Question: Q?\n ### Answer: "
    hs = {"ind": 1, "activity_label": "Baking", "ctx_a": "A man mixes flour.", "ctx_b": "then he",
          "ctx": "", "endings": ["bakes [title] it.", "b", "c", "d"], "source_id": "s", "split": "val",
          "split_type": "indomain", "label": "0"}
    ex = render("hellaswag", "io", hs)
    assert ex.prompt == "Baking: A man mixes flour. Then he" and ex.choices[0] == "bakes. it."


@pytest.mark.parametrize("name,row,message", [
    ("mnli", {**MNLI, "label": -1}, "must be one of 0, 1, 2"),
    ("mnli", {**MNLI, "label": 7}, "field 'label' must be one of 0, 1, 2, got 7"),
    ("mnli", {**MNLI, "label": True}, "must be int, got bool True"),  # a bool is not a class id
    ("boolq", {"question": "q", "passage": "p", "answer": 1}, "must be bool, got int 1"),
    ("stsb", {**PAIR, "label": 7.0}, r"must be a number in \[0, 5\], got 7.0"),
    ("rte", {**PAIR, "label": 2}, "must be one of 0, 1, got 2"),
    ("arc_easy", {"id": "1", "question": "Q", "choices": {"text": ["a", "b"], "label": ["A", "B"]},
                  "answerKey": "C"}, "answerKey 'C'"),
    ("hellaswag", {"ind": 1, "activity_label": "a", "ctx_a": "b", "ctx_b": "c", "endings": ["x"], "label": "0"},
     "must be a list of 4 strings"),
])
def test_bad_labels_are_refused_where_a_row_is_read(name, row, message):
    from amuro.tasks.data import check_row

    with pytest.raises(AmuroError, match=message):
        check_row(SETS[name], row)


def test_rte_and_the_authors_neutral():
    from amuro.tasks.options import TaskOptions

    row = {**PAIR, "label": 1}  # not_entailment
    assert render("rte", "default", row).gold == (1, 2)  # two-way: neutral or contradiction
    assert render("rte", "default", row, TaskOptions(rte="neutral")).gold == (1,)  # the authors' word only
    assert render("rte", "default", {**PAIR, "label": 0}, TaskOptions(rte="neutral")).gold == (0,)


def test_every_format_renders_for_every_set():
    from amuro.tasks.data import load_split

    for name, ts in SETS.items():
        row = load_split(name, ts.eval_split)[0]
        for fmt in FORMATS:
            ex = render(name, fmt, row)
            assert ex.prompt and isinstance(ex.target, str)
