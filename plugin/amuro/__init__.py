"""amuro: rerun Amuro & Char (Sun & Dredze 2024) on any model family with intermediate checkpoints.

Import-light on purpose: `amuro_lm_eval.pth` imports `amuro.eval.shim` at every interpreter start, so nothing
heavy (torch, transformers, lm_eval) is imported here.
"""

from __future__ import annotations

__version__ = "0.1.0"


def tasks_dir() -> str:
    """The folder of the generated `amuro_*` lm-eval task YAMLs (the `amuro_tasks` package)."""
    from importlib.util import find_spec

    spec = find_spec("amuro_tasks")
    return list(spec.submodule_search_locations)[0]


def task_manager(include_path=None, **kwargs):
    """An lm-eval `TaskManager` that knows the `amuro_*` tasks without any start-up shim: the explicit path.

    `amuro.task_manager(metadata={"pretrained": path})` also tells the TokenProb tasks which tokenizer to use
    when `simple_evaluate` is given this manager (lm-eval only adds model_args itself when it builds one).
    """
    from lm_eval.tasks import TaskManager

    extra = [] if include_path is None else list(include_path) if isinstance(include_path, (list, tuple)) else [include_path]
    return TaskManager(include_path=[tasks_dir(), *extra], **kwargs)


def register_model() -> None:
    """Register `--model amuro-hf` in lm-eval's registry explicitly (the shim does it lazily otherwise)."""
    import amuro.eval.hf_model  # noqa: F401  (the class registers itself)
