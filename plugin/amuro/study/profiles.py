"""Study profiles: `paper` reproduces the authors' pipeline, `corrected` fixes its defects (docs/study.md §6-§8).

A profile is data: the values it gives the run spec's knobs. A spec names one (`profile: paper`, default
`corrected`) and may still set any knob itself; the spec wins. The effective knobs are written into every results
row's provenance (the `profile` column, and `amuro.provenance` in each job's lm-eval JSON, which `source` names).

| knob (run spec key) | paper | corrected |
|---|---|---|
| scoring (`evaluate.model`, `model_args.tokenprob`) | amuro-hf, the authors' lenient TokenProb | amuro-hf, first sub-token |
| demonstrations (`evaluate.fewshot`) | the first k rows of the scored split (harness prompts: per-document draws, as catwalk) | one seeded draw from another split, shared |
| generation (`evaluate.gen_kwargs`) | no stop sequence | stop where a next demonstration begins |
| instruction-tuning sets (`evaluate.instruction_formats`) | lm-eval's harness prompts | the same |
| dtype (`model_args.dtype`) | float32 (the authors' `torch_dtype="auto"` on fp32 checkpoints) | auto |
| loss (`training.loss_averaging`) | per example, averaged over the step | per token (TRL) |
| batch | 8 examples per optimizer step on any number of processes (both) | |
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amuro.errors import AmuroError, did_you_mean
from amuro.tasks.registry import HARNESS


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    model: str
    tokenprob: str  # amuro-hf's TokenProb rule: paper (lenient) | first
    dtype: str
    fewshot: str  # the `amuro_fewshot` mode of the tasks: shared | random | paper
    gen_kwargs: dict | None
    instruction_formats: tuple[str, ...]
    training: dict = field(default_factory=dict)


PROFILES = {
    "paper": Profile(
        "paper", "the authors' pipeline: lenient TokenProb, first-k demonstrations of the scored split, no "
                 "generation stop, harness prompts for the instruction-tuning sets, fp32, per-example loss",
        model="amuro-hf", tokenprob="paper", dtype="float32", fewshot="paper", gen_kwargs={"until": []},
        instruction_formats=(HARNESS,), training={"loss_averaging": "per_example"}),
    "corrected": Profile(
        "corrected", "the authors' defects fixed: first-sub-token TokenProb, one seeded draw of demonstrations from "
                     "another split shared by every document, generation stops at the next demonstration, harness "
                     "prompts for the instruction-tuning sets, the checkpoint's dtype, TRL's per-token loss",
        model="amuro-hf", tokenprob="first", dtype="auto", fewshot="shared", gen_kwargs=None,
        instruction_formats=(HARNESS,), training={"loss_averaging": "per_token"}),
}
DEFAULT = "corrected"


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise AmuroError(f"unknown profile {name!r}{did_you_mean(name, PROFILES)}; profiles: {', '.join(PROFILES)}")
    return PROFILES[name]
