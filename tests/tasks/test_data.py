"""Loading from AMURO_DATA_DIR, and one-line errors that name the file and line."""

import json

import pytest

from amuro.tasks.data import load_split
from amuro.errors import AmuroError
from amuro.tasks.registry import SETS

from conftest import FIXTURES


def test_every_fixture_split_has_the_real_schema():
    for name, ts in SETS.items():
        for split in ts.splits():
            rows = load_split(name, split)
            assert len(rows) >= 8, (name, split)
            assert all(list(r) == list(ts.columns) for r in rows), (name, split)


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
