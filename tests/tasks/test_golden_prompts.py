"""Golden prompts: every set × format, 0-shot and 2-shot, exactly as lm-eval builds them from the fixtures.
After a deliberate template change: `python tests/golden/update_goldens.py` and review the diff."""

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "golden"))
import update_goldens  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from amuro.demo.tiny import build_tokenizer

    path = tmp_path_factory.mktemp("tok")
    build_tokenizer().save_pretrained(path)
    return update_goldens.contexts(str(path))


def test_every_task_has_a_golden_file(built):
    files = {p.stem for p in (HERE / "golden" / "prompts").glob("*.txt")}
    assert files == set(built) and len(files) == 57 + 6  # three formats of 19 sets, harness of 6


@pytest.mark.parametrize("name", sorted(p.stem for p in (HERE / "golden" / "prompts").glob("*.txt")))
def test_prompt_matches_golden(name, built):
    assert built[name] == (HERE / "golden" / "prompts" / f"{name}.txt").read_text(encoding="utf-8")
