"""Loading from AMURO_DATA_DIR, and one-line errors that name the file and line."""

import json

import pytest

from amuro.tasks.data import load_split
from amuro.errors import AmuroError
from amuro.tasks.registry import SETS

from conftest import FIXTURES


# The real Hugging Face schemas, written out from the datasets' cards (/work/shared/study/DATASETS.md), not read
# from amuro.tasks.registry: column names in the cards' order, JSON types, and the splits the fixtures hold.
S, I, FL, B, L, D = str, int, float, bool, list, dict
_SCIQ = {"question": S, "distractor3": S, "distractor1": S, "distractor2": S, "correct_answer": S, "support": S}
_MNLI = {"premise": S, "hypothesis": S, "label": I, "idx": I}
_ARC = {"id": S, "question": S, "choices": D, "answerKey": S}
HF_SCHEMAS = {
    "xsum": (("test", "validation", "train"), {"document": S, "summary": S, "id": S}),
    "xlsum": (("test", "validation"), {"id": S, "url": S, "title": S, "summary": S, "text": S}),
    "cnn": (("test", "validation"), {"article": S, "highlights": S, "id": S}),
    "socialiqa": (("validation", "train"), {"context": S, "question": S, "answerA": S, "answerB": S, "answerC": S,
                                            "label": S}),
    "tweetqa": (("train", "validation"), {"Question": S, "Answer": L, "Tweet": S, "qid": S}),
    "sciq_qg": (("test", "validation"), _SCIQ),
    "mnli": (("validation_matched", "train"), _MNLI),
    "mnli_mm": (("validation_mismatched", "train"), _MNLI),
    "rte": (("train", "validation"), {"sentence1": S, "sentence2": S, "label": I, "idx": I}),
    "gpt3nli": (("train",), {"text_a": S, "text_b": S, "label": I, "guid": I}),
    "paws": (("test", "validation", "train"), {"id": I, "sentence1": S, "sentence2": S, "label": I}),
    "qqp": (("validation", "train"), {"question1": S, "question2": S, "label": I, "idx": I}),
    "stsb": (("validation", "train"), {"sentence1": S, "sentence2": S, "label": FL, "idx": I}),
    "arc_easy": (("validation", "train"), _ARC),
    "arc_challenge": (("validation", "train"), _ARC),
    "openbookqa": (("validation", "train"), {"id": S, "question_stem": S, "choices": D, "answerKey": S}),
    "hellaswag": (("validation", "train"), {"ind": I, "activity_label": S, "ctx_a": S, "ctx_b": S, "ctx": S,
                                            "endings": L, "source_id": S, "split": S, "split_type": S, "label": S}),
    "boolq": (("validation", "train"), {"question": S, "answer": B, "passage": S}),
    "sciq_mc": (("validation", "train"), _SCIQ),
}
# allenai/tulu-v2-sft-mixture: dataset, id, messages [{role, content}]
TULU = {"dataset": S, "id": S, "messages": L}


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _check(row, columns, where):
    assert list(row) == list(columns), where  # the card's columns, in the card's order
    for name, kind in columns.items():
        value = row[name]
        assert isinstance(value, kind) and (kind is bool or not isinstance(value, bool)), (where, name, value)
        if kind is L:
            assert all(isinstance(v, (str, dict)) for v in value), (where, name)
    if "choices" in columns:
        assert set(row["choices"]) == {"text", "label"}, where


def test_every_fixture_file_has_the_real_hf_schema():
    assert set(HF_SCHEMAS) == set(SETS)
    for name, (splits, columns) in HF_SCHEMAS.items():
        authors = [SETS[name].authors_eval.local] if SETS[name].authors_eval else []  # the authors' copy
        assert sorted(p.stem for p in (FIXTURES / name).glob("*.jsonl")) == sorted([*splits, *authors]), name
        for split in splits:
            rows = _rows(FIXTURES / name / f"{split}.jsonl")
            assert len(rows) >= 8, (name, split)
            for i, row in enumerate(rows):
                _check(row, columns, f"{name}/{split}:{i + 1}")
    for i, row in enumerate(_rows(FIXTURES / "tulu" / "train.jsonl")):
        _check(row, TULU, f"tulu/train:{i + 1}")
        assert all(set(turn) == {"role", "content"} for turn in row["messages"])


