"""Intermediate pre-training checkpoints: list a model's revisions, parse their step and tokens, pick some.

Model families publish checkpoints as Hub branches whose names carry the step (and often the tokens seen):
- OLMo (`allenai/OLMo-1B-hf`):            `step342000-tokens1433B`
- OLMo-2 (`allenai/OLMo-2-0425-1B`):      `stage1-step1000000-tokens2098B` (stage 2 annealing runs:
                                          `stage2-ingredient1-step11931-tokens50B`)
- Pythia (`EleutherAI/pythia-1b`):        `step143000`
- SmolLM2 (`HuggingFaceTB/SmolLM2-1.7B-intermediate-checkpoints`): `step-125000` (the final model is the separate
                                          repo `HuggingFaceTB/SmolLM2-1.7B`; this repo's `main` holds no weights)
Names without tokens (Pythia, SmolLM2) get them from the run spec's `checkpoints.tokens_per_step` when it is set.
Revisions are always names read from the repo's branch list (or a revisions file standing in for it), never built
by string formatting: rounding in the token counts (`tokens3094B` vs `tokens3095B`) makes formatted names miss.
A local model folder holds one sub-folder per revision (what `amuro demo` writes) and a `revisions.txt` listing them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from amuro.errors import AmuroError, did_you_mean

FINAL = "main"
REVISIONS_FILE = "revisions.txt"
_UNITS = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}
_PATTERNS = (  # (family, regex); the first that matches a whole name wins
    ("olmo", re.compile(r"step(?P<step>\d+)-tokens(?P<tokens>\d+)(?P<unit>[KMBT])")),
    ("olmo2", re.compile(r"stage(?P<stage>\d+)-(?:ingredient(?P<ingredient>\d+)-)?step(?P<step>\d+)"
                         r"(?:-tokens(?P<tokens>\d+)(?P<unit>[KMBT]))?")),
    ("pythia", re.compile(r"step(?P<step>\d+)")),
    ("smollm2", re.compile(r"step-(?P<step>\d+)")),
)


@dataclass(frozen=True)
class Checkpoint:
    """One revision of a model: where it loads from, its pre-training step and tokens (None if unknown)."""

    model: str  # Hub repo id or local folder, as the run spec names it
    revision: str
    step: int
    tokens: int | None = None
    trajectory: str = ""  # "" for the main pre-training run; e.g. "stage2-ingredient1" for an annealing branch

    @property
    def local(self) -> bool:
        return Path(self.model).is_dir()

    def load_args(self) -> dict:
        """`pretrained`/`revision` for lm-eval's model_args and transformers' from_pretrained."""
        if self.local:
            return {"pretrained": str(Path(self.model) / self.revision)}
        return {"pretrained": self.model, "revision": self.revision}


def parse_revision(name: str) -> dict | None:
    """{'step', 'tokens', 'trajectory'} parsed from a revision name, or None for names that carry no step."""
    for family, pattern in _PATTERNS:
        m = pattern.fullmatch(name)
        if not m:
            continue
        parts = m.groupdict()
        tokens = int(parts["tokens"]) * _UNITS[parts["unit"]] if parts.get("tokens") else None
        trajectory = ""
        if family == "olmo2" and parts["stage"] != "1":
            trajectory = f"stage{parts['stage']}" + (f"-ingredient{parts['ingredient']}" if parts["ingredient"] else "")
        return {"step": int(parts["step"]), "tokens": tokens, "trajectory": trajectory}
    return None


def list_revisions(model: str, revisions_file: str | Path | None = None) -> list[str]:
    """Branch names of `model`: a local folder's `revisions.txt`, else the Hub's branch list, else (the Hub
    unreachable) `revisions_file`: one name per line, `#` comments."""
    if Path(model).is_dir():
        listed = Path(model) / REVISIONS_FILE
        if not listed.is_file():
            raise AmuroError(f"{model} is a folder without {REVISIONS_FILE} (one revision sub-folder per line)")
        return _read_names(listed)
    from huggingface_hub import list_repo_refs

    from amuro.tasks.data import hub_unreachable

    why = hub_unreachable()
    try:
        if why:
            raise ConnectionError(why)
        return [ref.name for ref in list_repo_refs(model).branches]
    except Exception as e:  # offline, unknown repo, gated: all end the same way for the user
        if revisions_file is not None:
            return _read_names(Path(revisions_file))
        raise AmuroError(f"cannot list the revisions of {model}: it is no folder here ({Path(model).resolve()}) and "
                         f"the Hub did not answer ({why or type(e).__name__}); name a revisions_file in the run "
                         "spec, or the model's folder") from None


def _read_names(path: Path) -> list[str]:
    if not path.is_file():
        raise AmuroError(f"revisions file {path} does not exist")
    return [line.split("#")[0].strip() for line in path.read_text().splitlines() if line.split("#")[0].strip()]


def checkpoints(model: str, names: list[str]) -> list[Checkpoint]:
    """The main pre-training trajectory's checkpoints among `names`, by step; `main` (the final model) is taken
    as the last step when it is listed."""
    found = {}
    for name in names:
        parsed = parse_revision(name)
        if parsed and not parsed["trajectory"]:
            found.setdefault(parsed["step"], Checkpoint(model, name, parsed["step"], parsed["tokens"]))
    return [found[step] for step in sorted(found)]


def select(model: str, names: list[str], *, revisions: list[str] | None = None, steps: list[int] | None = None,
           uniform: int | None = None, final: bool = False) -> list[Checkpoint]:
    """The checkpoints a run spec asks for, in step order, each once.

    revisions: explicit names, each checked against `names`; steps: the revisions whose parsed step is one of
    these; uniform: N checkpoints evenly spaced over the discovered list (by position, like the authors' pick),
    always including the first and the last; final: the `main` revision, at the last step.
    """
    ladder = checkpoints(model, names)
    by_name = {c.revision: c for c in ladder}
    by_step = {c.step: c for c in ladder}
    chosen: dict[str, Checkpoint] = {}
    for name in revisions or []:
        if name == FINAL:
            final = True
            continue
        if name not in names:
            raise AmuroError(f"revision {name!r} is not a branch of {model}{did_you_mean(name, names)}")
        parsed = parse_revision(name)
        if name not in by_name and not parsed:
            raise AmuroError(f"revision {name!r} of {model} carries no step in its name")
        chosen[name] = by_name.get(name) or Checkpoint(model, name, parsed["step"], parsed["tokens"],
                                                       parsed["trajectory"])
    for step in steps or []:
        if step not in by_step:
            near = min(by_step, key=lambda s: abs(s - step)) if by_step else None
            hint = f" (nearest: {by_step[near].revision})" if near is not None else ""
            raise AmuroError(f"no revision of {model} is at step {step}{hint}")
        chosen[by_step[step].revision] = by_step[step]
    if uniform:
        if not ladder:
            raise AmuroError(f"{model} has no revisions with a step in their name")
        n = min(uniform, len(ladder))
        for i in sorted({round(k * (len(ladder) - 1) / max(n - 1, 1)) for k in range(n)}):
            chosen[ladder[i].revision] = ladder[i]
    if final:
        if not ladder:
            raise AmuroError(f"cannot tell the step of {model}'s final revision: no revision names a step")
        last = ladder[-1]
        if FINAL in names:  # the final model is the last checkpoint: keep one of the two names unless both asked
            if last.revision not in (revisions or []):
                chosen.pop(last.revision, None)
            chosen[FINAL] = Checkpoint(model, FINAL, last.step, last.tokens)
        elif Path(model).is_dir():  # a local folder: its last revision sub-folder is the final model
            chosen[last.revision] = last
        else:
            raise AmuroError(f"{model} has no {FINAL!r} revision")
    if not chosen:
        raise AmuroError(f"the run spec selects no checkpoint of {model}")
    return sorted(chosen.values(), key=lambda c: (c.step, c.revision == FINAL))
