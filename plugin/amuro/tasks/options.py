"""The task-level knobs: how the `amuro_*` lm-eval tasks read, render and demonstrate a set.

They reach the tasks as lm-eval metadata (`--metadata '{"amuro_fewshot": "paper", ...}'`, or `TaskManager(metadata=)`,
which is what a sweep passes from its study profile, `amuro.study.profiles`). Every key has a default, so plain
`lm_eval --tasks amuro_mnli_instruct` needs none of them.

| metadata key     | values                         | what it decides |
|------------------|--------------------------------|-----------------|
| `amuro_fewshot`  | shared (default), random, paper | which demonstrations: one seeded draw shared by every document; a draw per document (lm-eval's sampler); the authors' (first k rows of the scored split; for the harness format catwalk's draw per document index) |
| `amuro_splits`   | labelled (default), authors    | where QQP and STS-B are scored: GLUE `validation` (labelled), or the SetFit `test` splits the authors read (label -1 on every row) |
| `amuro_rte`      | two_way (default), neutral     | RTE's not_entailment: `neutral` or `contradiction` both correct, or `neutral` only (the authors' words) |
| `amuro_harness`  | lm_eval (default), catwalk     | the six instruction-tuning sets' harness prompts and demonstration join: lm-eval 0.4's tasks, or catwalk v1.0.0rc0's copy of them (SciQ's prompt stripped whole; each demonstration `context.strip() + " " + answer.strip() + "\\n\\n"`) |
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from amuro.errors import AmuroError

FEWSHOT_MODES = ("shared", "random", "paper")
SPLITS = ("labelled", "authors")
RTE_RULES = ("two_way", "neutral")
HARNESS_DIALECTS = ("lm_eval", "catwalk")
_CHOICES = {"fewshot": FEWSHOT_MODES, "splits": SPLITS, "rte": RTE_RULES, "harness": HARNESS_DIALECTS}
PREFIX = "amuro_"


@dataclass(frozen=True)
class TaskOptions:
    fewshot: str = "shared"
    splits: str = "labelled"
    rte: str = "two_way"
    harness: str = "lm_eval"

    def __post_init__(self):
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise AmuroError(f"unknown {PREFIX}{name} {value!r}; known: {', '.join(allowed)}")

    @classmethod
    def from_metadata(cls, **metadata) -> TaskOptions:
        """The options among lm-eval's task metadata (`amuro_<name>` keys; other keys are ignored)."""
        return cls(**{f.name: metadata[PREFIX + f.name] for f in fields(cls) if metadata.get(PREFIX + f.name)})

    def demonstrations(self, harness: bool, delimiter: str) -> tuple[str, str, bool]:
        """How a task's demonstrations are drawn and joined under these options: (draw, prompt join, strip).

        draw: shared | random | paper | catwalk (the authors' demonstrations of a harness task are catwalk's draw per
        document index, not their first-k rows). A demonstration is `prompt + join + answer`, both stripped when
        `strip` (catwalk's join): the authors' join has nothing between them, ours the task's target `delimiter`."""
        draw = "catwalk" if self.fewshot == "paper" and harness else self.fewshot
        catwalk = harness and self.harness == "catwalk"
        return draw, "" if draw == "paper" else " " if catwalk else delimiter, catwalk

    def metadata(self) -> dict:
        """The lm-eval metadata that gives a task these options."""
        return {PREFIX + f.name: getattr(self, f.name) for f in fields(self)}
