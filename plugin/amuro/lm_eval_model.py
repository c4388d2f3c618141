"""`--model amuro-hf`: lm-eval's HF model with a choice of TokenProb rule for multiple-choice requests.

    lm_eval --model amuro-hf --model_args pretrained=allenai/OLMo-1B-hf,tokenprob=paper --tasks amuro_mnli_default

`tokenprob=`
- `first` (default): each continuation is cut to its first token, so any multiple-choice task is scored by the
  label whose first subtoken scores highest (the paper's §3.3 definition). On `amuro_*` tasks this equals plain
  `--model hf`, whose choices are already first subtokens.
- `paper`: the authors' lenient rule, reproduced exactly (REFERENCE_STUDY §3.3): one forward pass over the prompt
  verbatim (its trailing space included), and the label owning the first of the highest-scoring candidate ids,
  where candidates are all subtoken ids, special tokens included, of every label and every space-prefixed label.
  Each choice's log-likelihood is the best log-probability among its own candidates.
- `off`: plain HFLM.
Rolling log-likelihoods and generation are never changed.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM
from tqdm import tqdm

from amuro.errors import AmuroError
from amuro.scoring import paper_candidates

TOKENPROB_MODES = ("first", "paper", "off")


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
        new_reqs = []
        for context, continuation in (req.args for req in requests):
            if context == "":
                ctx_enc, cont_enc = [self.prefix_token_id], self.tok_encode(continuation)
            else:
                ctx_enc, cont_enc = self._encode_pair(context, continuation)
            new_reqs.append(((context, continuation), ctx_enc, cont_enc[:1]))
        return self._loglikelihood_tokens(new_reqs, disable_tqdm=disable_tqdm)

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
