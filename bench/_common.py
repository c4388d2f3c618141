"""What the benchmarks share: the device line, each profile's evaluation setting, the physical limit of a speed-up
(token-forwards) and the side-by-side table of rates, ratios and the fraction of that limit reached."""

from __future__ import annotations

PROFILES = ("paper", "corrected")


def device_label(device: str) -> str:
    import torch

    return torch.cuda.get_device_name() if device.startswith("cuda") else \
        f"{device} ({torch.get_num_threads()} threads)"


def profile_setting(name: str) -> dict:
    """What a study profile runs the evaluation with (amuro.study.profiles): amuro-hf's model_args, the few-shot
    mode and the generation kwargs."""
    from amuro.study.profiles import get_profile

    p = get_profile(name)
    return {"model_args": {"tokenprob": p.tokenprob, "long_prompts": p.long_prompts}, "fewshot": p.tasks.fewshot,
            "gen_kwargs": p.gen_kwargs}


def token_forwards(contexts: list[list[int]], authors_new: list[int] = (), ours_new: list[int] = ()) -> tuple[int, int]:
    """(the authors', ours): tokens through the model when every document runs whole, and when documents sharing a
    prefix run it once (`amuro.eval.prefix.shared_prefix_groups`, as `--model amuro-hf` groups them), plus the tokens
    each side generates. Their ratio is the most prefix sharing and batching can buy: the ideal speed-up."""
    from amuro.eval.prefix import MIN_SHARED_PREFIX, shared_prefix_groups

    own = {}  # context -> the tokens it runs beyond a shared prefix
    prefixes = 0
    for length, members in shared_prefix_groups(list({tuple(c) for c in contexts}), MIN_SHARED_PREFIX):
        prefixes += length
        own.update((m, len(m) - length) for m in members)
    return sum(map(len, contexts)) + sum(authors_new), prefixes + sum(own[tuple(c)] for c in contexts) + sum(ours_new)


def print_ratios(docs: int, times: dict[str, list[float]], labels: dict[str, str], notes: dict[str, str] = None,
                 ideal: dict[str, float] = None):
    """One line per side: documents/s of its best round, its ratio to the authors' (the first side) and, where the
    side's ideal speed-up is given, the fraction of it reached."""
    authors_rate = docs / min(times["authors"])
    for name, label in labels.items():
        rate = docs / min(times[name])
        ratio = rate / authors_rate
        limit = f"  limit {ideal[name]:5.2f}x, reached {ratio / ideal[name]:4.0%}" if ideal and name in ideal else ""
        print(f"{label:<48} {rate:8.2f} docs/s {min(times[name]):7.2f} s  ratio to authors {ratio:5.2f}x{limit}"
              + (f"  {notes[name]}" if notes and name in notes else ""))
