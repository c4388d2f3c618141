"""Training rows for `training/sft.py`, rendered by the same templates the `amuro_*` lm-eval tasks use."""

from __future__ import annotations

from amuro.data import load_split
from amuro.errors import AmuroError
from amuro.registry import SETS, check_format, get_set
from amuro.templates import render, target_delimiter

# The paper's learning rates (REFERENCE_STUDY §5): 2e-7 for xsum, 2e-6 for every other training set and Tulu.
PAPER_LEARNING_RATE = {"xsum": 2e-7}
DEFAULT_LEARNING_RATE = 2e-6


def paper_learning_rate(set_name: str) -> float:
    return PAPER_LEARNING_RATE.get(set_name, DEFAULT_LEARNING_RATE)


def sft_rows(set_name: str, fmt: str = "default", max_examples: int | None = 6000, seed: int = 42,
             data_dir=None) -> list[dict]:
    """Prompt/completion rows of a set's training split, shuffled with `seed` and cut to `max_examples`.

    The shuffle is `datasets.Dataset.shuffle(seed)`'s permutation (numpy's default_rng), so with the Hub's row
    order the subset is the authors' `shuffle(seed=42).select(range(6000))`. The completion starts with the
    template's target delimiter: nothing after a prompt that ends in a space (TRL then puts the merged
    space+word token in the loss, as the authors' re-tokenised prompt did), one space otherwise.
    """
    import numpy as np

    ts, fmt = get_set(set_name), check_format(fmt)
    if not ts.train_split:
        trainable = ", ".join(n for n, s in SETS.items() if s.train_split)
        raise AmuroError(f"set {set_name!r} has no training split; sets that do: {trainable}")
    rows = load_split(set_name, ts.train_split, data_dir)
    order = np.random.default_rng(seed).permutation(len(rows))[:max_examples]
    delimiter = target_delimiter(set_name, fmt)
    out = []
    for i in order:
        try:
            ex = render(set_name, fmt, rows[i])
        except AmuroError as e:
            raise AmuroError(f"{set_name}/{ts.train_split} row {i}: {e}") from None
        out.append({"prompt": ex.prompt, "completion": delimiter + ex.target})
    if not out:
        raise AmuroError(f"set {set_name!r}: no training examples")
    return out
