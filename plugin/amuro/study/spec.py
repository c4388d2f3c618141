"""Run specs (`runs/*.yaml`): which checkpoints of which model to fine-tune on what, and what to evaluate them on.

```yaml
name: olmo1b_paper                 # outputs go to runs/<name>/ beside the spec (or `amuro sweep --out DIR`)
model: allenai/OLMo-1B-hf          # Hub repo id, or a local folder of revision sub-folders (`amuro demo`);
                                   #   paths in a spec are relative to the spec file
family: null                       # a name for the model's family: its rows carry it, the report analyses each
                                   #   family apart; outputs go to runs/<name>/<family>/
checkpoints:                       # any mix; each checkpoint once, in step order
  steps: [1000, 18000, 342000]     #   revisions whose name carries these steps
  revisions: [step738000-tokens3094B]   # explicit branch names (checked against the repo)
  uniform: 5                       #   N evenly spaced over the discovered revisions, first and last included
  final: true                      #   the `main` revision (the final model), at the last step
  revisions_file: olmo1b.txt       #   stands in for the Hub's branch list when it is unreachable
  tokens_per_step: null            #   tokens of one step, for names that carry none (Pythia, SmolLM2: 2097152)
profile: corrected                 # paper | corrected (amuro.study.profiles): the defaults of the knobs marked (p)
train: [xsum, socialiqa, mnli, paws, tulu]   # what to fine-tune on: per-dataset sets and/or tulu (instruction tuning)
methods: [full]                    # full and/or lora: how each training set is fine-tuned
seeds: []                          # fine-tune each cell once per seed (amuro.train.sft --seed; rows carry `seed`);
                                   #   [] = once, with the training default (seed 42), rows without a seed
evaluate:                          # what each model is evaluated on (lm-eval), and how
  formats: [default, io, instruct] # prompt formats of the 13 SFT-family sets
  instruction_formats: null        # (p) formats of the six instruction-tuning sets: harness and/or the three
  base: [all]                      # set names and/or roles: all, in_domain, ood, cross_task
  finetuned: [in_domain, ood, cross_task]   # roles relative to each model's training set
  num_fewshot: 4                   # demonstrations per prompt
  fewshot: null                    # (p) demonstrations: shared | random (per document) | paper (the authors')
  splits: null                     # (p) QQP/STS-B: labelled (GLUE validation) | authors (SetFit test, label -1)
  rte: null                        # (p) RTE's not_entailment: two_way (neutral or contradiction) | neutral
  harness: null                    # (p) instruction-tuning sets: lm_eval (its prompts, acc) | catwalk (the paper's)
  dtype: null                      # (p) evaluation dtype: one name, or per kind {base: .., sft: .., tulu: ..}
  limit: null                      # lm-eval --limit (documents per task), for smoke runs
  model: null                      # (p) lm-eval model type: amuro-hf, hf, vllm, ...
  model_args: {}                   # lm-eval model_args; (p) adds tokenprob and long_prompts (amuro-hf) unless given;
                                   #   a dtype here applies to every model
  batch_size: auto                 # lm-eval --batch_size
  device: null                     # default: cuda where there is a GPU, else cpu
  cache: false                     # lm-eval's request cache, one database per model and revision
  gen_kwargs: null                 # (p) lm-eval --gen_kwargs, e.g. {until: []}
  log_samples: false               # lm-eval's own outputs per job: lm_eval/<revision>/<train>/ (results + samples)
  system_instruction: null         # lm-eval's --system_instruction
  apply_chat_template: false       # lm-eval's --apply_chat_template (true or a template name)
  fewshot_as_multiturn: false      # lm-eval's --fewshot_as_multiturn
  wandb_args: {}                   # lm-eval's --wandb_args (e.g. {project: amuro}; WANDB_MODE=offline works)
  hf_hub_log_args: {}              # lm-eval's --hf_hub_log_args
  seed: null                       # lm-eval's --seed (random, numpy, torch and few-shot seeds)
  fewshot_seeds: []                # evaluate every model once per draw of demonstrations (lm-eval's
                                   #   --fewshot_random_seed; rows carry `fewshot_seed`); [] = one draw
  completion_loss: 0               # N > 0: also score each BASE checkpoint's loss on N fixed examples of each
                                   #   training set's completions (amuro.study.measures; base_measures.csv)
training: {}                       # (p) flags of `python -m amuro.train.sft`, e.g. {learning_rate: 1e-5}
lora: {}                           # extra flags for the lora method, e.g. {lora_r: 16, learning_rate: 2e-4}
launcher:                          # where and how the fine-tuning jobs run
  kind: local                      # local (sequential) | slurm (submitit: one job array, a task per checkpoint)
  train_command: [python]          # how training starts, e.g. [accelerate, launch, --config_file, accelerate_1gpu]
                                   #   (a shipped accelerate config may be named: `amuro configs` lists them)
  train_script: null               # default: `-m amuro.train.sft`; or a script of yours with its flags
  slurm: {}                        # submitit parameters: slurm_partition, gpus_per_node, timeout_min, ...
                                   #   (docs/slurm.md), and max_concurrent: tasks running at once (--array=...%N)
keep_weights: true                 # false: delete a fine-tuned model once it is evaluated
```
Several families at once: `families:` in place of `model` and `checkpoints` (`amuro.study.families`).
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
from amuro.study.profiles import DEFAULT, MODEL_KINDS, get_profile, model_kind
from amuro.study.results import BASE
from amuro.study.spec_checks import check_names
from amuro.study.typed import build
from amuro.tasks.options import TaskOptions
from amuro.tasks.registry import FORMATS, SETS, TRAINING_SETS, get_set, task_name


@dataclass(frozen=True)
class CheckpointSelection:
    steps: tuple[int, ...] = ()
    revisions: tuple[str, ...] = ()
    uniform: int | None = None
    final: bool = False
    revisions_file: str | None = None
    tokens_per_step: int | None = None


@dataclass(frozen=True)
class EvalPlan:
    formats: tuple[str, ...] = FORMATS
    instruction_formats: tuple[str, ...] | None = None  # None: the profile's
    base: tuple[str, ...] = ("all",)
    finetuned: tuple[str, ...] = ("in_domain", "ood", "cross_task")
    num_fewshot: int = 4
    fewshot: str | None = None  # None: the profile's (and so are the next four)
    splits: str | None = None
    rte: str | None = None
    harness: str | None = None
    dtype: dict | str | None = None
    limit: float | None = None
    model: str | None = None  # None: the profile's
    model_args: dict = field(default_factory=dict)
    batch_size: int | str = "auto"
    device: str | None = None  # default: cuda where there is a GPU, else cpu
    cache: bool = False
    gen_kwargs: dict | None = None  # None: the profile's
    log_samples: bool = False
    system_instruction: str | None = None
    apply_chat_template: bool | str = False
    fewshot_as_multiturn: bool = False
    wandb_args: dict = field(default_factory=dict)
    hf_hub_log_args: dict = field(default_factory=dict)
    seed: int | None = None
    fewshot_seeds: tuple[int, ...] = ()
    completion_loss: int = 0


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
    family: str | None = None
    profile: str = DEFAULT
    train: tuple[str, ...] = ()
    methods: tuple[str, ...] = ("full",)
    seeds: tuple[int, ...] = ()
    evaluate: EvalPlan = EvalPlan()
    training: dict = field(default_factory=dict)
    lora: dict = field(default_factory=dict)
    launcher: Launcher = Launcher()
    keep_weights: bool = True
    path: Path | None = None  # the YAML file, for relative paths

    def provenance(self) -> dict:
        """The knobs that decide the numbers, as this spec resolved them (written beside every result)."""
        from amuro.files import redact

        e = self.evaluate
        return {"profile": self.profile, "model": e.model, "model_args": {k: redact(str(v)) for k, v in
                                                                          e.model_args.items()},
                **dataclasses.asdict(self.task_options()), "dtype": e.dtype,
                "num_fewshot": e.num_fewshot, "gen_kwargs": e.gen_kwargs,
                "instruction_formats": list(e.instruction_formats), "training": self.training,
                "lora": self.lora, "family": self.family, "seeds": list(self.seeds),
                "fewshot_seeds": list(e.fewshot_seeds)}

    def task_options(self) -> TaskOptions:
        """The amuro tasks' options (lm-eval metadata) this spec evaluates with."""
        e = self.evaluate
        return TaskOptions(fewshot=e.fewshot, splits=e.splits, rte=e.rte, harness=e.harness)

    def eval_dtype(self, train: str) -> str:
        """The dtype a job's model is evaluated in (`train`: base, an SFT set or tulu); model_args.dtype wins."""
        return str(self.evaluate.model_args.get("dtype") or self.evaluate.dtype[model_kind(train)])

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

    def formats(self, set_name: str) -> tuple[str, ...]:
        """The formats a set is evaluated in: `instruction_formats` for the six instruction-tuning sets (those with
        lm-eval's harness prompt), `formats` for the others."""
        return self.evaluate.instruction_formats if get_set(set_name).harness else self.evaluate.formats

    def tasks(self, train: str) -> list[str]:
        return [task_name(s, f) for s in self.eval_sets(train) for f in self.formats(s)]


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


