"""Study profiles: `paper` reproduces the authors' pipeline, `corrected` fixes its defects.

A profile is data: the values it gives the run spec's knobs. A spec names one (`profile: paper`, default
`corrected`) and may still set any knob itself; the spec wins. The effective knobs are written into every results
row's provenance (the `profile` column, and `amuro.provenance` in each job's lm-eval JSON, which `source` names).
Every way a profile differs from the authors' release, with the evidence, is in the differences ledger
(`amuro.study.ledger`; `amuro sweep SPEC --dry-run` prints it, docs/ledger.md is generated from it).

| knob (run spec key) | paper | corrected |
|---|---|---|
| scoring (`evaluate.model`, `model_args.tokenprob`) | amuro-hf, the authors' lenient TokenProb | amuro-hf, first sub-token |
| long prompts (`model_args.long_prompts`) | whole: the whole prompt, past the trained positions | cut from the left (lm-eval's) |
| demonstrations (`evaluate.fewshot`) | the first k rows of the scored split; catwalk's draw per document for the harness prompts | one seeded draw from another split, shared |
| QQP/STS-B rows (`evaluate.splits`) | the SetFit test splits the authors scored (label -1) | labelled GLUE validation |
| RTE not_entailment (`evaluate.rte`) | `neutral` only | neutral or contradiction |
| instruction-tuning sets (`evaluate.harness`, `instruction_formats`) | catwalk's prompts, join and metric | lm-eval's harness prompts and `acc` |
| generation (`evaluate.gen_kwargs`) | no stop sequence | stop where a next demonstration begins |
| dtype (`evaluate.dtype`) | base float32, SFT models bfloat16, Tulu models float32 (catwalk) | bfloat16 |
| training (`training`) | per-example loss, rotary frequencies rounded to bf16 | TRL's per-token loss |
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amuro.errors import AmuroError, did_you_mean
from amuro.tasks.options import TaskOptions
from amuro.tasks.registry import HARNESS

# The kinds of model a sweep evaluates, for per-kind knobs (dtype): a BASE checkpoint, a model fine-tuned on one of
# the SFT sets, and one instruction-tuned on Tulu (scored by catwalk in the authors' release).
MODEL_KINDS = ("base", "sft", "tulu")


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    model: str
    tokenprob: str  # amuro-hf's TokenProb rule: paper (lenient) | first
    long_prompts: str  # amuro-hf's policy for prompts longer than the model's context: whole | left
    dtype: dict  # evaluation dtype per MODEL_KINDS
    tasks: TaskOptions  # the amuro tasks' options (demonstrations, splits, RTE rule, harness dialect)
    gen_kwargs: dict | None
    instruction_formats: tuple[str, ...]
    training: dict = field(default_factory=dict)


PROFILES = {
    "paper": Profile(
        "paper", "the authors' pipeline: lenient TokenProb, whole prompts, first-k demonstrations of the scored split, "
                 "no generation stop, SetFit's QQP/STS-B test splits, RTE's neutral, catwalk's prompts, "
                 "demonstrations and metrics for the instruction-tuning sets, their dtypes, per-example loss",
        model="amuro-hf", tokenprob="paper", long_prompts="whole",
        # torch_dtype="auto" on fp32 checkpoints (BASE) and on DeepSpeed bf16 saves (SFT); catwalk loaded fp32.
        dtype={"base": "float32", "sft": "bfloat16", "tulu": "float32"},
        tasks=TaskOptions(fewshot="paper", splits="authors", rte="neutral", harness="catwalk"),
        gen_kwargs={"until": []}, instruction_formats=(HARNESS,),
        training={"loss_averaging": "per_example", "round_rotary_to_bf16": True}),
    "corrected": Profile(
        "corrected", "the authors' defects fixed: first-sub-token TokenProb, long prompts cut from the left, one "
                     "seeded draw of demonstrations from another split shared by every document, generation stops "
                     "at the next demonstration, labelled QQP/STS-B, two-way RTE, lm-eval's harness prompts and acc "
                     "for the instruction-tuning sets, bfloat16, TRL's per-token loss",
        model="amuro-hf", tokenprob="first", long_prompts="left", dtype=dict.fromkeys(MODEL_KINDS, "bfloat16"),
        tasks=TaskOptions(), gen_kwargs=None, instruction_formats=(HARNESS,),
        training={"loss_averaging": "per_token"}),
}
DEFAULT = "corrected"


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise AmuroError(f"unknown profile {name!r}{did_you_mean(name, PROFILES)}; profiles: {', '.join(PROFILES)}")
    return PROFILES[name]


def model_kind(train: str) -> str:
    """The MODEL_KINDS entry of a sweep job's `train` value (`base`, an SFT set, or `tulu`)."""
    from amuro.study.results import BASE
    from amuro.tasks.registry import INSTRUCTION_TUNING

    return "base" if train == BASE else "tulu" if train == INSTRUCTION_TUNING else "sft"
