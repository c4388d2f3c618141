"""`amuro tiny-model` and the other `amuro` subcommands."""

import time

from transformers import AutoModelForCausalLM, AutoTokenizer, OlmoForCausalLM

from amuro.cli import main


def test_tiny_model_is_an_olmo_built_offline_in_seconds(tmp_path, capsys):
    start = time.perf_counter()
    assert main(["tiny-model", str(tmp_path / "tiny"), "--style", "sentencepiece"]) == 0
    assert time.perf_counter() - start < 60
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "tiny")
    tok = AutoTokenizer.from_pretrained(tmp_path / "tiny")
    assert isinstance(model, OlmoForCausalLM) and model.config.model_type == "olmo"
    assert tok.encode("The relation is")[0] == tok.bos_token_id  # the SentencePiece-like style prepends BOS
    chat = tok.apply_chat_template([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
                                   tokenize=False)
    assert chat == f"<|user|>\nhi\n<|assistant|>\nyo{tok.eos_token}"
    assert "written to" in capsys.readouterr().out


def test_tasks_and_prompt_commands(capsys):
    assert main(["tasks"]) == 0
    assert "amuro_mnli_{default,io,instruct}" in capsys.readouterr().out
    assert main(["prompt", "rte", "instruct", "-n", "1"]) == 0
    out = capsys.readouterr().out
    assert "Consider the following texts: Text 1:" in out and "gold" in out


def test_bad_input_is_one_line_and_exit_2(capsys):
    assert main(["prompt", "squad", "io"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("amuro: error: unknown task set 'squad'") and err.count("\n") == 1
    assert main(["prompt", "mnli", "chat"]) == 2
    assert "unknown prompt format 'chat'" in capsys.readouterr().err
