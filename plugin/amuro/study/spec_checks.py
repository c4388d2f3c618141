"""The checks of a run spec's names and values (amuro.study.spec), each failing with one line that names the key."""

from __future__ import annotations

from amuro.errors import AmuroError
from amuro.study.results import METHODS
from amuro.tasks.options import FEWSHOT_MODES
from amuro.tasks.registry import FORMATS, INSTRUCTION_TUNING, SETS, TRAINING_SETS, check_format, get_set

ROLES = ("all", "in_domain", "ood", "cross_task")


def check_names(spec) -> None:
    for t in spec.train:
        if t != INSTRUCTION_TUNING and not get_set(t).train_split:
            trainable = ", ".join((*TRAINING_SETS, INSTRUCTION_TUNING))
            raise AmuroError(f"set {t!r} has no training split; training sets: {trainable}")
    for fmt in spec.evaluate.formats:
        check_format(fmt)
        if fmt not in FORMATS:
            raise AmuroError(f"evaluate: formats: {fmt!r} exists only for the instruction-tuning sets; list it in "
                             "evaluate: instruction_formats")
    for fmt in spec.evaluate.instruction_formats:
        check_format(fmt, next(n for n, s in SETS.items() if s.harness))
    for what, seeds in (("seeds", spec.seeds), ("evaluate: fewshot_seeds", spec.evaluate.fewshot_seeds)):
        if len(set(seeds)) < len(seeds) or any(x < 0 for x in seeds):
            raise AmuroError(f"{what} must be distinct integers >= 0, got {list(seeds)}")
    if spec.evaluate.fewshot_seeds and spec.evaluate.num_fewshot == 0:
        raise AmuroError("evaluate: fewshot_seeds draws demonstrations, but num_fewshot is 0: there are none to draw")
    if spec.family is not None and not (spec.family and all(ch.isalnum() or ch in "._-" for ch in spec.family)):
        raise AmuroError(f"family {spec.family!r} must be letters, digits, '.', '_' or '-' (it names a folder)")
    for method in spec.methods:
        if method not in METHODS:
            raise AmuroError(f"methods: unknown method {method!r}; known: {', '.join(METHODS)}")
    if spec.evaluate.fewshot not in FEWSHOT_MODES:
        raise AmuroError(f"evaluate: fewshot {spec.evaluate.fewshot!r} is not one of {', '.join(FEWSHOT_MODES)}")
    try:
        spec.task_options()
    except AmuroError as e:  # "unknown amuro_rte 'x'": the spec's key is evaluate: rte
        raise AmuroError(f"evaluate: {str(e).replace('unknown amuro_', 'unknown ')}") from None
    for item in (*spec.evaluate.base, *spec.evaluate.finetuned):
        if item not in ROLES:
            get_set(item)
    if spec.launcher.kind not in ("local", "slurm"):
        raise AmuroError(f"launcher kind {spec.launcher.kind!r} is not local or slurm")
    if spec.launcher.kind == "slurm":
        from amuro.study.slurm import parameters

        parameters(spec)  # submitit's parameter names and max_concurrent
    c, e = spec.checkpoints, spec.evaluate
    if not (c.steps or c.revisions or c.uniform or c.final):
        raise AmuroError("checkpoints selects nothing (steps, revisions, uniform or final)")
    _at_least(c.uniform, 1, "checkpoints: uniform")
    for step in c.steps:
        _at_least(step, 0, "checkpoints: steps")
    _at_least(e.num_fewshot, 0, "evaluate: num_fewshot")
    if e.limit is not None and e.limit <= 0:
        raise AmuroError(f"evaluate: limit must be > 0 (documents per task, or a fraction), got {e.limit:g}")
    batch = str(e.batch_size)
    if not (batch == "auto" or batch.startswith("auto:") and batch[5:].isdigit() or batch.isdigit() and int(batch)):
        raise AmuroError(f"evaluate: batch_size must be a positive integer, auto or auto:N, got {e.batch_size!r}")
    if not spec.name or not all(ch.isalnum() or ch in "._-" for ch in spec.name):
        raise AmuroError(f"name {spec.name!r} must be letters, digits, '.', '_' or '-' (it names the output folder)")
    if spec.training:
        from amuro.train.sft import check_overrides  # imports TRL: only when there are overrides to check

        check_overrides(spec.training, spec.train, "training")
    if spec.lora:
        from amuro.train.sft import check_overrides

        check_overrides(spec.lora, spec.train, "lora")


def _at_least(value, low: int, where: str) -> None:
    if value is not None and value < low:
        raise AmuroError(f"{where} must be >= {low}, got {value}")