def test_the_registry_declares_the_cards_schemas_and_loads_every_fixture():
    for name, (splits, columns) in HF_SCHEMAS.items():
        ts = SETS[name]
        assert list(ts.columns) == list(columns) and set(ts.splits()) == set(splits), name
        for split in splits:
            assert load_split(name, split) == _rows(FIXTURES / name / f"{split}.jsonl")


def _write(tmp_path, name, split, lines):
    (tmp_path / name).mkdir(parents=True, exist_ok=True)
    (tmp_path / name / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path


GOOD = json.dumps({"premise": "p", "hypothesis": "h", "label": 0, "idx": 0})


@pytest.mark.parametrize("line,message", [
    ('{"premise": "p", "hypothesis": "h", "label": 0', "malformed JSON"),
    (json.dumps({"premise": "p", "label": 0, "idx": 1}), "missing field 'hypothesis'"),
    (json.dumps({"premise": "p", "hypothesis": 3, "label": 0, "idx": 1}), "field 'hypothesis' must be str"),
    (json.dumps({"premise": "p", "hypothesis": "h", "label": True, "idx": 1}), "field 'label' must be int"),
    (json.dumps(["p", "h"]), "must be a JSON object"),
])
def test_bad_rows_name_file_and_line(tmp_path, line, message):
    root = _write(tmp_path, "mnli", "train", [GOOD, line])
    with pytest.raises(AmuroError) as e:
        load_split("mnli", "train", root)
    text = str(e.value)
    assert text.startswith(f"{root / 'mnli' / 'train.jsonl'}:2: ") and message in text and "\n" not in text


def test_missing_file_and_unused_split(tmp_path):
    with pytest.raises(AmuroError, match=r"validation_matched.jsonl: no such file"):
        load_split("mnli", "validation_matched", tmp_path)
    with pytest.raises(AmuroError, match="does not use split 'test'"):
        load_split("mnli", "test", FIXTURES)
    _write(tmp_path, "mnli", "train", [""])
    with pytest.raises(AmuroError, match="no rows"):
        load_split("mnli", "train", tmp_path)


def test_hub_failure_is_one_line(monkeypatch):
    # Offline (HF_DATASETS_OFFLINE=1), the real Hub path fails fast; the error says how to go offline.
    monkeypatch.delenv("AMURO_DATA_DIR")
    with pytest.raises(AmuroError) as e:
        load_split("rte", "validation")
    assert "nyu-mll/glue (rte) split 'validation'" in str(e.value) and "AMURO_DATA_DIR" in str(e.value)
    assert "\n" not in str(e.value)


def test_the_authors_qqp_and_stsb_rows_are_setfits_unlabelled_test_splits():
    """`amuro_splits: authors` reads SetFit's copies (text1/text2, label -1 everywhere), renamed into the set's
    schema: under the authors' label rules every gold answer is "no", the defect the paper profile reproduces."""
    from amuro.tasks.data import locate
    from amuro.tasks.templates import render

    for name, a, b in (("qqp", "question1", "question2"), ("stsb", "sentence1", "sentence2")):
        ts = SETS[name]
        rows = load_split(name, ts.eval_split, authors=True)
        raw = _rows(FIXTURES / name / "setfit_test.jsonl")
        assert [(r[a], r[b], r["label"]) for r in rows] == [(r["text1"], r["text2"], -1) for r in raw]
        assert {render(name, "default", r).target for r in rows} == {"no"}
        assert locate(name, ts.eval_split, authors=True)(2) == f"{FIXTURES / name / 'setfit_test.jsonl'}:3"
        # the labelled split is untouched
        assert load_split(name, ts.eval_split) == _rows(FIXTURES / name / f"{ts.eval_split}.jsonl")
