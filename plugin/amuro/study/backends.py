"""The lm-eval call of a sweep job, as data: `simple_evaluate`'s arguments and the TaskManager's metadata, built in
one place so that a test can check them without running lm-eval (vLLM needs a GPU).

The spec's `evaluate.model` names lm-eval's model type:
- `hf` (default) and `amuro-hf`: model_args = the checkpoint (`pretrained`, `revision`) + the spec's model_args.
- `vllm`: the same, plus
  - `enable_prefix_caching=True` unless the spec sets it: the prompts of a task share their demonstrations and
    template, and the choices of a multiple-choice document share its whole prompt, so vLLM computes a shared
    prefix once;
  - `tokenizer_revision=<revision>` unless the spec sets it: lm-eval's vLLM backend loads its tokenizer at
    `tokenizer_revision`, not at `revision` (lm_eval/models/vllm_causallms.py), so a Hub checkpoint would otherwise
    be tokenized with `main`'s tokenizer while the TokenProb tasks read the checkpoint's;
  - no `device` (vLLM ignores it; CUDA_VISIBLE_DEVICES picks the GPUs).
The TaskManager's metadata is the model_args (the TokenProb tasks load the tokenizer from `tokenizer` or
`pretrained` at `revision`, amuro.eval.hooks.load_task_dataset; under vLLM that revision is the tokenizer's) and
the task options (`amuro.tasks.options`: demonstrations, QQP/STS-B splits, RTE rule, harness dialect). The rest of `evaluate:` passes through as lm-eval's own arguments:
gen_kwargs, system_instruction, apply_chat_template, fewshot_as_multiturn, log_samples, seed (all four seeds, as
`lm_eval --seed N`); wandb_args and hf_hub_log_args go to lm-eval's loggers (`amuro.study.sweep`).
"""

from __future__ import annotations

VLLM = "vllm"


def model_args(model: str, load: dict) -> dict:
    """lm-eval model_args for a checkpoint's `load` args (+ the spec's model_args) under model type `model`."""
    args = dict(load)
    if model == VLLM:
        args.setdefault("enable_prefix_caching", True)
        if "revision" in args:
            args.setdefault("tokenizer_revision", args["revision"])
    return args


def task_metadata(model: str, args: dict) -> dict:
    """What the amuro tasks read from the TaskManager: the model's tokenizer, as the backend loads it."""
    meta = dict(args)
    if model == VLLM and "tokenizer_revision" in args:
        meta["revision"] = args["tokenizer_revision"]
    return meta


def evaluate_arguments(sweep, job, fewshot_seed: int | None = None) -> dict:
    """`lm_eval.simple_evaluate`'s keyword arguments for one job (all but `task_manager`), and `metadata` for the
    TaskManager; `fewshot_seed` (one of the spec's `fewshot_seeds`) is lm-eval's `--fewshot_random_seed`, which the
    tasks' demonstration sampler draws with."""
    plan = sweep.spec.evaluate
    args = model_args(plan.model, sweep.load_args(job))
    device = None
    if plan.model != VLLM:
        import torch

        device = plan.device or ("cuda" if torch.cuda.is_available() else "cpu")
    seeds = {} if plan.seed is None else {f"{k}_seed": plan.seed for k in ("random", "numpy", "torch", "fewshot_random")}
    if fewshot_seed is not None:
        seeds["fewshot_random_seed"] = fewshot_seed
    return {"model": plan.model, "model_args": args, "tasks": list(job.tasks), "num_fewshot": plan.num_fewshot,
            "limit": plan.limit, "batch_size": plan.batch_size, "device": device,
            "use_cache": str(sweep.layout.cache(job)) if plan.cache else None, "verbosity": "WARNING",
            "gen_kwargs": plan.gen_kwargs, "system_instruction": plan.system_instruction,
            "apply_chat_template": plan.apply_chat_template, "fewshot_as_multiturn": plan.fewshot_as_multiturn,
            "log_samples": True, **seeds,  # samples always: the sweep's diagnostics read them; kept on log_samples
            "metadata": {**task_metadata(plan.model, args), **sweep.spec.task_options().metadata()}}
