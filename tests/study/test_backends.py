"""The lm-eval call a sweep job makes (amuro.study.backends), for hf and for vLLM, which cannot run here: the
arguments it would pass, and TokenProb's choices under a tokenizer loaded the way lm-eval's vLLM backend loads
it (lm_eval/models/vllm_causallms.py: vLLM's get_tokenizer(tokenizer or pretrained, revision=tokenizer_revision,
trust_remote_code=...), i.e. transformers' AutoTokenizer, then lm-eval's configure_pad_token)."""

from dataclasses import replace

import pytest

from amuro.study.backends import evaluate_arguments
from amuro.study.spec import load_spec
from amuro.study.sweep import Sweep

from conftest import ROOT

PAPER_TASKS = {"amuro_fewshot": "paper", "amuro_splits": "authors", "amuro_rte": "neutral", "amuro_harness": "catwalk"}


def paper_sweep(tmp_path, **evaluate):
    spec = load_spec(ROOT / "runs" / "olmo1b_paper.yaml")  # offline: its revisions_file names the branches
    return Sweep(replace(spec, evaluate=replace(spec.evaluate, **evaluate)), tmp_path)


def test_vllm_gets_prefix_caching_and_the_checkpoints_tokenizer(tmp_path):
    sweep = paper_sweep(tmp_path, model="vllm", model_args={"dtype": "bfloat16", "gpu_memory_utilization": 0.8})
    jobs = [j for j in sweep.jobs() if j.checkpoint.step == 342000]
    base, tuned = jobs[0], next(j for j in jobs if j.train == "mnli")
    call = evaluate_arguments(sweep, base)
    revision = "step342000-tokens1433B"
    assert call == {
        "model": "vllm",
        "model_args": {"pretrained": "allenai/OLMo-1B-hf", "revision": revision, "dtype": "bfloat16",
                       "gpu_memory_utilization": 0.8, "enable_prefix_caching": True,
                       "tokenizer_revision": revision},
        "tasks": list(base.tasks), "num_fewshot": 4, "limit": None, "batch_size": "auto", "device": None,
        "use_cache": None, "verbosity": "WARNING",
        # the paper profile's generation and lm-eval pass-through (the spec sets none of them)
        "gen_kwargs": {"until": []}, "system_instruction": None, "apply_chat_template": False,
        "fewshot_as_multiturn": False, "log_samples": True,
        "metadata": {"pretrained": "allenai/OLMo-1B-hf", "revision": revision, "dtype": "bfloat16",
                     "gpu_memory_utilization": 0.8, "enable_prefix_caching": True, "tokenizer_revision": revision,
                     **PAPER_TASKS},
    }
    assert len(call["tasks"]) == 45  # 13 sets x 3 formats + the 6 instruction-tuning sets in their harness prompt
    # A fine-tuned model is a local folder: no revision to pin.
    call = evaluate_arguments(sweep, tuned)
    assert call["model_args"] == {"pretrained": str(tmp_path / "models" / revision / "mnli"), "dtype": "bfloat16",
                                  "gpu_memory_utilization": 0.8, "enable_prefix_caching": True}


def test_the_users_vllm_settings_win(tmp_path):
    sweep = paper_sweep(tmp_path, model="vllm", cache=True,
                        model_args={"enable_prefix_caching": False, "tokenizer": "my/tok", "tokenizer_revision": "v2"})
    job = sweep.jobs()[0]
    call = evaluate_arguments(sweep, job)
    assert call["model_args"]["enable_prefix_caching"] is False and call["model_args"]["tokenizer_revision"] == "v2"
    # The TokenProb tasks read the tokenizer vLLM reads: my/tok at v2, not the checkpoint's revision.
    assert (call["metadata"]["tokenizer"], call["metadata"]["revision"]) == ("my/tok", "v2")
    assert call["use_cache"] == str(tmp_path / "cache" / job.checkpoint.revision / "base")


def test_amuro_hf_is_unchanged(tmp_path):
    sweep = paper_sweep(tmp_path, device="cpu", seed=7)
    call = evaluate_arguments(sweep, sweep.jobs()[0])
    assert call["model"] == "amuro-hf" and call["device"] == "cpu"  # the paper profile's model and rules
    assert call["model_args"] == {"pretrained": "allenai/OLMo-1B-hf", "revision": "step1000-tokens4B",
                                  "dtype": "float32", "tokenprob": "paper", "long_prompts": "whole"}
    assert call["metadata"] == {**call["model_args"], **PAPER_TASKS}
    # The authors' dtypes: BASE checkpoints in fp32, SFT models bf16 (DeepSpeed's saves), Tulu models fp32 (catwalk).
    dtypes = {j.train: evaluate_arguments(sweep, j)["model_args"]["dtype"] for j in sweep.jobs()[:6]}
    assert dtypes == {"base": "float32", "xsum": "bfloat16", "socialiqa": "bfloat16", "mnli": "bfloat16",
                      "paws": "bfloat16", "tulu": "float32"}
    assert [call[f"{k}_seed"] for k in ("random", "numpy", "torch", "fewshot_random")] == [7] * 4  # lm_eval --seed


def vllm_style_tokenizer(args: dict):
    """The tokenizer lm-eval's VLLM.__init__ builds from these model_args (vLLM's get_tokenizer is transformers'
    AutoTokenizer with the same name, revision and trust_remote_code; then configure_pad_token)."""
    from transformers import AutoConfig, AutoTokenizer
    from lm_eval.models.utils import configure_pad_token

    name = args.get("tokenizer") or args["pretrained"]
    tok = AutoTokenizer.from_pretrained(name, revision=args.get("tokenizer_revision"),
                                        trust_remote_code=bool(args.get("trust_remote_code", False)))
    config = AutoConfig.from_pretrained(args["pretrained"], revision=args.get("revision"))
    return configure_pad_token(tok, model_config=config)


@pytest.mark.parametrize("model", ["tiny_bpe", "tiny_sp"])
def test_tokenprob_choices_are_the_same_under_the_vllm_tokenizer(model, request, tmp_path):
    from lm_eval.tasks import get_task_dict

    import amuro
    from amuro.eval.scoring import first_subtoken_choices
    from amuro.study.checkpoints import Checkpoint
    from amuro.study.plan import ModelJob
    from amuro.tasks.registry import get_set
    from amuro.tasks.templates import target_delimiter

    path = request.getfixturevalue(model)
    spec = load_spec(ROOT / "runs" / "tiny.yaml")
    spec = replace(spec, model=path, evaluate=replace(spec.evaluate, model="vllm"))
    sweep = Sweep(spec, tmp_path)
    tasks = ("amuro_mnli_default", "amuro_paws_instruct", "amuro_rte_io")
    job = ModelJob(Checkpoint(path, "local", 0), "base", tasks)
    call = evaluate_arguments(sweep, job)
    call["model_args"]["pretrained"] = call["metadata"]["pretrained"] = path  # the folder itself is the model
    tok = vllm_style_tokenizer(call["model_args"])
    manager = amuro.task_manager(include_defaults=False, metadata=call["metadata"])
    for name, task in get_task_dict(list(tasks), manager).items():
        docs = list(task.eval_docs)
        set_name, fmt = name.split("_", 1)[1].rsplit("_", 1)
        ours, _ = first_subtoken_choices(tok, [d["amuro_prompt"] for d in docs], get_set(set_name).label_words,
                                         target_delimiter(set_name, fmt))
        assert [d["amuro_tp_choices"] for d in docs] == ours, name
        assert len(docs) > 0
