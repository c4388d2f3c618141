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
  model: amuro-hf                  # lm-eval model type (amuro-hf: prefix reuse, tokenprob=paper; or hf)
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
from dataclasses import dataclass, field
from pathlib import Path

from amuro.errors import AmuroError
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
    model: str = "amuro-hf"  # shared-prefix reuse; the same scores as hf
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
    """`cls(**data)` with a one-line error naming the unknown key; lists become tuples."""
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise AmuroError(f"{where} must be a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)} - {"path"}
    unknown = sorted(set(data) - names)
    if unknown:
        raise AmuroError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(names))}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def parse_spec(data: dict, path: Path | None = None) -> RunSpec:
    where = str(path) if path else "run spec"
    if not isinstance(data, dict):
        raise AmuroError(f"{where}: a run spec is a YAML mapping")
    for key in ("model", "checkpoints"):
        if key not in data:
            raise AmuroError(f"{where}: missing key {key!r}")
    fields = dict(data)
    fields["checkpoints"] = _build(CheckpointSelection, data["checkpoints"], f"{where}: checkpoints")
    fields["evaluate"] = _build(EvalPlan, data.get("evaluate"), f"{where}: evaluate")
    fields["launcher"] = _build(Launcher, data.get("launcher"), f"{where}: launcher")
    fields.setdefault("name", path.stem if path else "run")
    spec = _build(RunSpec, fields, where)
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
    c = spec.checkpoints
    if not (c.steps or c.revisions or c.uniform or c.final):
        raise AmuroError("checkpoints selects nothing (steps, revisions, uniform or final)")


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
