"""What the generated `amuro_*` lm-eval tasks call (through `lm_eval_tasks/amuro_tasks/utils.py`).

- `load_task_dataset`: lm-eval's `custom_dataset`. It loads the scored split and the demonstration split of a set,
  renders every row in the task's prompt format (`templates.render`) and stores the result in `amuro_*` columns
  that the YAMLs read. For classification sets it also computes, per document, the text of each label's first
  subtoken as the model's tokenizer splits it right after the prompt (`amuro_tp_choices`): lm-eval then scores
  exactly TokenProb with plain `--model hf` (one-token continuations share one forward pass).
- `FewshotSampler`, by the task metadata's `amuro_fewshot` mode: `shared` (default), one seeded draw of k
  demonstrations (`--fewshot_random_seed`) from the demonstration split, the same for every document of a task (as
  OLMES and MMLU do; what lets `--model amuro-hf` run the prefix once); `random`, lm-eval's seeded sampler, a new
  draw per document; `paper`, the authors' demonstrations: the first k rows of the scored split, scored rows
  included, and for the harness format catwalk's draw per document index (`amuro.eval.catwalk`).
- The other task options (`amuro.tasks.options`): where QQP/STS-B are scored, RTE's label rule, the harness
  prompts' dialect (lm-eval's or catwalk's).
- `HarnessTask` (`amuro.eval.catwalk`): the harness tasks' class, with catwalk's scores beside lm-eval's.
- `TokenProbTask`: the TokenProb tasks' class; under `--apply_chat_template` it recomputes those choices after the
  chat-formatted context, or refuses in one line where lm-eval cannot score a label right after it.
- `rougeL`: Rouge-L F-measure from `rouge-score`, no stemming (the authors' `evaluate` defaults).

Importing this module (lm-eval does when it reads an amuro task's YAML, before it loads any) also drops lm-eval's
per-task hint "<task>: Custom kwargs can be passed to `--metadata` ..." for the amuro tasks (`_AmuroKwargsHint`): it
is printed for every task with a custom loader, once per amuro task, and reads as if it were about the user's
command. The amuro tasks' options are documented in `amuro.tasks.options`; other tasks' hints stay.
"""

from __future__ import annotations

import functools
import logging
import warnings
from random import Random

from lm_eval.api.samplers import ContextSampler
from lm_eval.api.task import ConfigurableTask

from amuro.errors import AmuroError, install_excepthook
from amuro.eval.catwalk import catwalk_draw, continuation_tokens, fingerprint
from amuro.eval.scoring import first_subtoken_choices, rouge_l
from amuro.tasks.data import load_split, locate
from amuro.tasks.options import TaskOptions
from amuro.tasks.registry import CLASSIFICATION, HARNESS, get_set, task_kind
from amuro.tasks.templates import render_rows, target_delimiter

log = logging.getLogger("amuro")
install_excepthook()


class _AmuroKwargsHint(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("amuro") and "Custom kwargs can be passed to `--metadata`" in message)


def quiet_kwargs_hint() -> None:
    """Keep lm-eval's custom-kwargs hint for the amuro tasks out of the console (once per process)."""
    task_logger = logging.getLogger("lm_eval.api.task")
    if not any(isinstance(f, _AmuroKwargsHint) for f in task_logger.filters):
        task_logger.addFilter(_AmuroKwargsHint())


quiet_kwargs_hint()


@functools.lru_cache(maxsize=8)
def load_tokenizer(name: str, revision: str | None = None, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name, revision=revision, trust_remote_code=trust_remote_code)
    except Exception as e:
        raise AmuroError(f"cannot load the tokenizer of {name!r}"
                         + (f" at revision {revision!r}" if revision else "") + f": {str(e).splitlines()[0]}") from e


def _flag(value) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "yes")


