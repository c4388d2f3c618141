"""Each knob of the ledger (amuro.study.ledger) read off the code paths a run spec selects: the lm-eval arguments,
the rendered rows, the training flags as `amuro.train.sft` parses them."""

from __future__ import annotations

import functools
import warnings

from amuro.study.ledger import CATWALK_DRAW, CATWALK_PROMPTS, FIRST_K, LENIENT, WHOLE


def _tokenprob(spec) -> str:
    rule = spec.evaluate.model_args.get("tokenprob", "first") if spec.evaluate.model == "amuro-hf" else "first"
    return LENIENT if rule == "paper" else "first sub-token"


def _long_prompts(spec) -> str:
    amuro_hf = spec.evaluate.model == "amuro-hf"
    return WHOLE if amuro_hf and spec.evaluate.model_args.get("long_prompts") == "whole" else "cut from the left"


def _draw_text(draw: str) -> str:
    return {"paper": FIRST_K, "catwalk": CATWALK_DRAW, "random": "a seeded draw per document from another split",
            "shared": "one seeded draw from another split, shared"}[draw]


def _sft_demonstrations(spec) -> str:
    return _draw_text(spec.task_options().demonstrations(False, " ")[0])


def _sft_join(spec) -> str:
    join = spec.task_options().demonstrations(False, " ")[1]
    return "prompt + completion + '\\n'" if join == "" else "prompt + delimiter + completion + '\\n'"


def _generation_stop(spec) -> str:
    until = (spec.evaluate.gen_kwargs or {}).get("until")
    return "where a next demonstration begins" if until is None else "none (60 new tokens)" if until == [] else \
        f"at {until!r}"


def _qqp_stsb(spec) -> str:
    from amuro.tasks.data import authors_source
    from amuro.tasks.registry import get_set

    authors = spec.task_options().splits == "authors"
    sources = [authors_source(s, get_set(s).eval_split, authors) for s in ("qqp", "stsb")]
    if all(sources):
        return ", ".join(f"{s.hf_path} {s.split}" for s in sources) + " (label -1 on every row)"
    return "GLUE validation (labelled)"


def _rte(spec) -> str:
    from amuro.tasks.registry import NLI_LABELS
    from amuro.tasks.templates import render

    row = {"sentence1": "a", "sentence2": "b", "label": 1, "idx": 0}  # GLUE RTE's not_entailment
    gold = render("rte", "default", row, spec.task_options()).gold
    return " or ".join(NLI_LABELS[g] for g in gold) + (" only" if len(gold) == 1 else "")


def _harness_demonstrations(spec) -> str:
    draw = spec.task_options().demonstrations(True, " ")[0]
    return "one seeded draw from train, shared" if draw == "shared" else _draw_text(draw)


def _harness_prompts(spec) -> str:
    from amuro.tasks.templates import render

    options = spec.task_options()
    row = {"question": "q", "support": "", "correct_answer": "a", "distractor1": "b", "distractor2": "c",
           "distractor3": "d"}
    stripped = not render("sciq_mc", "harness", row, options).prompt.startswith("\n")
    joined = options.demonstrations(True, " ")[2]
    return CATWALK_PROMPTS if stripped and joined else "lm-eval 0.4's tasks and join" if not (stripped or joined) \
        else f"SciQ {'stripped whole' if stripped else 'support stripped'}, {'catwalk' if joined else 'lm-eval'} join"


def _harness_metric(spec) -> str:
    from amuro.study.results import rows_from_lm_eval
    from amuro.tasks.registry import HARNESS, SETS, task_name

    sets = [s for s in SETS.values() if s.harness]
    metrics = {m: 0.5 for m in ("acc", "acc_norm", "acc_per_token", "acc_per_char", "acc_uncond")}
    results = {"amuro": {"model": "m", "revision": "", "step": 0, "tokens": None, "train": "base",
                         "provenance": spec.provenance()},
               "results": {task_name(s.name, HARNESS): {f"{m},none": v for m, v in metrics.items()} for s in sets},
               "n-shot": {task_name(s.name, HARNESS): 0 for s in sets},
               "n-samples": {task_name(s.name, HARNESS): {"effective": 1} for s in sets}}
    by_set: dict[str, list[str]] = {}
    for row in rows_from_lm_eval(results, ""):
        by_set.setdefault(row["eval"], []).append(row["metric"])
    written: dict[str, list[str]] = {}
    for s in sets:  # registry order; a row's first metric is the one the report reads
        written.setdefault(by_set[s.name][0], []).append(s.name)
    if len(written) == 1:
        return f"{next(iter(written))}: all six"
    return "; ".join(f"{m}: {', '.join(names)}" for m, names in written.items())


