"""`--model amuro-hf`: lm-eval's HF model with a choice of TokenProb rule, and prefix reuse.

    lm_eval --model amuro-hf --model_args pretrained=allenai/OLMo-1B-hf,tokenprob=paper --tasks amuro_mnli_default

Inputs that share a long token prefix (the few-shot demonstrations every document of a task gets in the default
`shared` and the authors' `paper` few-shot modes) run that prefix once and continue from a copy of its KV cache
(`amuro.eval.prefix`), for log-likelihoods and for greedy generation alike; the other inputs go through HFLM's
batched path. The results are what HFLM computes (tests compare them).

`tokenprob=`
- `first` (default): on `amuro_*` tasks each request is scored as the task wrote it (the TokenProb tasks' choices
  are already the labels' first subtokens, the multiple-choice sets score whole options); on any other task each
  multiple-choice continuation is cut to its first token, i.e. TokenProb for any task (the paper's §3.3 definition).
- `paper`: the authors' lenient rule on the TokenProb tasks (and any other task), reproduced exactly
  (docs/study.md §3): one forward pass over the prompt verbatim (its trailing space included; documents sharing a
  prefix run it once, the rest in batches, as under `first`), and the label owning
  the first of the highest-scoring candidate ids, where candidates are all subtoken ids, special tokens included, of
  every label and every space-prefixed label. Each choice's log-likelihood is the best log-probability among its
  own candidates. The multiple-choice sets keep their whole-option scores.
- `off`: plain HFLM (no rule, no prefix reuse).
Rolling log-likelihoods are never changed.

`long_prompts=` what happens to a prompt longer than the model's context (`max_length`, from its config):
- `left` (default): lm-eval's policy, the prompt's start is cut (the earliest demonstrations first);
- `whole`: the whole prompt reaches the model, past its trained positions, as the authors' runs fed OLMo-1B their
  4-shot summarization prompts (a model with learned absolute positions cannot take them and fails).
Either way each task logs once how many of its documents were longer than the context.
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np
import torch
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from lm_eval.models.utils import handle_stop_sequences, normalize_gen_kwargs, postprocess_generated_text
from lm_eval.models.utils_hf import stop_sequences_criteria
from tqdm import tqdm

from amuro.errors import AmuroError
from amuro.eval.prefix import MIN_SHARED_PREFIX, continuation_scores, generate_from_prefix, shared_prefix_groups
from amuro.eval.scoring import paper_candidates

TOKENPROB_MODES = ("first", "paper", "off")
LONG_PROMPTS = ("left", "whole")  # `truncation` is HFLM's own (tokenizer) flag
log = logging.getLogger("amuro")
GREEDY_KWARGS = {"do_sample", "temperature"}  # generation kwargs the shared path takes; others go to HFLM


def _amuro_doc(doc) -> bool:
    return isinstance(doc, dict) and "amuro_prompt" in doc


def _tokenprob_request(req) -> bool:
    """Whether a TokenProb rule applies: an amuro TokenProb task, or any task that is not amuro's."""
    return not _amuro_doc(req.doc) or "amuro_tp_choices" in req.doc


