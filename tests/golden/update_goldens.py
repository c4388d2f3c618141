"""Rewrite tests/golden/prompts/*.txt: the contexts lm-eval builds for the first fixture document of every task,
0-shot and 2-shot (seed 1234). Run after a deliberate template change, then review the diff:

    python tests/golden/update_goldens.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures" / "data"
SHOTS = (0, 2)


def contexts(tokenizer_path: str) -> dict[str, str]:
    """Task name -> golden file text, built by real lm-eval from the fixture data."""
    os.environ.setdefault("AMURO_DATA_DIR", str(FIXTURES))
    from lm_eval.tasks import get_task_dict

    import amuro
    from amuro.tasks.registry import SETS, task_name

    names = [task_name(s.name, f) for s in SETS.values() for f in s.formats]
    tasks = get_task_dict(names, amuro.task_manager(include_defaults=False, metadata={"pretrained": tokenizer_path}))
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


def main() -> int:
    import tempfile

    from amuro.demo.tiny import build_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        build_tokenizer().save_pretrained(tmp)
        texts = contexts(tmp)
    folder = HERE / "prompts"
    folder.mkdir(exist_ok=True)
    for name, text in texts.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    print(f"{len(texts)} golden prompt files written to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