def _dtype(spec) -> str:
    kinds = {"BASE": spec.eval_dtype("base"), "SFT": spec.eval_dtype("mnli"), "Tulu": spec.eval_dtype("tulu")}
    return next(iter(kinds.values())) if len(set(kinds.values())) == 1 else \
        ", ".join(f"{k} {v}" for k, v in kinds.items())


def _parsed_training(spec):
    """The training arguments `amuro.train.sft` parses from the flags a sweep gives an SFT job of this spec."""
    import dataclasses

    from amuro.study.sweep import training_flags
    from amuro.train.sft import SFT_ONLY, TULU_ONLY

    # The knobs observed here apply to every training set; a set-specific flag (Tulu's fraction) would be refused.
    common = {k: v for k, v in spec.training.items() if k not in SFT_ONLY + TULU_ONLY}
    return _parse(tuple(training_flags(dataclasses.replace(spec, training=common))))


@functools.lru_cache(maxsize=8)
def _parse(flags: tuple[str, ...]):
    from amuro.train.sft import parse

    with warnings.catch_warnings():  # transformers' deprecation notes about TRL's own defaults
        warnings.simplefilter("ignore")
        return parse(["--model_name_or_path", "m", "--dataset_name", "mnli", "--output_dir", "ledger-probe", *flags])


def _loss(spec) -> str:
    averaging = _parsed_training(spec)[0].loss_averaging
    return "per example, averaged over the step" if averaging == "per_example" else "per token (TRL)"


def _clipping(spec) -> str:
    norm = _parsed_training(spec)[1].max_grad_norm
    return f"{norm:.1f}" if norm else "none"


def _rotary(spec) -> str:
    return "rounded to bf16" if _parsed_training(spec)[0].round_rotary_to_bf16 else "exact (fp32)"


def _batch(spec) -> str:
    args = _parsed_training(spec)[1]
    return f"{args.total_batch_size} examples per step" + (", padding-free" if args.padding_free else ", padded")


def _tulu_fraction(spec) -> str:
    from amuro.train.sft import SFT_DEFAULTS

    return f"{spec.training.get('fraction', SFT_DEFAULTS['fraction']):.0%} (seed {spec.training.get('seed', 42)})"


def _score(spec) -> str:
    import inspect

    from amuro.report.stats import bootstrap_ci

    seeded = inspect.signature(bootstrap_ci).parameters["seed"].default is not None
    return "plain mean; seeded CIs" if seeded else "plain mean; unseeded CIs"


def _table6(spec) -> str:
    from amuro.report.cells import LEARNED_IN_PT, PAPER_SLOPE_STEP

    twice = LEARNED_IN_PT.count(("sciq_mc", "tulu")) == 2
    main = PAPER_SLOPE_STEP.get(738020)
    return f"SciQ counted {'twice' if twice else 'once'}; main at step {main:,}" if main else "as the table says"


def _datasets(spec) -> str:
    from amuro.tasks.registry import get_set

    xsum = get_set("xsum")
    legacy = xsum.hf_kwargs.get("revision") != "refs/convert/parquet"
    return "legacy ids" if legacy else "ids that load under datasets 5.x"


def _training(spec) -> str:
    from amuro.train.trainer import PerExampleLossTrainer, SFTTrainer

    return "TRL SFTTrainer" if issubclass(PerExampleLossTrainer, SFTTrainer) and \
        SFTTrainer.__module__.startswith("trl") else "another trainer"


OBSERVERS = {
    "tokenprob": _tokenprob, "long_prompts": _long_prompts, "sft_demonstrations": _sft_demonstrations,
    "sft_join": _sft_join, "generation_stop": _generation_stop, "qqp_stsb": _qqp_stsb, "rte": _rte,
    "harness_demonstrations": _harness_demonstrations, "harness_prompts": _harness_prompts,
    "harness_metric": _harness_metric, "dtype": _dtype, "loss": _loss, "clipping": _clipping, "rotary": _rotary,
    "batch": _batch, "tulu_fraction": _tulu_fraction, "score": _score, "table6": _table6, "datasets": _datasets,
    "training": _training,
}
