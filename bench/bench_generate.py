"""4-shot summarization, greedy, 60 new tokens: documents/s of `amuro_xsum_default` through lm-eval versus the
authors' per-document `generate` loop, with the outputs compared.

    python bench/bench_generate.py --profile paper       # 16 documents, demonstrations of ~300 tokens, OLMo 512 x 8
    python bench/bench_generate.py --profile corrected
    python bench/bench_generate.py --device cuda --dtype bfloat16 --docs 64 --hidden-size 1024 --layers 16

All sides generate for the same documents, with the same contexts (the profile's demonstrations: `paper`, the
authors' first 4 rows of the scored split, no stop sequence, whole prompts; `corrected`, one seeded draw shared by
every document, generation stops at the task's stop sequences, long prompts cut from the left), on the same tiny
OLMo (built offline, 2,048 positions):
- the authors (docs/study.md §3, `eval/predict.py`): `model.generate` per document at batch 1, greedy, 60 new tokens,
  no stop sequence (under `corrected` their outputs are cut at the task's stop sequences, so the texts compare);
- lm-eval `--model hf`: `simple_evaluate` on a loaded model, batched, left-padded;
- lm-eval `--model amuro-hf`: the shared prefix runs once, each document continues from a copy of its KV cache.
The sides run alternately, `--rounds` times; the best time of each is compared and the ratio printed, with the
ideal speed-up (the authors' token-forwards, prompts and generated tokens, over ours) and the fraction of it reached,
and the number of documents whose output equals the authors'.
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


def write_xsum(root: Path, n_docs: int, doc_words: int, seed: int = 0, n_demo_rows: int = 16) -> None:
    """Synthetic rows in the XSum schema (document, summary, id): documents of about `doc_words` words."""
    from amuro.demo.tiny import _WORDS

    rnd = random.Random(seed)

    def text(k):
        words = [rnd.choice(_WORDS) for _ in range(k)]
        return ". ".join(" ".join(words[i:i + 12]).capitalize() for i in range(0, k, 12)) + "."

    (root / "xsum").mkdir(parents=True, exist_ok=True)
    for split, n in (("test", n_docs), ("validation", n_demo_rows)):
        with open(root / "xsum" / f"{split}.jsonl", "w") as f:
            for i in range(n):
                row = {"document": text(rnd.randint(doc_words * 3 // 4, doc_words)), "summary": text(20), "id": str(i)}
                f.write(json.dumps(row) + "\n")


def run_lm_eval(lm, model_path: str, shots: int, fewshot: str, gen_kwargs: dict | None):
    import lm_eval

    import amuro

    manager = amuro.task_manager(include_defaults=False, metadata={"pretrained": model_path, "amuro_fewshot": fewshot})
    start = time.perf_counter()
    out = lm_eval.simple_evaluate(model=lm, tasks=["amuro_xsum_default"], task_manager=manager, num_fewshot=shots,
                                  log_samples=True, verbosity="ERROR", gen_kwargs=gen_kwargs)
    seconds = time.perf_counter() - start
    samples = sorted(out["samples"]["amuro_xsum_default"], key=lambda s: s["doc_id"])
    return seconds, [s["arguments"][0][0] for s in samples], [s["resps"][0][0] for s in samples], \
        samples[0]["arguments"][0][1]["until"]


def run_authors(model, tok, contexts: list[str], until: list[str], max_new_tokens: int = 60):
    """One `generate` per document at batch 1, as the authors' prediction script; texts cut at `until`."""
    import torch

    texts, generated = [], []
    start = time.perf_counter()
    with torch.no_grad():
        for context in contexts:
            enc = tok(context, return_tensors="pt").to(model.device)
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
            generated.append(out.shape[1] - enc["input_ids"].shape[1])
            texts.append(tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True))
    seconds = time.perf_counter() - start
    for stop in until:
        texts = [t.split(stop)[0] if stop else t for t in texts]
    return seconds, texts, generated


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=16)
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--doc-words", type=int, default=100, help="at most, words per document (~3 tokens each)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--profile", choices=PROFILES, default="paper")
    args = parser.parse_args(argv)
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")

    import torch
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from _common import device_label, print_ratios, profile_setting, token_forwards
    from amuro.demo.tiny import build_tiny_model
    from amuro.eval.hf_model import AmuroHFLM

    setting = profile_setting(args.profile)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["AMURO_DATA_DIR"] = str(tmp / "data")
        write_xsum(tmp / "data", args.docs, args.doc_words)
        path = str(build_tiny_model(tmp / "model", hidden_size=args.hidden_size, num_layers=args.layers,
                                    max_positions=2048))
        common = dict(pretrained=path, dtype=args.dtype, device=args.device, batch_size=args.batch_size)
        lms = {"hf": HFLM(**common), "amuro-hf": AmuroHFLM(**setting["model_args"], **common)}
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, args.dtype)).to(args.device).eval()
        tok = AutoTokenizer.from_pretrained(path)
        times, texts = {"authors": [], "hf": [], "amuro-hf": []}, {}
        for _ in range(args.rounds):
            for name, lm in lms.items():
                seconds, contexts, texts[name], until = run_lm_eval(lm, path, args.shots, setting["fewshot"],
                                                                    setting["gen_kwargs"])
                times[name].append(seconds)
            seconds, texts["authors"], generated = run_authors(model, tok, contexts, until)
            times["authors"].append(seconds)
        ids = [tok(c).input_ids for c in contexts]
        # ours stop at a stop sequence (one token past the text) where the profile has them; the authors never do
        new = [min(60, len(tok(t).input_ids) + bool(until)) for t in texts["amuro-hf"]]
    authors, ours = token_forwards(ids, generated, new)
    n_tokens, n_new = sum(map(len, ids)) / len(ids), sum(new) / len(new)

    print(f"device: {device_label(args.device)}, dtype: {args.dtype}; model: tiny OLMo hidden {args.hidden_size} x "
          f"{args.layers} layers; profile {args.profile} ({setting['fewshot']} demonstrations, "
          f"{'no stop sequence' if setting['gen_kwargs'] else 'stop sequences'}); {args.docs} docs, {args.shots}-shot "
          f"contexts of {n_tokens:.0f} tokens on average, "
          f"{n_new:.0f} new tokens per document on average; best of {args.rounds}")
    same = {name: f"outputs equal to the authors' {sum(a == b for a, b in zip(texts[name], texts['authors']))}"
                  f"/{args.docs}" for name in times}
    print_ratios(args.docs, times, {"authors": "authors (generate per document, batch 1)",
                                    "hf": f"lm-eval --model hf (batch {args.batch_size})",
                                    "amuro-hf": f"lm-eval --model amuro-hf (batch {args.batch_size})"}, same,
                 {"hf": 1.0, "amuro-hf": authors / ours})

if __name__ == "__main__":
    main()
