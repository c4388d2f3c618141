"""TokenProb under `--apply_chat_template`: each label is still one token, its first subtoken right after the
chat-formatted context the model reads, under plain `--model hf` and `--model amuro-hf`, with tiny tokenizers and
OLMo's real ones (all carrying the Tulu chat template)."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from amuro.errors import AmuroError

from conftest import evaluate

TASKS = ["amuro_mnli_default", "amuro_paws_io", "amuro_boolq_instruct"]


def expected_tokens(tok, context, label):
    """The tokens lm-eval scores for a label read right after `context`: the whitespace the template leaves at its
    end as its own tokens (lm-eval moves it into the continuation), then the label's first subtoken."""
    base = tok(context.rstrip()).input_ids
    own = tok(context).input_ids
    whitespace = own[len(base):] if own[:len(base)] == base else []
    natural = tok(context + label).input_ids[len(base):]
    return natural[:len(whitespace) + 1] if natural[:len(whitespace)] == whitespace else natural[:1]


def _path(which, request):
    return request.getfixturevalue(which) if which.startswith("tiny") else request.getfixturevalue("real_models")[which]


def check_one_token_per_label(path, tasks, model_type, limit, **kwargs):
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    out = evaluate(path, tasks, model=model_type, num_fewshot=2, limit=limit, apply_chat_template=True, **kwargs)
    n = 0
    for task in tasks:
        for s in out["samples"][task]:
            context = s["arguments"][0][0]
            assert context.startswith("<|user|>\n") and context.endswith("<|assistant|>\n")
            base = tok(context.rstrip()).input_ids
            scores, reference = [float(ll) for ll, _ in s["filtered_resps"]], []
            for (_, continuation), label in zip(s["arguments"], s["doc"]["amuro_choices"]):
                got = tok(context + continuation).input_ids[len(base):]
                want = expected_tokens(tok, context, label)
                assert got == want, (task, label, continuation)
                with torch.no_grad():
                    logp = torch.log_softmax(model(torch.tensor([base + want[:-1]])).logits[0].float(), -1)
                reference.append(float(sum(logp[len(base) - 1 + k, t] for k, t in enumerate(want))))
            np.testing.assert_allclose(scores, reference, atol=1e-4)
            n += 1
    assert n == len(tasks) * limit


@pytest.mark.slow
@pytest.mark.parametrize("model_type", ["hf", "amuro-hf"])
@pytest.mark.parametrize("which", ["tiny_bpe", "tiny_sp", "olmo1"])
def test_tokenprob_compares_one_token_per_label_after_the_chat_template(which, model_type, request):
    check_one_token_per_label(_path(which, request), TASKS, model_type, limit=3)


@pytest.mark.slow
@pytest.mark.parametrize("model_type", ["hf", "amuro-hf"])
def test_tokenprob_after_the_chat_template_on_real_rows(model_type, real_models, real_data):
    check_one_token_per_label(real_models["olmo1"], ["amuro_rte_default", "amuro_rte_io", "amuro_boolq_instruct"],
                              model_type, limit=4, metadata={"amuro_data_dir": str(real_data)})


@pytest.mark.slow
@pytest.mark.parametrize("model_type", ["hf", "amuro-hf"])
def test_tokenprob_is_refused_in_one_line_where_lm_eval_would_drop_the_templates_newline(model_type, request):
    # OLMo-2's tokenizer has no <|assistant|> token: `>` and the template's `\n` merge into `>Ċ`, and lm-eval scores
    # the context with its trailing whitespace cut off, i.e. without that token: no label can be read right after it.
    with pytest.raises(AmuroError, match="TokenProb refused under --apply_chat_template: the template's trailing") as e:
        evaluate(_path("olmo2", request), TASKS[:1], model=model_type, num_fewshot=0, limit=1,
                 apply_chat_template=True)
    assert "\n" not in str(e.value)
