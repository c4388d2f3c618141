"""The six instruction-tuning sets as catwalk v1.0.0rc0 scored them for the paper (allenai/catwalk at that tag).

The `amuro_<set>_harness` tasks are lm-eval multiple-choice tasks of class `HarnessTask`. Besides lm-eval's `acc`
and `acc_norm` they report catwalk's ranked-classification scores (`catwalk/metrics/accuracy.py`,
`RankedClassificationMetrics`), each the argmax over the answer options, ties to the first:
- `acc` (catwalk's `acc_raw`): the option's summed log-probability after the prompt;
- `acc_per_token`: that sum divided by the option's token count, the continuation `" " + option` tokenized on its
  own without special tokens (`catwalk/models/language_model.py`, `_run_loglikelihood`);
- `acc_per_char`: the sum divided by the continuation's characters, its leading space included;
- `acc_uncond`: the sum minus the option's summed log-probability after the unconditioned prompt `Answer:` alone,
  no demonstrations (`catwalk/dependencies/lm_eval/base.py`, `MultipleChoiceTask.unconditioned_prompt`).
One set of log-likelihood requests serves them all, plus one unconditioned request per option.

With the authors' demonstrations (`amuro_fewshot: paper`), document i of the scored split gets catwalk's draw
(`catwalk/task.py`, `get_fewshot_instances`, called with `random_seed=i` by `predict_chunk_rank_classification`):
`random.Random(i).sample(pool, k + 1)` over the demonstration split in its own order, the document itself dropped,
the first k kept (`catwalk_draw`).
"""

from __future__ import annotations

import json
from random import Random

import numpy as np
from lm_eval.api.instance import Instance
from lm_eval.api.registry import register_metric
from lm_eval.api.task import ConfigurableTask

from amuro.errors import AmuroError
from amuro.tasks.registry import CATWALK_METRICS

UNCONDITIONED = "Answer:"


def _passthrough(items):
    return items


for _name in CATWALK_METRICS:  # lm-eval finds a task's metrics by name in its registry
    register_metric(metric=_name, higher_is_better=True, output_type="multiple_choice",
                    aggregation="mean")(_passthrough)


def fingerprint(row: dict, columns) -> str:
    """What catwalk's `det_hash` compares rows by: their content (here, the dataset's own columns)."""
    return json.dumps({c: row[c] for c in columns if c in row}, sort_keys=True, default=str)


def catwalk_draw(pool: list, n: int, index: int, document_key: str) -> list:
    """catwalk's demonstrations of document `index`: Random(index).sample(pool, n + 1), the document dropped (rows
    carry `amuro_key`, their fingerprint), the first n."""
    if n + 1 > len(pool):
        raise AmuroError(f"{n} demonstrations drawn as catwalk does need {n + 1} rows, the split has {len(pool)}")
    return [row for row in Random(index).sample(pool, n + 1) if row["amuro_key"] != document_key][:n]


def continuation_tokens(tok, options: list[str]) -> list[int]:
    """Each option's token count as catwalk counted it: `" " + option` tokenized alone, without special tokens;
    for tokenizers that treat a word at the start as space-prefixed (Llama's), catwalk drops the space first."""
    space = tok.tokenize("A")[0] != tok.tokenize(" A")[-1]
    texts = [f" {o}" if space else o for o in options]
    return [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]


def catwalk_scores(lls, lls_uncond, tokens, options, gold: int) -> dict:
    """catwalk's per-document accuracies from the options' log-likelihoods (np.argmax: ties to the first)."""
    lls = np.asarray(lls, dtype=float)
    chars = np.array([len(f" {o}") for o in options], dtype=float)
    scores = {"acc_per_token": lls / np.asarray(tokens, dtype=float), "acc_per_char": lls / chars,
              "acc_uncond": lls - np.asarray(lls_uncond, dtype=float)}
    return {name: float(int(np.argmax(s)) == gold) for name, s in scores.items()}


class HarnessTask(ConfigurableTask):
    """The harness tasks' class (YAML `class:`): lm-eval's multiple-choice task plus catwalk's scores, and the
    document handed to the few-shot sampler (lm-eval gives it only when demonstrations come from the scored
    split; catwalk's draw needs its index)."""

    def __init__(self, config=None, **kwargs):
        super().__init__(config={k: v for k, v in (config or {}).items() if k != "class"}, **kwargs)

    def fewshot_context(self, doc, *args, **kwargs):
        if getattr(self, "sampler", None) is not None:
            self.sampler.document = doc
        return super().fewshot_context(doc, *args, **kwargs)

    def construct_requests(self, doc, ctx, **kwargs):
        requests = super().construct_requests(doc, ctx, **kwargs)
        kwargs.pop("apply_chat_template", None)
        kwargs.pop("chat_template", None)
        options = self.doc_to_choice(doc)
        return requests + [Instance(request_type="loglikelihood", doc=doc, arguments=(UNCONDITIONED, f" {o}"),
                                    idx=len(requests) + i, **kwargs) for i, o in enumerate(options)]

    def process_results(self, doc, results):
        options = self.doc_to_choice(doc)
        n = len(options)
        out = super().process_results(doc, results[:n])
        lls = [r[0] for r in results[:n]]
        out.update(catwalk_scores(lls, [r[0] for r in results[n:]], doc["amuro_choice_tokens"], options,
                                  self.doc_to_target(doc)))
        return out
