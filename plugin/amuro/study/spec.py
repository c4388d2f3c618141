"""Run specs (`runs/*.yaml`): which checkpoints of which model to fine-tune on what, and what to evaluate them on.

```yaml
name: olmo1b_paper                 # outputs go to runs/<name>/ beside the spec (or `amuro sweep --out DIR`)
model: allenai/OLMo-1B-hf          # Hub repo id, or a local folder of revision sub-folders (`amuro demo`)
checkpoints:                       # any mix; each checkpoint once, in step order
  steps: [1000, 18000, 342000]     #   revisions whose name carries these steps
  revisions: [step738000-tokens3095B]   # explicit branch names (checked against the repo)
  uniform: 5                       #   N evenly spaced over the discovered revisions, first and last included
  final: true                      #   the `main` revision (the final model), at the last step
  revisions_file: olmo1b.txt       #   stands in for the Hub's branch list when it is unreachable
train: [xsum, socialiqa, mnli, paws, tulu]
evaluate:
  formats: [default, io, instruct] # and/or harness (lm-eval's prompts; the instruction-tuning sets only)
  base: [all]                      # set names and/or roles: all, in_domain, ood, cross_task
  finetuned: [in_domain, ood, cross_task]   # roles relative to each model's training set
  num_fewshot: 4
  limit: null                      # lm-eval --limit (documents per task), for smoke runs
  model: hf                        # lm-eval model type (hf, or amuro-hf for tokenprob=paper)
  model_args: {dtype: bfloat16}    # extra lm-eval model_args
  batch_size: auto
  device: null                     # default: cuda where there is a GPU, else cpu
  cache: false                     # lm-eval's request cache, one database per model and revision
training: {}                       # overrides passed to training/sft.py, e.g. {learning_rate: 1e-5}
launcher:
  kind: local                      # local (sequential) | slurm (submitit, one job per cell)
  train_command: [python]          # how training starts, e.g. [accelerate, launch, --config_file, accelerate_1gpu]
                                   #   (a shipped accelerate config may be named: `amuro configs` lists them)
  train_script: null               # default: `-m amuro.train.sft`; or a script of yours with its flags
  slurm: {}                        # submitit parameters: slurm_partition, gpus_per_node, timeout_min, ...
keep_weights: true                 # false: delete a fine-tuned model once it is evaluated
```
Roles come from the registry: a set is `in_domain` or `ood` for the training sets it names; `cross_task` for a
per-dataset training set is the evaluation set of every other one (xsum, socialiqa, mnli, paws: the paper's
Figs. 11-12, of which the MRC uses the classification <-> generation pairs). For the base model a role means its
union over `train`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from amuro.errors import AmuroError, did_you_mean
from amuro.study.results import BASE
from amuro.tasks.registry import (FORMATS, INSTRUCTION_TUNING, SETS, TRAINING_SETS, check_format, get_set,
                                  task_name)

ROLES = ("all", "in_domain", "ood", "cross_task")


@dataclass(frozen=True)
class CheckpointSelection:
    steps: tuple[int, ...] = ()
    revisions: tuple[str, ...] = ()
    uniform: int | None = None
    final: bool = False
    revisions_file: str | None = None


@dataclass(frozen=True)
class EvalPlan:
    formats: tuple[str, ...] = FORMATS
    base: tuple[str, ...] = ("all",)
    finetuned: tuple[str, ...] = ("in_domain", "ood", "cross_task")
    num_fewshot: int = 4
    limit: float | None = None
    model: str = "hf"
    model_args: dict = field(default_factory=dict)
    batch_size: int | str = "auto"
    device: str | None = None  # default: cuda where there is a GPU, else cpu
    cache: bool = False


@dataclass(frozen=True)
class Launcher:
    kind: str = "local"
    train_command: tuple[str, ...] = ("python",)
    train_script: str | None = None  # default: `-m amuro.train.sft`
    slurm: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunSpec:
    name: str
    model: str
    checkpoints: CheckpointSelection
    train: tuple[str, ...] = ()
    evaluate: EvalPlan = EvalPlan()
    training: dict = field(default_factory=dict)
    launcher: Launcher = Launcher()
    keep_weights: bool = True
    path: Path | None = None  # the YAML file, for relative paths

    def resolve(self, path: str | None) -> Path | None:
        """A path from the spec, relative to the spec's folder."""
        if path is None:
            return None
        p = Path(path).expanduser()
        return p if p.is_absolute() or self.path is None else self.path.parent / p

    def eval_sets(self, train: str) -> list[str]:
        """The sets a model fine-tuned on `train` (or the base model, `train == "base"`) is evaluated on."""
        wanted = self.evaluate.base if train == BASE else self.evaluate.finetuned
        trains = self.train if train == BASE else (train,)
        out = []
        for item in wanted:
            for name in _sets_of(item, trains):
                if name not in out:
                    out.append(name)
        return [s for s in SETS if s in out]  # registry order

    def tasks(self, train: str) -> list[str]:
        # `harness` exists for the instruction-tuning sets only; the other sets are run in the other formats.
        return [task_name(s, f) for s in self.eval_sets(train) for f in self.evaluate.formats
                if f in get_set(s).formats]


