"""Documents/s of `amuro_mnli_default` TokenProb evaluation through lm-eval versus the authors' approach.

    python bench/bench_tokenprob.py --profile paper      # the paper profile: lenient rule, the authors' first k
    python bench/bench_tokenprob.py --profile corrected  # the corrected profile: first subtoken, a shared draw
    python bench/bench_tokenprob.py --profile paper --fewshot random   # another few-shot mode, same rule
    python bench/bench_tokenprob.py --device cuda --dtype bfloat16 --docs 2048 --hidden-size 2048 --layers 16

All sides score the same documents, with the same contexts, on the same tiny OLMo (built offline). `--profile` runs
that study profile's real setting (amuro.study.profiles): its TokenProb rule (`tokenprob=paper`: the authors'
lenient rule; `first`), its long-prompt policy and its demonstrations (`paper`: the first k rows of the scored
split; `shared`: one seeded draw before every document); `--fewshot` overrides the demonstrations (`random`: a draw
per document).
- lm-eval: `simple_evaluate` on a loaded model, i.e. what `lm_eval --tasks amuro_mnli_default` does once the model
  is in memory (task loading, request building, batched scoring), with `--model hf` and with `--model amuro-hf`
  (which runs a few-shot prefix shared by every document once and scores the documents in batches on its KV cache).
- the authors (docs/study.md §3, `predict_classification.py --constraint_type next_word`): one forward pass
  per document at batch size 1, softmax over the vocabulary, argmax over the candidate label ids.
The sides run alternately, `--rounds` times each, in this one process; the best time of each is compared and the
ratio printed, with the ideal speed-up (the authors' token-forwards over ours: the most prefix sharing and batching
can buy) and the fraction of it reached, and the documents whose prediction equals the authors'. Throughput numbers
on a shared CPU are noisy; the ratios are what to read.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

from _common import PROFILES


def write_mnli(root: Path, n_docs: int, seed: int = 0, n_train: int = 64, premise_words=(12, 24)) -> None:
    """Synthetic rows in the GLUE MNLI schema (premise, hypothesis, label, idx)."""
    from amuro.demo.tiny import _WORDS

    rnd = random.Random(seed)

    def sentence(k):
        return " ".join(rnd.choice(_WORDS) for _ in range(k)).capitalize() + "."

    (root / "mnli").mkdir(parents=True, exist_ok=True)
    for split, n in (("validation_matched", n_docs), ("train", n_train)):
        with open(root / "mnli" / f"{split}.jsonl", "w") as f:
            for i in range(n):
                row = {"premise": sentence(rnd.randint(*premise_words)), "hypothesis": sentence(rnd.randint(5, 10)),
                       "label": i % 3, "idx": i}
                f.write(json.dumps(row) + "\n")


def run_lm_eval(lm, model_path: str, shots: int, fewshot: str):
    import lm_eval

    import amuro

    manager = amuro.task_manager(include_defaults=False,
                                 metadata={"pretrained": model_path, "amuro_fewshot": fewshot})
    start = time.perf_counter()
    out = lm_eval.simple_evaluate(model=lm, tasks=["amuro_mnli_default"], task_manager=manager,
                                  num_fewshot=shots, log_samples=True, verbosity="ERROR")
    seconds = time.perf_counter() - start
    samples = sorted(out["samples"]["amuro_mnli_default"], key=lambda s: s["doc_id"])
    preds = [max(range(len(s["filtered_resps"])), key=lambda k: float(s["filtered_resps"][k][0])) for s in samples]
    return seconds, [s["arguments"][0][0] for s in samples], preds


def run_authors(model, tok, contexts: list[str], labels: list[str]):
    """One forward per document at batch 1, the authors' candidate ids (every subtoken of each label and
    space-prefixed label), softmax over the vocabulary, argmax among the candidates: the label owning it."""
    import torch

    words = labels + [" " + w for w in labels]
    candidates = [(i, k % len(labels)) for k, w in enumerate(words) for i in tok(w).input_ids]
    ids = [i for i, _ in candidates]
    preds = []
    start = time.perf_counter()
    with torch.no_grad():
        for context in contexts:
            enc = tok(context, return_tensors="pt").to(model.device)
            probs = model(**enc).logits[0, -1].softmax(-1)
            preds.append(candidates[int(torch.argmax(probs[ids]))][1])
    return time.perf_counter() - start, preds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=128)
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    # Large enough that the forward pass, not Python bookkeeping, dominates (as it does for a 1B model).
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--profile", choices=PROFILES, default="paper")
    parser.add_argument("--fewshot", choices=("shared", "paper", "random"), help="default: the profile's")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args(argv)
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")

    import torch
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from _common import device_label, print_ratios, profile_setting, token_forwards
    from amuro.demo.tiny import build_tiny_model
    from amuro.eval.hf_model import AmuroHFLM
    from amuro.tasks.registry import NLI_LABELS

    setting = profile_setting(args.profile)
    fewshot = args.fewshot or setting["fewshot"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["AMURO_DATA_DIR"] = str(tmp / "data")
        write_mnli(tmp / "data", args.docs)
        path = str(build_tiny_model(tmp / "model", hidden_size=args.hidden_size, num_layers=args.layers))
        common = dict(pretrained=path, dtype=args.dtype, device=args.device, batch_size=args.batch_size)
        lms = {"hf": HFLM(**common), "amuro-hf": AmuroHFLM(**setting["model_args"], **common)}
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, args.dtype)).to(args.device).eval()
        tok = AutoTokenizer.from_pretrained(path)
        times, preds = {"authors": [], "hf": [], "amuro-hf": []}, {}
        for _ in range(args.rounds):
            for name, lm in lms.items():
                seconds, contexts, preds[name] = run_lm_eval(lm, path, args.shots, fewshot)
                times[name].append(seconds)
            seconds, preds["authors"] = run_authors(model, tok, contexts, list(NLI_LABELS))
            times["authors"].append(seconds)
        ids = [tok(c).input_ids for c in contexts]
    authors, ours = token_forwards(ids)
    rule = setting["model_args"]["tokenprob"]
    print(f"device: {device_label(args.device)}, dtype: {args.dtype}; model: tiny OLMo hidden {args.hidden_size} x "
          f"{args.layers} layers; profile {args.profile} (tokenprob={rule}), {args.docs} docs, {args.shots}-shot "
          f"contexts ({fewshot} demonstrations) of {authors / len(ids):.0f} tokens on average; best of {args.rounds}")
    same = {name: f"predictions equal to the authors' {sum(a == b for a, b in zip(preds[name], preds['authors']))}"
                  f"/{args.docs}" for name in times}
    print_ratios(args.docs, times, {"authors": "authors (batch 1, one forward per doc)",
                                    "hf": f"lm-eval --model hf (batch {args.batch_size})",
                                    "amuro-hf": f"lm-eval --model amuro-hf tokenprob={rule} (batch {args.batch_size})"},
                 same, {"hf": 1.0, "amuro-hf": authors / ours})


if __name__ == "__main__":
    main()
