"""What a training step means, checked against independent computations: the authors' per-example loss average,
8 examples per optimizer step on any number of processes, and the authors' Tulu rendering (docs/study.md §4)."""

import json
import os
import subprocess

import pytest
import torch

from amuro.errors import AmuroError
from amuro.train.trainer import split_batch

from conftest import FIXTURES


def _trainer(model_path, out, *extra):
    from amuro.train import sft
    from amuro.train.trainer import build_trainer

    script_args, training_args, model_args = sft.parse(
        ["--model_name_or_path", model_path, "--output_dir", str(out), *extra])
    return build_trainer(script_args, training_args, model_args)


@pytest.mark.parametrize("padding_free", ["true", "false"])
def test_per_example_loss_equals_the_authors_batch_1_times_8_accumulation(padding_free, tiny_bpe, tmp_path):
    """The paper profile's loss on one batch of 8 = the mean, over the same 8 examples fed one at a time, of each
    example's mean token loss (what batch 1 x 8 accumulation steps with HF's mean loss computes)."""
    trainer, _ = _trainer(tiny_bpe, tmp_path, "--dataset_name", "xsum", "--loss_averaging", "per_example",
                          "--padding_free", padding_free)
    batch = next(iter(trainer.get_train_dataloader()))
    trainer.model.eval()  # no dropout: the same function both ways
    with torch.no_grad():
        ours = float(trainer.compute_loss(trainer.model, dict(batch)))
    # The authors' way, re-derived: each example alone, the model's own mean cross-entropy over its labels.
    if "cu_seq_lens_q" in batch:
        bounds = batch["cu_seq_lens_q"].tolist()
        examples = [(batch["input_ids"][:, a:b], batch["labels"][:, a:b]) for a, b in zip(bounds, bounds[1:])]
    else:
        examples = [(ids[m == 1][None], labels[m == 1][None]) for ids, labels, m in
                    zip(batch["input_ids"], batch["labels"], batch["attention_mask"])]
    assert len(examples) == 8
    with torch.no_grad():
        per_example = [float(trainer.model(input_ids=ids, labels=labels, use_cache=False).loss)
                       for ids, labels in examples]
    authors = sum(per_example) / len(per_example)
    assert ours == pytest.approx(authors, rel=1e-5)
    # TRL's default, per token, is the token-weighted mean instead: long completions weigh more.
    tokens = [int((labels[:, 1:] != -100).sum()) for _, labels in examples]
    weighted = sum(loss * n for loss, n in zip(per_example, tokens)) / sum(tokens)
    trl_trainer, _ = _trainer(tiny_bpe, tmp_path / "trl", "--dataset_name", "xsum", "--padding_free", padding_free)
    trl_trainer.model.eval()
    with torch.no_grad():
        per_token = float(trl_trainer.compute_loss(trl_trainer.model, dict(batch)))
    assert per_token == pytest.approx(weighted, rel=1e-5)
    assert len(set(tokens)) > 1 and abs(weighted - authors) > 1e-5 * authors  # the two differ on these examples


def test_the_batch_is_8_examples_on_any_number_of_processes():
    assert split_batch(8, 1, None, None) == (8, 1)
    assert split_batch(8, 2, None, None) == (4, 1)
    assert split_batch(8, 8, None, None) == (1, 1)
    assert split_batch(8, 2, 1, None) == (1, 4)  # the authors' batch 1: accumulation makes up the rest
    assert split_batch(8, 1, 1, 8) == (1, 8)
    for args, message in [((8, 3, None, None), "cannot be split over 3 processes"),
                          ((8, 16, None, None), "cannot be split over 16 processes"),
                          ((8, 2, 8, 1), "= 16 examples per step, not --total_batch_size 8")]:
        with pytest.raises(AmuroError, match=message):
            split_batch(*args)


@pytest.mark.slow
def test_two_processes_train_with_8_examples_per_step(tiny_bpe, tmp_path):
    out = tmp_path / "ddp"
    result = subprocess.run(
        ["accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
         "--dynamo_backend", "no", "-m", "amuro.train.sft", "--model_name_or_path", tiny_bpe, "--dataset_name", "mnli",
         "--max_steps", "2", "--save_strategy", "no", "--output_dir", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=900, env=dict(os.environ))
    assert result.returncode == 0, result.stderr[-3000:]
    card = json.loads((out / "run_card.json").read_text())
    hp = card["hyperparameters"]
    assert card["world_size"] == 2 and card["total_batch_size"] == 8
    assert hp["per_device_train_batch_size"] * hp["gradient_accumulation_steps"] * card["world_size"] == 8


def _authors_tulu_encoding(tok, messages):
    """The authors' Tulu encoding, re-derived from its description (docs/study.md §4): every message's content
    stripped, `<|role|>\\n` lines, EOS + newline after each reply, the whole text stripped; masked (not in the loss):
    each non-assistant message and the `<|assistant|>\\n` that follows it. Returns (text, loss text)."""
    def concat(msgs):
        out = ""
        for m in msgs:
            out += f"<|{m['role']}|>\n" + m["content"].strip() + (tok.eos_token if m["role"] == "assistant" else "")
            out += "\n"
        return out

    text = concat(messages).strip()
    masked = []  # character spans outside the loss
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            start = len(concat(messages[:i]))
            end = len(concat(messages[:i + 1]))
            if i + 1 < len(messages) and messages[i + 1]["role"] == "assistant":
                end += len("<|assistant|>\n")
            masked.append((start, min(end, len(text))))
    loss = "".join(ch for k, ch in enumerate(text) if not any(a <= k < b for a, b in masked))
    return text, loss


def test_tulu_rendering_equals_the_authors(tiny_bpe, tmp_path, monkeypatch):
    """On the Tulu fixtures, with whitespace added around every message: the same text, the same tokens in the loss
    (stripped contents, the newline after a non-final reply in the loss), and int(fraction x rows) rows."""
    from amuro.train.rows import tulu_rows

    rows = [json.loads(line) for line in (FIXTURES / "tulu" / "train.jsonl").read_text().splitlines()]
    for row in rows:
        for m in row["messages"]:
            m["content"] = f"  {m['content']}\n"
    (tmp_path / "data" / "tulu").mkdir(parents=True)
    (tmp_path / "data" / "tulu" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("AMURO_DATA_DIR", str(tmp_path / "data"))
    assert len(tulu_rows(0.3)) == 3  # int(0.3 x 12) = 3 (ceil would give 4)
    trainer, used = _trainer(tiny_bpe, tmp_path / "out", "--dataset_name", "tulu", "--fraction", "1.0",
                             "--padding_free", "false", "--per_device_train_batch_size", "8")
    tok = trainer.processing_class
    seen = 0
    for example in trainer.train_dataset:
        ids, labels = example["input_ids"], example["labels"]
        text, loss = tok.decode(ids), tok.decode([t for t, lab in zip(ids, labels) if lab != -100])
        matches = [r for r in used if _authors_tulu_encoding(tok, r["messages"])[0] == text]
        assert matches, text
        assert loss == _authors_tulu_encoding(tok, matches[0]["messages"])[1]
        seen += 1
    assert seen == 12