def _sets_of(item: str, trains: tuple[str, ...]) -> list[str]:
    if item == "all":
        return list(SETS)
    if item == "in_domain":
        return [s.name for s in SETS.values() if set(s.in_domain_for) & set(trains)]
    if item == "ood":
        return [s.name for s in SETS.values() if set(s.ood_for) & set(trains)]
    if item == "cross_task":  # the other training sets, each scored on its own evaluation set
        return [u for t in trains if t in TRAINING_SETS for u in TRAINING_SETS if u != t]
    return [get_set(item).name]


def _build(cls, data, where: str):
    """`cls(**data)`, every value checked against the field's type (`_typed`); one-line errors name the key."""
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise AmuroError(f"{where} must be a mapping, got {_shown(data)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)} - {"path"}
    unknown = sorted(set(data) - names, key=str)
    if unknown:
        raise AmuroError(f"{where}: unknown key {unknown[0]!r}{did_you_mean(unknown[0], names)}; "
                         f"known: {', '.join(sorted(names))}")
    return cls(**{k: _typed(v, hints[k], f"{where}: {k}") for k, v in data.items()})


def _typed(value, hint, where: str):
    """`value` as the type `hint` says (lists become tuples), or a one-line error. Knows the hints of this module:
    str, int, float, bool, dict, tuple[X, ...], X | None, int | str, and the nested dataclasses."""
    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else _build(hint, value, where)
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if value is None and type(None) in options:
        return None
    for option in options:
        if typing.get_origin(option) is tuple:
            (item,) = {a for a in typing.get_args(option) if a is not Ellipsis}
            if isinstance(value, (list, tuple)):
                return tuple(_typed(v, item, f"{where}[{i}]") for i, v in enumerate(value))
        elif option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        elif option in (str, int, bool, dict) and isinstance(value, option) and \
                not (option is int and isinstance(value, bool)):  # `true` is not a number
            return value
    wanted = " or ".join(_type_name(o) for o in options)
    raise AmuroError(f"{where} must be {wanted}, got {_shown(value)}")


def _type_name(hint) -> str:
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return "a list of " + {str: "strings", int: "integers"}.get(item, _type_name(item))
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "a mapping",
            type(None): "null"}.get(hint, getattr(hint, "__name__", str(hint)))


def _shown(value) -> str:
    return f"{type(value).__name__} {value!r:.60}"


def parse_spec(data: dict, path: Path | None = None) -> RunSpec:
    """A RunSpec from a spec's YAML data, every key and value checked (so `--dry-run` rejects what a run would)."""
    where = str(path) if path else "run spec"
    if not isinstance(data, dict):
        raise AmuroError(f"{where}: a run spec is a YAML mapping")
    for key in ("model", "checkpoints"):
        if key not in data:
            raise AmuroError(f"{where}: missing key {key!r}")
    spec = _build(RunSpec, {"name": path.stem if path else "run", **data}, where)
    spec = dataclasses.replace(spec, path=path)
    _check(spec, where)
    return spec


def _check(spec: RunSpec, where: str) -> None:
    try:
        _check_names(spec)
    except AmuroError as e:
        raise AmuroError(f"{where}: {e}") from None


def _check_names(spec: RunSpec) -> None:
    for t in spec.train:
        if t != INSTRUCTION_TUNING and not get_set(t).train_split:
            trainable = ", ".join((*TRAINING_SETS, INSTRUCTION_TUNING))
            raise AmuroError(f"set {t!r} has no training split; training sets: {trainable}")
    for fmt in spec.evaluate.formats:
        check_format(fmt)
    for item in (*spec.evaluate.base, *spec.evaluate.finetuned):
        if item not in ROLES:
            get_set(item)
    if spec.launcher.kind not in ("local", "slurm"):
        raise AmuroError(f"launcher kind {spec.launcher.kind!r} is not local or slurm")
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


def _at_least(value, low: int, where: str) -> None:
    if value is not None and value < low:
        raise AmuroError(f"{where} must be >= {low}, got {value}")


def load_spec(path: str | Path) -> RunSpec:
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise AmuroError(f"cannot read run spec {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise AmuroError(f"{path}{line}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    return parse_spec(data, path)
