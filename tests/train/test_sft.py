"""training/sft.py: a real TRL SFTTrainer run on the tiny model, scored afterwards through a real amuro task."""

import json
import os
import subprocess
import sys

import pytest

from amuro.errors import AmuroError
from amuro.train.rows import paper_learning_rate, sft_rows, tulu_rows

from conftest import ROOT, evaluate

SFT = str(ROOT / "training" / "sft.py")


def _sft(*args, cwd, launcher=(sys.executable,)):
    return subprocess.run([*launcher, SFT, *args], cwd=cwd, env=dict(os.environ), capture_output=True,
                          text=True, timeout=600)


# `accelerate launch` on a machine without a GPU: one CPU process.
ACCELERATE = ("accelerate", "launch", "--cpu", "--num_processes", "1", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no")


# The authors' MNLI prompts (docs/study.md §2), and what separates a prompt from its label.
MNLI_PROMPTS = {"default": ("### Input_1: {premise}\n ### Input_2: {hypothesis}\n ### Inference: ", ""),
                "io": ("{premise} {hypothesis}", " ")}


def mnli_accuracy(model_path, fmt: str, n: int) -> float:
    """TokenProb accuracy of a saved model on the first n MNLI fixture documents, 0-shot, computed directly."""
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import oracles
    from conftest import FIXTURES

    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(model_path)
    template, delimiter = MNLI_PROMPTS[fmt]
    rows = [json.loads(line) for line in (FIXTURES / "mnli" / "validation_matched.jsonl").read_text().splitlines()]
    hits = [int(np.argmax(oracles.tokenprob(model, tok, template.format(**row), NLI, delimiter))) == row["label"]
            for row in rows[:n]]
    return sum(hits) / n


NLI = ("entailment", "neutral", "contradiction")


def test_training_rows_come_from_the_evaluation_templates():
    rows = sft_rows("mnli", "instruct", max_examples=5)
    assert len(rows) == 5 and all(r["prompt"].startswith("Consider the following texts:") for r in rows)
    assert all(r["completion"] in ("entailment", "neutral", "contradiction") for r in rows)
    io = sft_rows("paws", "io", max_examples=3)
    assert all(r["completion"] in (" yes", " no") for r in io)  # a space after a prompt without one
    assert sft_rows("mnli", seed=1, max_examples=4) != sft_rows("mnli", seed=2, max_examples=4)
    assert paper_learning_rate("xsum") == 2e-7 and paper_learning_rate("mnli") == 2e-6
    first = sft_rows("xsum", max_examples=1)[0]
    assert first["prompt"].startswith("### Input: ") and first["prompt"].endswith("### Summary: ")


def test_sets_without_a_training_split_are_refused():
    with pytest.raises(AmuroError, match="has no training split"):
        sft_rows("rte")


@pytest.mark.slow
def test_sft_run_saves_a_model_the_harness_scores(tiny_bpe, tmp_path):
    out = tmp_path / "sft"
    result = _sft("--model_name_or_path", tiny_bpe, "--dataset_name", "mnli", "--max_steps", "3",
                  "--output_dir", str(out), cwd=tmp_path, launcher=ACCELERATE)
    assert result.returncode == 0, result.stderr[-3000:]
    card = json.loads((out / "run_card.json").read_text())
    assert card["train"] == "mnli" and card["format"] == "default" and card["global_steps"] == 3
    # clipping at 1.0: the authors' accelerate filled DeepSpeed's "auto" clipping with it
    assert card["hyperparameters"]["learning_rate"] == 2e-6 and card["hyperparameters"]["max_grad_norm"] == 1.0
    assert card["tokens_seen"] > 0 and card["final_train_loss"] > 0
    acc = evaluate(str(out), ["amuro_mnli_default"], limit=6)["results"]["amuro_mnli_default"]["acc,none"]
    assert acc == mnli_accuracy(out, "default", 6)
    again = _sft("--model_name_or_path", tiny_bpe, "--dataset_name", "mnli", "--output_dir", str(out), cwd=tmp_path)
    assert again.returncode == 0 and "already holds a finished run" in again.stdout
    assert json.loads((out / "run_card.json").read_text()) == card  # nothing was trained again
    forced = _sft("--model_name_or_path", tiny_bpe, "--dataset", "mnli", "--max_steps", "1", "--force",
                  "--output_dir", str(out), cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert json.loads((out / "run_card.json").read_text())["global_steps"] == 1  # trained again, 1 step this time


def test_unknown_dataset_is_a_one_line_error(tiny_bpe, tmp_path):
    result = _sft("--model_name_or_path", tiny_bpe, "--dataset_name", "squad", "--output_dir", str(tmp_path / "x"),
                  cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("amuro: error: unknown task set 'squad'")


def _first_batch(model_path, dataset, out, *extra):
    """The first collated batch of the real SFTTrainer that training/sft.py builds."""
    from amuro.train import sft, trainer as amuro_trainer

    script_args, training_args, model_args = sft.parse(["--model_name_or_path", model_path, "--dataset_name", dataset,
                                            "--output_dir", str(out), "--per_device_train_batch_size", "4", *extra])
    trainer, rows = amuro_trainer.build_trainer(script_args, training_args, model_args)
    return trainer.processing_class, next(iter(trainer.get_train_dataloader())), rows, training_args


def _examples(batch):
    """(input_ids, labels) of each example of a collated batch: padded rows, or one padding-free row."""
    if "cu_seq_lens_q" in batch:
        bounds = batch["cu_seq_lens_q"].tolist()
        for start, end in zip(bounds, bounds[1:]):
            yield batch["input_ids"][0, start:end], batch["labels"][0, start:end]
    else:
        for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"]):
            yield ids[mask == 1], labels[mask == 1]


def _split_by_loss(tok, batch):
    for ids, labels in _examples(batch):
        yield tok.decode(ids[labels == -100]), tok.decode(ids[labels != -100]), labels


@pytest.mark.parametrize("padding_free", ["true", "false"])
def test_labels_mask_exactly_the_prompt(padding_free, tiny_bpe, tmp_path):
    tok, batch, rows, args = _first_batch(tiny_bpe, "mnli", tmp_path, "--padding_free", padding_free)
    assert args.learning_rate == 2e-6 and args.num_train_epochs == 3.0 and args.max_length == 2048
    texts = {r["prompt"] + r["completion"] + tok.eos_token for r in rows}
    for prompt, loss, labels in _split_by_loss(tok, batch):
        # The prompt's trailing space merges into the label's first token, which is in the loss.
        assert loss in {f" {w}{tok.eos_token}" for w in ("entailment", "neutral", "contradiction")}
        assert prompt + loss in texts
        first = int((labels != -100).nonzero()[0])
        assert (labels[:first] == -100).all() and (labels[first:] != -100).all()


@pytest.mark.parametrize("dataset", ["mnli", "tulu"])
def test_padding_free_batches_score_like_padded_ones(dataset, tiny_bpe, tmp_path):
    """The default concatenates a batch into one row; position ids keep its examples apart, so the loss on the
    same examples equals the padded batch's (SFTTrainer runs the model with use_cache=False, as here)."""
    import torch
    from transformers import AutoModelForCausalLM

    extra = ["--fraction", "1.0"] if dataset == "tulu" else []
    _, free, _, args = _first_batch(tiny_bpe, dataset, tmp_path / "free", *extra)
    _, padded, _, padded_args = _first_batch(tiny_bpe, dataset, tmp_path / "padded", "--padding_free", "false", *extra)
    assert args.padding_free and args.max_length == 2048 and not padded_args.padding_free
    assert free["input_ids"].shape[0] == 1 and "attention_mask" not in free and len(free["cu_seq_lens_q"]) == 5
    assert free["input_ids"].shape[1] == int(padded["attention_mask"].sum())  # the same tokens, no padding
    model = AutoModelForCausalLM.from_pretrained(tiny_bpe, dtype=torch.float32)
    with torch.no_grad():
        losses = [float(model(**batch, use_cache=False).loss) for batch in (free, padded)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_padding_free_truncates_to_max_length(tiny_bpe, tmp_path):
    # The fixture's xsum prompts take 150-241 tiny-tokenizer tokens, prompt + summary 200-295: at 200 every
    # example is cut, and those whose prompt alone fills 200 tokens are dropped, as TRL does for padded batches.
    _, batch, rows, args = _first_batch(tiny_bpe, "xsum", tmp_path, "--max_length", "200")
    assert args.max_length == 200 and args.padding_free
    assert batch["cu_seq_lens_q"].diff().tolist() == [200] * 4
    with pytest.raises(AmuroError, match="no xsum example has a token to learn within --max_length 40"):
        _first_batch(tiny_bpe, "xsum", tmp_path, "--max_length", "40")


@pytest.mark.parametrize("padding_free", ["true", "false"])
def test_tulu_loss_is_on_assistant_turns_only(padding_free, tiny_bpe, tmp_path):
    tok, batch, rows, args = _first_batch(tiny_bpe, "tulu", tmp_path, "--fraction", "1.0",
                                          "--padding_free", padding_free)
    assert args.assistant_only_loss and args.num_train_epochs == 5.0 and len(rows) == 12
    # Each reply stripped, its EOS, and the newline after a reply that is not the last message (the authors' rule).
    answers = {"".join(t["content"].strip() + tok.eos_token + ("\n" if i < len(r["messages"]) - 1 else "")
                       for i, t in enumerate(r["messages"]) if t["role"] == "assistant") for r in rows}
    for prompt, loss, _ in _split_by_loss(tok, batch):
        assert loss in answers
        assert "<|user|>" in prompt and "<|assistant|>" in prompt


def test_tulu_rows_need_an_assistant_turn(tmp_path):
    (tmp_path / "tulu").mkdir()
    row = {"dataset": "x", "id": "a", "messages": [{"role": "user", "content": "hi"}]}
    (tmp_path / "tulu" / "train.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(AmuroError, match="row 0 .id 'a'.: a messages row without an assistant turn"):
        tulu_rows(1.0, root=tmp_path)
    assert len(tulu_rows(0.25)) == 3  # a seeded quarter of the 12 fixture rows


@pytest.mark.slow
def test_tulu_run_and_loss_goes_down(tiny_bpe, tmp_path):
    out = tmp_path / "tulu"
    result = _sft("--model_name_or_path", tiny_bpe, "--dataset_name", "tulu", "--fraction", "1.0", "--max_steps", "40",
                  "--learning_rate", "3e-3", "--logging_steps", "5", "--save_strategy", "no", "--output_dir", str(out),
                  cwd=tmp_path, launcher=ACCELERATE)
    assert result.returncode == 0, result.stderr[-3000:]
    card = json.loads((out / "run_card.json").read_text())
    assert card["train"] == "tulu" and card["format"] == "tulu_chat" and card["examples"] == 12
    losses = [loss for _, loss in card["loss_curve"]]  # logged every 5 steps; the arithmetic chats are learnable
    assert len(losses) == 8 and losses[-1] < 0.7 * losses[0], losses


@pytest.mark.slow
def test_resume_continues_an_interrupted_run(tiny_bpe, tmp_path):
    import shutil

    out = tmp_path / "run"
    args = ["--model_name_or_path", tiny_bpe, "--max_steps", "4", "--save_strategy", "steps",
            "--save_steps", "2", "--save_total_limit", "2", "--logging_steps", "1", "--output_dir", str(out)]
    assert _sft(*args, "--dataset_name", "paws", cwd=tmp_path).returncode == 0
    # Make it look interrupted right after the step-2 checkpoint: no final model, no run card, no checkpoint-4.
    shutil.rmtree(out / "checkpoint-4")
    for name in ("run_card.json", "model.safetensors"):
        (out / name).unlink()
    # The resumed run uses the old flag names: they keep working for this release, with a warning.
    result = _sft(*args, "--dataset", "paws", "--resume", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "amuro: warning: --dataset is deprecated, use --dataset_name" in result.stderr
    card = json.loads((out / "run_card.json").read_text())
    assert card["resumed_from"] == "checkpoint-2" and card["global_steps"] == 4 and card["train"] == "paws"
    assert [step for step, _ in card["loss_curve"]] == [1, 2, 3, 4]  # steps 1-2 restored, 3-4 trained now


@pytest.mark.parametrize("names", [("--model_revision", "--dataset_name"), ("--revision", "--dataset")])
def test_missing_revision_is_a_one_line_error(names, tmp_path):
    revision, dataset = names  # TRL's names, and the old ones (a deprecation line each)
    result = _sft("--model_name_or_path", "allenai/OLMo-1B-hf", revision, "step0-tokens0B", dataset, "mnli",
                  "--output_dir", str(tmp_path / "x"), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert ("--revision is deprecated, use --model_revision" in result.stderr) == (revision == "--revision")
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("amuro: error: cannot load allenai/OLMo-1B-hf at revision step0-tokens0B")


@pytest.mark.slow
@pytest.mark.parametrize("config,stage,where", [("accelerate_1gpu", 2, "checkout"), ("accelerate_multigpu", 3, "anywhere")])
def test_deepspeed_zero_runs_for_real_on_cpu(config, stage, where, tiny_bpe, tmp_path):
    """From the checkout as the README says (`training/sft.py`, the repo's config file), and from another folder
    as an installed user would (`-m amuro.train.sft`, the config by its shipped path, whose DeepSpeed file is
    named relative to the repository root)."""
    from amuro.configs import find

    # One process is enough on a CPU machine (DeepSpeed's gloo backend); the first run JIT-builds a comm op.
    out = tmp_path / f"zero{stage}"
    if where == "checkout":
        launch, cwd = ["--config_file", str(ROOT / "ds_configs" / f"{config}.yaml"), SFT], ROOT
    else:
        launch, cwd = ["--config_file", str(find("ds_configs", config)), "-m", "amuro.train.sft"], tmp_path
    result = subprocess.run(
        ["accelerate", "launch", "--num_processes", "1", *launch, "--model_name_or_path", tiny_bpe, "--dataset_name",
         "mnli", "--max_steps", "3", "--output_dir", str(out)],
        cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    card = json.loads((out / "run_card.json").read_text())
    assert card["deepspeed_zero_stage"] == stage and card["global_steps"] == 3  # no silent fallback to DDP
    acc = evaluate(str(out), ["amuro_mnli_io"], limit=4)["results"]["amuro_mnli_io"]["acc,none"]
    assert acc == mnli_accuracy(out, "io", 4)


@pytest.mark.slow
def test_training_benchmark_runs_its_sides_on_equal_tokens(tmp_path):
    # Not a timing test: the benchmark itself asserts that every side trained on the same tokens.
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_sft.py"), "--steps", "2", "--rounds", "1",
                             "--hidden-size", "32", "--layers", "1"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ratio to authors  1.00x" in result.stdout and "peak memory" in result.stdout


def test_a_config_file_sets_arguments_and_flags_win(tiny_bpe, tmp_path):
    from amuro.train import sft

    config = tmp_path / "run.yaml"
    config.write_text(f"model_name_or_path: {tiny_bpe}\ndataset_name: paws\nprompt_format: instruct\n"
                      f"learning_rate: 1.0e-5\nlr_scheduler_type: cosine\nmax_steps: 7\n"
                      f"output_dir: {tmp_path / 'out'}\n")
    script_args, training_args, model_args = sft.parse(["--config", str(config), "--max_steps", "9"])
    assert (script_args.dataset_name, script_args.prompt_format, model_args.model_name_or_path) == \
        ("paws", "instruct", tiny_bpe)
    assert training_args.learning_rate == 1e-5 and training_args.lr_scheduler_type == "cosine"
    assert training_args.max_steps == 9  # the flag wins over the file
    assert training_args.num_train_epochs == 3.0 and training_args.warmup_steps == 0.03  # the paper's recipe


@pytest.mark.parametrize("flags,lr,expected", [
    # the paper: linear, 3% warm-up: ceil(0.03 * 100) = 3 steps up, then down to 0 at step 100
    ((), 2e-6, {0: 0.0, 1: 1 / 3, 3: 1.0, 50: 50 / 97, 99: 1 / 97, 100: 0.0}),
    (("--lr_scheduler_type", "cosine", "--warmup_steps", "10", "--learning_rate", "1e-4"), 1e-4,
     {0: 0.0, 5: 0.5, 10: 1.0, 55: 0.5, 100: 0.0}),
])
def test_scheduler_and_warm_up_reach_the_trainer(flags, lr, expected, tiny_bpe, tmp_path):
    from amuro.train import sft
    from amuro.train.trainer import build_trainer

    script_args, training_args, model_args = sft.parse(["--model_name_or_path", tiny_bpe, "--dataset_name", "mnli",
                                                        "--output_dir", str(tmp_path), *flags])
    trainer, _ = build_trainer(script_args, training_args, model_args)
    trainer.create_optimizer_and_scheduler(num_training_steps=100)
    assert type(trainer.optimizer).__name__ == "AdamW"
    assert {g["weight_decay"] for g in trainer.optimizer.param_groups} == {0.0}
    assert set(trainer.lr_scheduler.base_lrs) == {lr}
    for factor in trainer.lr_scheduler.lr_lambdas:  # one per parameter group
        for step, share in expected.items():
            assert factor(step) == pytest.approx(share, abs=1e-9), step


def test_a_model_without_padding_free_support_trains_on_padded_batches(tiny_bpe, tmp_path, caplog):
    """Mamba has no attention mask to keep concatenated examples apart: the run falls back to padded batches."""
    from transformers import AutoTokenizer, MambaConfig, MambaForCausalLM

    tok = AutoTokenizer.from_pretrained(tiny_bpe)
    path = tmp_path / "mamba"
    MambaForCausalLM(MambaConfig(vocab_size=len(tok), hidden_size=32, state_size=4, num_hidden_layers=1,
                                 conv_kernel=2)).save_pretrained(path)
    tok.save_pretrained(path)
    with caplog.at_level("WARNING", logger="amuro.sft"):
        _, batch, rows, args = _first_batch(str(path), "mnli", tmp_path / "out", "--attn_implementation", "eager")
    assert "MambaForCausalLM cannot keep padding-free examples apart" in caplog.text
    assert not args.padding_free and "cu_seq_lens_q" not in batch
    assert batch["input_ids"].shape[0] == 4 and batch["attention_mask"].shape == batch["input_ids"].shape
    assert (batch["attention_mask"] == 0).any()  # padded to the longest of the 4


def test_help_shows_amuros_flags_first_and_the_long_tail_behind_help_all(capsys):
    from amuro.train.sft import ScriptArguments, cli, make_parser

    with pytest.raises(SystemExit):
        cli(["--help"])
    short = capsys.readouterr().out
    lines = short.splitlines()
    first = lambda flag: next(i for i, ln in enumerate(lines) if ln.startswith(f"  --{flag} "))  # noqa: E731
    assert lines[0].startswith("usage: ") and len(lines[0]) < 120  # not every flag in the usage line
    assert first("dataset_name") < first("total_batch_size") < first("model_name_or_path") < first("learning_rate")
    assert "--push_to_hub" not in short and lines[-1].endswith("more flags of TRL's SFTConfig and ModelConfig: "
                                                               "--help-all")
    with pytest.raises(SystemExit):
        cli(["--help-all"])
    full = capsys.readouterr().out
    import dataclasses

    lines = full.splitlines()
    assert first("dataset_name") < first("model_name_or_path") < first("push_to_hub")
    for action in make_parser()._actions:  # every flag is in --help-all
        assert any(opt in full for opt in action.option_strings), action.option_strings
    assert {f.name for f in dataclasses.fields(ScriptArguments)} <= {a.dest for a in make_parser()._actions}