def parse_spec(data: dict, path: Path | None = None) -> RunSpec:
    """A RunSpec from a spec's YAML data, every key and value checked (so `--dry-run` rejects what a run would)."""
    where = str(path) if path else "run spec"
    if not isinstance(data, dict):
        raise AmuroError(f"{where}: a run spec is a YAML mapping")
    for key in ("model", "checkpoints"):
        if key not in data:
            raise AmuroError(f"{where}: missing key {key!r}")
    spec = build(RunSpec, {"name": path.stem if path else "run", **data}, where)
    spec = dataclasses.replace(spec, path=path)
    if spec.resolve(spec.model).is_dir():  # a local model folder, relative to the spec file like every path in it
        spec = dataclasses.replace(spec, model=str(spec.resolve(spec.model)))
    try:
        spec = with_profile(spec)
    except AmuroError as e:
        raise AmuroError(f"{where}: {e}") from None
    _check(spec, where)
    return spec


def with_profile(spec: RunSpec) -> RunSpec:
    """The spec with every knob it leaves unset taken from its profile (the spec's own values win)."""
    p, e = get_profile(spec.profile), spec.evaluate
    model = e.model or p.model
    amuro_hf = {"tokenprob": p.tokenprob, "long_prompts": p.long_prompts} if model == "amuro-hf" else {}
    dtype = p.dtype if e.dtype is None else dict.fromkeys(MODEL_KINDS, e.dtype) if isinstance(e.dtype, str) else \
        {**p.dtype, **e.dtype}
    unknown = set(dtype) - set(MODEL_KINDS)
    if unknown:
        raise AmuroError(f"evaluate: dtype: unknown kind {sorted(unknown)[0]!r}; kinds: {', '.join(MODEL_KINDS)}")
    t = p.tasks
    evaluate = dataclasses.replace(
        e, model=model, model_args={**amuro_hf, **e.model_args}, dtype=dtype, fewshot=e.fewshot or t.fewshot,
        splits=e.splits or t.splits, rte=e.rte or t.rte, harness=e.harness or t.harness,
        gen_kwargs=p.gen_kwargs if e.gen_kwargs is None else e.gen_kwargs,
        instruction_formats=p.instruction_formats if e.instruction_formats is None else e.instruction_formats)
    return dataclasses.replace(spec, evaluate=evaluate, training={**p.training, **spec.training})


def _check(spec: RunSpec, where: str) -> None:
    try:
        check_names(spec)
    except AmuroError as e:
        raise AmuroError(f"{where}: {e}") from None


def load_spec(path: str | Path) -> RunSpec:
    """The spec of a file that names one model (a spec of several `families:`: amuro.study.families)."""
    path = Path(path)
    data = read_yaml(path)
    if isinstance(data, dict) and "families" in data:
        raise AmuroError(f"{path} names several families: each is a sweep of its own (amuro.study.families."
                         "load_specs; `amuro sweep` runs them all)")
    return parse_spec(data, path)


def read_yaml(path: Path):
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise AmuroError(f"cannot read run spec {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise AmuroError(f"{path}{line}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    return data
