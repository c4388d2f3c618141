"""Training rows for `training/sft.py`, rendered by the same templates the `amuro_*` lm-eval tasks use."""

from __future__ import annotations

from dataclasses import dataclass, field

from amuro.tasks.data import data_dir, load_hub, load_split, locate, read_jsonl, split_path
from amuro.errors import AmuroError
from amuro.tasks.registry import INSTRUCTION_TUNING, SETS, check_format, get_set
from amuro.tasks.templates import render_rows, target_delimiter

# Tulu v2's chat format as the authors trained on it (docs/study.md §4): <|system|>/<|user|>/<|assistant|> lines,
# every message's content stripped of surrounding whitespace, an EOS after each assistant turn, then a newline
# unless it is the last message. The {% generation %} markers tell TRL which tokens are the assistant's, the only
# ones in the loss: the reply, its EOS and, after a non-final reply, the newline (the authors masked only the
# other turns and the `<|assistant|>\n` prefix).
TULU_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{{ '<|system|>\\n' + message['content'] | trim + '\\n' }}"
    "{%- elif message['role'] == 'user' -%}{{ '<|user|>\\n' + message['content'] | trim + '\\n' }}"
    "{%- elif message['role'] == 'assistant' -%}{{ '<|assistant|>\\n' }}"
    "{%- generation -%}{{ message['content'] | trim + eos_token }}{{ '\\n' if not loop.last else '' }}"
    "{%- endgeneration -%}"
    "{%- endif -%}"
    "{%- if loop.last and add_generation_prompt -%}{{ '<|assistant|>\\n' }}{%- endif -%}"
    "{%- endfor -%}"
)


@dataclass(frozen=True)
class TrainingSource:
    """A training-only dataset, described with the attributes `amuro.tasks.data` reads from a registry TaskSet."""

    name: str
    hf_path: str
    hf_name: str | None
    columns: dict
    used: tuple[str, ...]
    hf_kwargs: dict = field(default_factory=dict)


TULU = TrainingSource(INSTRUCTION_TUNING, "allenai/tulu-v2-sft-mixture", None,
                      {"dataset": str, "id": str, "messages": list}, ("messages",))
ROLES = ("system", "user", "assistant")

# The paper's learning rates (docs/study.md §4): 2e-7 for xsum, 2e-6 for every other training set and Tulu.
PAPER_LEARNING_RATE = {"xsum": 2e-7}
DEFAULT_LEARNING_RATE = 2e-6


def paper_learning_rate(set_name: str) -> float:
    return PAPER_LEARNING_RATE.get(set_name, DEFAULT_LEARNING_RATE)


def seeded_subset(n_rows: int, size: int | None, seed: int) -> list[int]:
    """Row indices of a seeded shuffle cut to `size`: `datasets.Dataset.shuffle(seed)`'s permutation (numpy's
    default_rng), so with the Hub's row order this is the authors' `shuffle(seed=42).select(range(size))`."""
    import numpy as np

    return np.random.default_rng(seed).permutation(n_rows)[:size].tolist()


def sft_rows(set_name: str, fmt: str = "default", max_examples: int | None = 6000, seed: int = 42,
             root=None) -> list[dict]:
    """Prompt/completion rows of a set's training split, shuffled with `seed` and cut to `max_examples`
    (`seeded_subset`). The completion starts with the template's target delimiter: nothing after a prompt that
    ends in a space (TRL then puts the merged space+word token in the loss, as the authors' re-tokenised prompt
    did), one space otherwise.
    """
    ts, fmt = get_set(set_name), check_format(fmt)
    if not ts.train_split:
        trainable = ", ".join(n for n, s in SETS.items() if s.train_split)
        raise AmuroError(f"set {set_name!r} has no training split; sets that do: {trainable}")
    rows = load_split(set_name, ts.train_split, root)
    order = seeded_subset(len(rows), max_examples, seed)
    where = locate(set_name, ts.train_split, root)
    delimiter = target_delimiter(set_name, fmt)
    examples = render_rows(set_name, fmt, [rows[i] for i in order], lambda k: where(order[k]))
    if not examples:
        raise AmuroError(f"set {set_name!r}: no training examples")
    return [{"prompt": ex.prompt, "completion": delimiter + ex.target} for ex in examples]


def _check_messages(messages: list) -> None:
    for turn in messages:
        if not (isinstance(turn, dict) and turn.get("role") in ROLES and isinstance(turn.get("content"), str)):
            raise AmuroError(f"each message must be {{'role': {'|'.join(ROLES)}, 'content': str}}, got {turn!r:.80}")
    if not any(turn["role"] == "assistant" for turn in messages):
        raise AmuroError("a messages row without an assistant turn has nothing to learn")


def tulu_rows(fraction: float = 0.05, seed: int = 42, root=None) -> list[dict]:
    """A seeded `fraction` of Tulu v2 (`messages` rows), from the Hub or `AMURO_DATA_DIR/tulu/train.jsonl`: the
    first int(fraction * rows) of the seeded shuffle, as the authors cut it (they subsampled 5% with seed 42; the
    fraction they trained on is not recoverable)."""
    if not 0.0 < fraction <= 1.0:
        raise AmuroError(f"--fraction must be in (0, 1], got {fraction}")
    base = data_dir(root)
    rows = read_jsonl(split_path(base, INSTRUCTION_TUNING, "train"), TULU) if base else load_hub(TULU, "train")
    order = seeded_subset(len(rows), int(fraction * len(rows)), seed)
    if not order:
        raise AmuroError(f"--fraction {fraction} of {len(rows)} Tulu rows is no row at all")
    out = []
    for i in order:
        try:
            _check_messages(rows[i]["messages"])
        except AmuroError as e:
            raise AmuroError(f"tulu/train row {i} (id {rows[i].get('id')!r}): {e}") from None
        out.append({"messages": [{"role": t["role"], "content": t["content"]} for t in rows[i]["messages"]]})
    return out
