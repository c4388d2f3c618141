"""`--model amuro-hf`: lm-eval's HF model with a choice of TokenProb rule for multiple-choice requests.

    lm_eval --model amuro-hf --model_args pretrained=allenai/OLMo-1B-hf,tokenprob=paper --tasks amuro_mnli_default

`tokenprob=`
- `first` (default): each continuation is cut to its first token, so any multiple-choice task is scored by the
  label whose first subtoken scores highest (the paper's §3.3 definition). On `amuro_*` tasks this equals plain
  `--model hf`, whose choices are already first subtokens. Contexts that share a long token prefix (the authors'
  few-shot mode puts the same k demonstrations before every document) run that prefix once and reuse its KV cache;
  the other contexts go through HFLM's batched path.
- `paper`: the authors' lenient rule, reproduced exactly (docs/study.md §3): one forward pass over the prompt
  verbatim (its trailing space included), and the label owning the first of the highest-scoring candidate ids,
  where candidates are all subtoken ids, special tokens included, of every label and every space-prefixed label.
  Each choice's log-likelihood is the best log-probability among its own candidates.
- `off`: plain HFLM.
Rolling log-likelihoods and generation are never changed.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from tqdm import tqdm

from amuro.errors import AmuroError
from amuro.eval.scoring import paper_candidates

TOKENPROB_MODES = ("first", "paper", "off")
MIN_SHARED_PREFIX = 32  # tokens; shorter common prefixes are not worth a separate pass


def shared_prefix_groups(contexts: list[tuple[int, ...]], min_prefix: int) -> list[tuple[int, list]]:
    """Group token sequences that share a prefix of at least `min_prefix` tokens (leaving each at least one
    token of its own). Returns (prefix length, members); length 0 for sequences without such a group."""
    groups: list[tuple[int, list]] = []
    for ctx in sorted(contexts):
        if groups and groups[-1][0]:
            length, members = groups[-1]
            common = 0
            while common < min(length, len(ctx) - 1) and members[0][common] == ctx[common]:
                common += 1
            if common >= min_prefix:
                groups[-1] = (common, members + [ctx])
                continue
        groups.append((len(ctx) - 1 if len(ctx) - 1 >= min_prefix else 0, [ctx]))
    lone = [ctx for length, members in groups if length == 0 or len(members) == 1 for ctx in members]
    return [(length, members) for length, members in groups if length and len(members) > 1] + \
        ([(0, lone)] if lone else [])


@register_model("amuro-hf")
class AmuroHFLM(HFLM):
    def __init__(self, tokenprob: str = "first", **kwargs) -> None:
        if tokenprob not in TOKENPROB_MODES:
            raise AmuroError(f"unknown tokenprob={tokenprob!r}; known: {', '.join(TOKENPROB_MODES)}")
        super().__init__(**kwargs)
        self.tokenprob = tokenprob

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        if self.tokenprob == "off":
            return super().loglikelihood(requests, disable_tqdm=disable_tqdm)
        if self.tokenprob == "paper":
            return self._paper_loglikelihood(requests, disable_tqdm)
        new_reqs, contexts = [], {}
        for context, continuation in (req.args for req in requests):
            if context == "":
                ctx_enc, cont_enc = [self.prefix_token_id], self.tok_encode(continuation)
            elif self.backend != "causal":
                ctx_enc, cont_enc = self._encode_pair(context, continuation)
            else:  # HFLM._encode_pair, with each context encoded once rather than once per choice
                stripped = context.rstrip()
                if stripped not in contexts:
                    contexts[stripped] = self.tok_encode(stripped)
                ctx_enc = contexts[stripped]
                cont_enc = self.tok_encode(context + continuation)[len(ctx_enc):]
            new_reqs.append(((context, continuation), ctx_enc, cont_enc[:1]))
        return self._first_token_loglikelihood(new_reqs, disable_tqdm)

    def _first_token_loglikelihood(self, reqs, disable_tqdm: bool):
        # HFLM scores (context + continuation)[-(max_length + 1):][:-1]: for one continuation token that is the
        # context's last max_length tokens, read at its last position.
        by_context: dict[tuple[int, ...], list[int]] = {}
        for i, (_, ctx_enc, _) in enumerate(reqs):
            by_context.setdefault(tuple(ctx_enc[-self.max_length:]), []).append(i)
        results: list[tuple[float, bool] | None] = [None] * len(reqs)
        for length, members in shared_prefix_groups(list(by_context), MIN_SHARED_PREFIX):
            if not length:
                rest = [i for ctx in members for i in by_context[ctx]]
                for i, res in zip(rest, self._loglikelihood_tokens([reqs[i] for i in rest], disable_tqdm)):
                    results[i] = res
                continue
            logprobs = self._shared_prefix_logprobs(list(members[0][:length]), [list(c[length:]) for c in members])
            for ctx, logp in zip(members, logprobs):
                greedy = int(torch.argmax(logp))
                for i in by_context[ctx]:
                    token = reqs[i][2][0]
                    results[i] = (float(logp[token]), greedy == token)
        return results

    @torch.no_grad()
    def _shared_prefix_logprobs(self, prefix: list[int], suffixes: list[list[int]]) -> list[torch.Tensor]:
        """Log-softmax at the last position of prefix + each suffix, running the prefix once."""
        cache = self.model(torch.tensor([prefix], device=self.device), use_cache=True).past_key_values
        size = self.batch_size if isinstance(self.batch_size, int) and self.batch_size > 0 else 16
        order = sorted(range(len(suffixes)), key=lambda i: len(suffixes[i]))  # similar lengths: little padding
        out: list[torch.Tensor | None] = [None] * len(suffixes)
        for start in tqdm(range(0, len(order), size), desc=f"TokenProb on a shared {len(prefix)}-token prefix",
                          disable=self.rank != 0):
            batch = [suffixes[i] for i in order[start:start + size]]
            batch_cache = copy.deepcopy(cache)
            batch_cache.batch_repeat_interleave(len(batch))
            width = max(map(len, batch))
            # Right padding needs no mask: causal attention never lets a real token see the padding after it.
            ids = torch.tensor([s + [s[-1]] * (width - len(s)) for s in batch], device=self.device)
            logits = self.model(ids, past_key_values=batch_cache, use_cache=True).logits
            last = logits[torch.arange(len(batch)), torch.tensor([len(s) - 1 for s in batch])]
            for i, row in zip(order[start:start + size], F.log_softmax(last.float(), dim=-1).cpu()):
                out[i] = row
        return out

    def _paper_loglikelihood(self, requests, disable_tqdm: bool):
        # Group the choices of one document: same task, document and context.
        groups: dict[tuple, list[int]] = {}
        for i, req in enumerate(requests):
            task, doc_id, _ = req.metadata
            groups.setdefault((task, doc_id, req.args[0]), []).append(i)
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        for (_, _, context), members in tqdm(groups.items(), desc="TokenProb (paper rule)",
                                             disable=disable_tqdm or self.rank != 0):
            members.sort(key=lambda i: requests[i].idx)
            doc = requests[members[0]].doc or {}
            labels = doc.get("amuro_choices") or [requests[i].args[1].strip() for i in members]
            if len(labels) != len(members):
                raise AmuroError(f"paper TokenProb: {len(members)} requests but {len(labels)} labels for {context!r:.60}")
            for i, score in zip(members, self._paper_scores(context, labels)):
                results[i] = score
        return results

    @torch.no_grad()
    def _paper_scores(self, context: str, labels: list[str]) -> list[tuple[float, bool]]:
        ids = self.tokenizer(context)["input_ids"][-self.max_length:]
        logits = self._model_call(torch.tensor([ids], device=self.device))[0, -1].float()
        logprobs = F.log_softmax(logits, dim=-1).cpu().numpy()
        pairs = paper_candidates(self.tokenizer, labels)
        values = np.array([logprobs[token] for token, _ in pairs])
        winner = pairs[int(np.argmax(values))][1]  # np.argmax: the first position holding the maximum
        scores = [max(v for v, (_, k) in zip(values, pairs) if k == label) for label in range(len(labels))]
        if int(np.argmax(scores)) != winner:  # a tie broken by candidate order, not label order
            scores[winner] = float(np.nextafter(scores[winner], np.inf))
        greedy = int(np.argmax(logprobs))
        return [(float(s), greedy in {t for t, k in pairs if k == label}) for label, s in enumerate(scores)]