def _render_rows(ts, fmt: str, split: str, data_dir: str | None, options: TaskOptions, joins: tuple) -> list[dict]:
    """The rows of one split, rendered: `amuro_*` columns the YAMLs read, beside the row's own columns."""
    authors = options.splits == "authors"
    rows = load_split(ts.name, split, data_dir, authors)
    prompt_join, strip_demo = joins
    out = []
    for i, (row, ex) in enumerate(zip(rows, render_rows(ts.name, fmt, rows, locate(ts.name, split, data_dir, authors),
                                                        options))):
        # A demonstration is `amuro_demo_prompt + amuro_demo_target + fewshot_delimiter` (the YAMLs' few-shot target
        # delimiter is ""): our modes put the task's target delimiter in it; the authors' join has none (io:
        # `...year.contradiction`); catwalk's strips both sides and puts one space between them.
        demo_prompt = (ex.prompt.strip() if strip_demo else ex.prompt) + prompt_join
        rendered = {"amuro_prompt": ex.prompt, "amuro_demo_prompt": demo_prompt, "amuro_target": ex.target,
                    "amuro_index": i, "amuro_key": fingerprint(row, ts.columns)}
        if ex.choices is not None:
            answer = ex.choices[ex.label]
            rendered.update(amuro_choices=list(ex.choices), amuro_label=ex.label, amuro_gold=list(ex.gold),
                            amuro_demo_target=answer.strip() if strip_demo else answer)
        out.append({**row, **rendered})
    return out


def task_tokenizer(task_set: str, prompt_format: str, *, pretrained=None, tokenizer=None, revision=None,
                   trust_remote_code=None, **_metadata):
    """The model's tokenizer, named in the task metadata (`--model_args`): TokenProb depends on it."""
    name = tokenizer if isinstance(tokenizer, str) else pretrained
    if not isinstance(name, str):
        raise AmuroError(
            f"amuro_{task_set}_{prompt_format} needs the model's tokenizer (TokenProb, or catwalk's per-token "
            "score): run it with --model_args pretrained=..., or pass TaskManager(metadata={'pretrained': ...})")
    return load_tokenizer(name, revision, bool(_flag(trust_remote_code)))


def load_task_dataset(task_set: str, prompt_format: str, *, pretrained=None, tokenizer=None, revision=None,
                      trust_remote_code=None, add_bos_token=None, amuro_data_dir: str | None = None, **metadata):
    """lm-eval `custom_dataset`: {scored split, demonstration split} of one set, rendered in one format.

    Keyword arguments come from the task's `dataset_kwargs` and metadata; `lm_eval` puts `--model_args` and
    `--metadata` there, so the model's tokenizer (`tokenizer` or `pretrained`, at `revision`) and the task options
    (`amuro.tasks.options`) are known here.
    """
    import datasets

    ts = get_set(task_set)
    options = TaskOptions.from_metadata(**metadata)
    harness = prompt_format == HARNESS
    draw, join, strip = options.demonstrations(harness, target_delimiter(task_set, prompt_format))
    joins = (join, strip)
    eval_rows = _render_rows(ts, prompt_format, ts.eval_split, amuro_data_dir, options, joins)
    meta = dict(pretrained=pretrained, tokenizer=tokenizer, revision=revision, trust_remote_code=trust_remote_code)
    if task_kind(task_set, prompt_format) == CLASSIFICATION:
        tok = task_tokenizer(task_set, prompt_format, **meta)
        tp, n_fallback = first_subtoken_choices(
            tok, [r["amuro_prompt"] for r in eval_rows], ts.label_words,
            target_delimiter(task_set, prompt_format), add_bos_token=_flag(add_bos_token))
        if n_fallback:
            warnings.warn(f"amuro_{task_set}_{prompt_format}: for {n_fallback} of {len(eval_rows)} documents the "
                          "first subtoken of a label cannot be written as text; those score the whole label word")
        for row, choices in zip(eval_rows, tp):
            row["amuro_tp_choices"] = choices
    if harness:  # catwalk's per-token score counts each option's tokens
        tok = task_tokenizer(task_set, prompt_format, **meta)
        for row in eval_rows:
            row["amuro_choice_tokens"] = continuation_tokens(tok, row["amuro_choices"])

    splits = {ts.eval_split: eval_rows}
    if draw == "paper":
        # The authors' demonstrations: the first k rows of the scored split itself, not excluded from scoring.
        splits[ts.fewshot_split] = eval_rows
    elif ts.fewshot_split != ts.eval_split:
        splits[ts.fewshot_split] = _render_rows(ts, prompt_format, ts.fewshot_split, amuro_data_dir, options, joins)
    # else (gpt3nli, a single split): the sampler excludes the scored row from its demonstrations.
    for rows in splits.values():  # what FewshotSampler reads
        for row in rows:
            row["amuro_fewshot"] = draw
    return datasets.DatasetDict({split: datasets.Dataset.from_list(rows) for split, rows in splits.items()})