@register_model("amuro-hf")
class AmuroHFLM(HFLM):
    def __init__(self, tokenprob: str = "first", long_prompts: str = "left", **kwargs) -> None:
        if tokenprob not in TOKENPROB_MODES:
            raise AmuroError(f"unknown tokenprob={tokenprob!r}; known: {', '.join(TOKENPROB_MODES)}")
        if long_prompts not in LONG_PROMPTS:
            raise AmuroError(f"unknown long_prompts={long_prompts!r}; known: {', '.join(LONG_PROMPTS)}")
        super().__init__(**kwargs)
        self.tokenprob, self.long_prompts = tokenprob, long_prompts
        self.context_length = self.max_length  # the model's own (or --model_args max_length)
        self._counted: set[str] = set()

    def _count_long(self, requests, lengths) -> None:
        """Log once per task how many of its documents are longer than the context (`lengths`: per request)."""
        by_task: dict[str, tuple[set, set]] = {}
        for req, length in zip(requests, lengths):
            docs, long = by_task.setdefault(req.task_name, (set(), set()))
            docs.add(req.doc_id)
            if length > self.context_length:
                long.add(req.doc_id)
        for task, (docs, long) in by_task.items():
            if long and task not in self._counted:
                self._counted.add(task)
                what = ("given whole, past its trained positions (long_prompts=whole)" if self.long_prompts == "whole"
                        else "cut from the left (long_prompts=left)")
                log.warning("%s: %d of %d documents are longer than the model's %d-token context: %s", task,
                            len(long), len(docs), self.context_length, what)

    @contextlib.contextmanager
    def _room_for(self, longest: int):
        """HFLM cuts inputs longer than its max_length from the left: under long_prompts=whole it gets room for the
        longest (its auto batch size is then measured at that length too)."""
        saved = self._max_length
        if self.long_prompts == "whole":
            self._max_length = max(self.context_length, longest)
        try:
            yield
        finally:
            self._max_length = saved

    def _batch(self) -> int:
        return self.batch_size if isinstance(self.batch_size, int) and self.batch_size > 0 else 16

    def _autocast(self):  # as HFLM runs the model
        dtype = self.mixed_precision_dtype
        return torch.autocast(device_type=self.device.type, dtype=dtype, enabled=dtype is not None)

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        if self.tokenprob == "off":
            return super().loglikelihood(requests, disable_tqdm=disable_tqdm)
        paper = [i for i, r in enumerate(requests) if self.tokenprob == "paper" and _tokenprob_request(r)]
        results: list = [None] * len(requests)
        for i, res in zip(paper, self._paper_loglikelihood([requests[i] for i in paper], disable_tqdm)):
            results[i] = res
        rest = sorted(set(range(len(requests))) - set(paper))
        contexts, encoded = {}, []
        for i in rest:
            context, continuation = requests[i].args
            if context == "":  # as HFLM.loglikelihood: BOS (or EOS) stands in for the empty context
                cont_enc = self.tok_encode(continuation, add_special_tokens=False)
                ctx_enc, cont_enc = ([self.prefix_token_id], cont_enc) if self.prefix_token_id != cont_enc[0] \
                    else (cont_enc[:1], cont_enc[1:])
            elif self.backend != "causal":
                ctx_enc, cont_enc = self._encode_pair(context, continuation)
            else:  # HFLM._encode_pair, with each context encoded once rather than once per choice
                stripped = context.rstrip()
                if stripped not in contexts:
                    contexts[stripped] = self.tok_encode(stripped)
                ctx_enc = contexts[stripped]
                cont_enc = self.tok_encode(context + continuation)[len(ctx_enc):]
            if not _amuro_doc(requests[i].doc):  # tokenprob=first on another task: its first token
                cont_enc = cont_enc[:1]
            encoded.append(((context, continuation), ctx_enc, cont_enc))
        self._count_long([requests[i] for i in rest], [len(c) + len(x) - 1 for _, c, x in encoded])
        for i, res in zip(rest, self._shared_loglikelihood(encoded, disable_tqdm)):
            results[i] = res
        return results

    def _shared_loglikelihood(self, reqs, disable_tqdm: bool):
        """HFLM's scores of (context, continuation) token requests; contexts sharing a prefix run it once."""
        by_context: dict[tuple[int, ...], list[int]] = {}
        lone = []
        for i, (_, ctx_enc, cont_enc) in enumerate(reqs):
            if self.backend != "causal" or self.long_prompts == "left" and len(ctx_enc) + len(cont_enc) - 1 > \
                    self.context_length:
                lone.append(i)  # HFLM truncates it from the left: no common prefix to speak of
            else:
                by_context.setdefault(tuple(ctx_enc), []).append(i)
        results: list[tuple[float, bool] | None] = [None] * len(reqs)
        progress = tqdm(total=len(reqs) - len(lone), desc="Log-likelihoods on shared prefixes",
                        disable=disable_tqdm or self.rank != 0)
        for length, members in shared_prefix_groups(list(by_context), MIN_SHARED_PREFIX):
            index = [i for ctx in members for i in by_context[ctx]]
            if not length:
                lone += index
                progress.update(len(index))
                continue
            rows = [(list(reqs[i][1][length:]), list(reqs[i][2])) for i in index]
            with self._autocast():
                scores = continuation_scores(self.model, list(members[0][:length]), rows, self._batch(), progress)
            for i, res in zip(index, scores):
                results[i] = res
        progress.close()
        with self._room_for(max((len(reqs[i][1]) + len(reqs[i][2]) for i in lone), default=0)):
            for i, res in zip(lone, self._loglikelihood_tokens([reqs[i] for i in lone], disable_tqdm)):
                results[i] = res
        return results

    def generate_until(self, requests, disable_tqdm: bool = False):
        """Greedy generation through the shared prefix where documents share one; HFLM's path for the rest."""
        if self.tokenprob == "off" or self.backend != "causal" or self.think_end_token is not None:
            return super().generate_until(requests, disable_tqdm=disable_tqdm)
        eos = self.tok_decode(self.eot_token_id, skip_special_tokens=False)
        plans, lone, lengths = {}, [], []  # the requests of one set of generation kwargs: [(request index, ids)]
        for i, req in enumerate(requests):
            context, gen_kwargs = req.args
            kwargs = normalize_gen_kwargs(gen_kwargs, self.max_gen_toks)
            ids = self.tok_encode(context)
            lengths.append(len(ids) + kwargs["max_gen_toks"])
            greedy = not kwargs.get("do_sample") and set(kwargs) - {"until", "max_gen_toks"} <= GREEDY_KWARGS
            if not greedy or self.long_prompts == "left" and lengths[-1] > self.context_length:
                lone.append(i)  # sampling, or HFLM truncates the context from the left
            else:
                plans.setdefault(repr(sorted(gen_kwargs.items())), []).append((i, ids))
        self._count_long(requests, lengths)
        results: list[str | None] = [None] * len(requests)
        progress = tqdm(total=len(requests) - len(lone), desc="Generation on shared prefixes",
                        disable=disable_tqdm or self.rank != 0)
        for items in plans.values():
            kwargs = normalize_gen_kwargs(requests[items[0][0]].args[1], self.max_gen_toks)
            until = handle_stop_sequences(kwargs.pop("until", None), eos=eos)
            max_new = kwargs.pop("max_gen_toks")
            by_ids = {}
            for i, ids in items:
                by_ids.setdefault(tuple(ids), []).append(i)
            for length, members in shared_prefix_groups(list(by_ids), MIN_SHARED_PREFIX):
                if not length:
                    unshared = [i for ids in members for i in by_ids[ids]]
                    lone += unshared
                    progress.update(len(unshared))  # as the log-likelihood path counts them
                    continue
                with self._autocast():
                    outputs = generate_from_prefix(
                        self.model, list(members[0][:length]), [list(ids[length:]) for ids in members],
                        self._batch(), self.tokenizer.pad_token_id, progress=progress, max_new_tokens=max_new,
                        do_sample=False,
                        stopping_criteria=lambda n, b: stop_sequences_criteria(self.tokenizer, until, n, b))
                for ids, tokens in zip(members, outputs):
                    text = postprocess_generated_text(self.tok_decode(tokens), until, None)
                    for i in by_ids[ids]:
                        results[i] = text
                        self.cache_hook.add_partial("generate_until", requests[i].args, text)
        progress.close()
        lone.sort()
        with self._room_for(max((lengths[i] for i in lone), default=0)):
            for i, text in zip(lone, super().generate_until([requests[i] for i in lone], disable_tqdm=disable_tqdm)):
                results[i] = text
        return results

    def _paper_loglikelihood(self, requests, disable_tqdm: bool):
        """The lenient rule needs one forward pass per document, the logits at its context's last position (every
        candidate is a token there): documents sharing a prefix run it once and the rest in batches, as
        `tokenprob=first` does, with every candidate id of a document a one-token continuation of its context."""
        groups: dict[tuple, list[int]] = {}  # the choices of one document: same task, document and context
        for i, req in enumerate(requests):
            task, doc_id, _ = req.metadata
            groups.setdefault((task, doc_id, req.args[0]), []).append(i)
        docs, candidates = [], {}
        for (_, _, context), members in groups.items():
            members.sort(key=lambda i: requests[i].idx)
            doc = requests[members[0]].doc or {}
            labels = tuple(doc.get("amuro_choices") or [requests[i].args[1].strip() for i in members])
            if len(labels) != len(members):
                raise AmuroError(f"paper TokenProb: {len(members)} requests but {len(labels)} labels for {context!r:.60}")
            if labels not in candidates:
                candidates[labels] = paper_candidates(self.tokenizer, labels)
            docs.append((members, labels, self.tokenizer(context)["input_ids"]))  # the prompt verbatim
        self._count_long([requests[d[0][0]] for d in docs], [len(ids) for _, _, ids in docs])
        if self.long_prompts == "left":  # the last context_length tokens, as lm-eval's left cut reads them
            docs = [(members, labels, ids[-self.context_length:]) for members, labels, ids in docs]
        by_ids: dict[tuple[int, ...], list[int]] = {}
        for d, (_, _, ids) in enumerate(docs):
            by_ids.setdefault(tuple(ids), []).append(d)
        plans = [(length, [(d, token) for ids in members for d in by_ids[ids]
                           for token in dict.fromkeys(t for t, _ in candidates[docs[d][1]])])
                 for length, members in shared_prefix_groups(list(by_ids), MIN_SHARED_PREFIX)]
        scores: dict[tuple[int, int], tuple[float, bool]] = {}  # (document, candidate id) -> log-prob, greedy
        progress = tqdm(total=sum(len(rows) for _, rows in plans), desc="TokenProb (paper rule), candidates",
                        disable=disable_tqdm or self.rank != 0)
        for length, rows in plans:  # length 0: the documents that share no prefix, run whole in batches
            with self._autocast():
                values = continuation_scores(self.model, docs[rows[0][0]][2][:length],
                                             [(docs[d][2][length:], [token]) for d, token in rows], self._batch(),
                                             progress)
            scores.update(zip(rows, values))
        progress.close()
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        for d, (members, labels, _) in enumerate(docs):
            pairs = candidates[labels]
            for i, score in zip(members, self._paper_scores([scores[d, t] for t, _ in pairs], pairs, len(labels))):
                results[i] = score
        return results

    @staticmethod
    def _paper_scores(values: list[tuple[float, bool]], pairs, n_labels: int) -> list[tuple[float, bool]]:
        """Each label's score under the lenient rule from its candidates' (log-probability, greedy) at the last
        position: the label owning the first of the highest-scoring candidates wins."""
        logprobs = np.array([v for v, _ in values])
        winner = pairs[int(np.argmax(logprobs))][1]  # np.argmax: the first position holding the maximum
        scores = [max(v for v, (_, k) in zip(logprobs, pairs) if k == label) for label in range(n_labels)]
        if int(np.argmax(scores)) != winner:  # a tie broken by candidate order, not label order
            scores[winner] = float(np.nextafter(scores[winner], np.inf))
        return [(float(s), any(g for (_, g), (_, k) in zip(values, pairs) if k == label))
                for label, s in enumerate(scores)]