class FewshotSampler(ContextSampler):
    """The demonstrations of the few-shot mode the rows carry (`amuro_fewshot`, see the module docstring)."""

    document = None  # the document being prompted, set by amuro.eval.catwalk.HarnessTask (catwalk's draw)

    def __init__(self, df=None, *, rnd=None, **kwargs):
        super().__init__(df, rnd=rnd, **kwargs)
        self.seed = rnd

    def set_rnd(self, rnd):  # lm-eval passes --fewshot_random_seed here
        self.seed = rnd
        return super().set_rnd(rnd)

    def sample(self, n, eval_doc=None, df=None, **kwargs):
        pool = self.fewshot_docs()
        mode = pool[0].get("amuro_fewshot") if pool else None
        if mode not in ("paper", "shared", "catwalk") or n == 0:
            return super().sample(n, eval_doc=eval_doc, df=df, **kwargs)
        if mode == "catwalk":
            doc = eval_doc or self.document
            return catwalk_draw(pool, n, doc["amuro_index"], doc["amuro_key"])
        # lm-eval passes eval_doc only when demonstrations come from the scored split (gpt3nli): one spare row
        # stands in for the document itself, so no document is its own demonstration.
        spare = 1 if eval_doc is not None and mode == "shared" else 0
        if n + spare > len(pool):
            raise AmuroError(f"{n} demonstrations requested but the split has only {len(pool)} rows")
        if mode == "paper":
            return pool[:n]
        draw = Random(self.seed).sample(pool, n + spare)  # the same draw for every document of the task
        return [d for d in draw if d != eval_doc][:n]


class TokenProbTask(ConfigurableTask):
    """The class of the TokenProb tasks (YAML `class:`). Under `--apply_chat_template` lm-eval wraps the context in
    the chat template and drops the target delimiter, so the choices the loader computed after the raw prompt would
    split into several tokens; here each label's first subtoken is recomputed after the context the model reads."""

    def __init__(self, config=None, **kwargs):
        super().__init__(config={k: v for k, v in (config or {}).items() if k != "class"}, **kwargs)

    def construct_requests(self, doc, ctx, **kwargs):
        if kwargs.get("apply_chat_template"):
            meta = {**(self.config.metadata or {}), **(self.config.dataset_kwargs or {})}
            tok = task_tokenizer(**meta)
            (choices,), n_fallback = first_subtoken_choices(tok, [ctx], doc["amuro_choices"], "",
                                                            add_bos_token=_flag(meta.get("add_bos_token")))
            if n_fallback:
                base = ctx.rstrip()
                merged = tok(ctx)["input_ids"][:len(tok(base)["input_ids"])] != tok(base)["input_ids"]
                why = (f"the template's trailing {ctx[len(base):]!r} merges into the token before it, and lm-eval "
                       "scores the context without it" if merged else
                       f"the first subtoken of a label in {doc['amuro_choices']} cannot be written as text")
                raise AmuroError(f"{self.config.task}: TokenProb refused under --apply_chat_template: {why}; "
                                 "run without --apply_chat_template")
            doc = {**doc, "amuro_tp_choices": choices}
        return super().construct_requests(doc, ctx, **kwargs)


def rougeL(references, predictions):  # noqa: N802 - the metric's name in lm-eval's tables
    return rouge_l(references[0], predictions[0])
