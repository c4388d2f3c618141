"""Every bad input a user can give: one line that names the culprit, a non-zero exit, no traceback, and the
user's files unchanged. `python tests/test_bad_inputs.py` prints the table (input, command, line, exit code)."""

import errno
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT

TINY = (ROOT / "runs" / "tiny.yaml").read_text()


def spec_with(tmp, replace_from: str, replace_to: str) -> str:
    path = tmp / "spec.yaml"
    assert replace_from in TINY
    path.write_text(TINY.replace(replace_from, replace_to))
    return str(path)


def add_to_spec(tmp, text: str) -> str:
    path = tmp / "spec.yaml"
    path.write_text(TINY + text)
    return str(path)


def data_dir_with(tmp, set_name: str, split: str, line: str) -> str:
    """A copy of the fixtures whose `set_name/split` gets `line` appended (as bytes when given bytes)."""
    import shutil

    root = tmp / "data"
    shutil.copytree(FIXTURES, root)
    path = root / set_name / f"{split}.jsonl"
    with open(path, "ab") as f:
        f.write(line if isinstance(line, bytes) else line.encode())
    return str(root)


def foreign_folder(tmp) -> str:
    folder = tmp / "mine"
    folder.mkdir()
    (folder / "report.md").write_text("my own notes\n")
    return str(folder)


def a_model(tmp) -> str:
    """A local model folder as the sweep lists it (its revisions are never loaded by these cases)."""
    folder = tmp / "model"
    folder.mkdir()
    (folder / "revisions.txt").write_text("step100-tokens1M\nstep200-tokens2M\n")
    return str(folder)


def a_file(tmp) -> str:
    path = tmp / "a_file"
    path.write_text("mine\n")
    return str(path)


# (name, argv after `amuro` or a full command, setup -> dict of placeholders, expected start of the line, exit)
CASES = [
    ("spec: train is a string", lambda t: ["sweep", spec_with(t, "train: [mnli]", "train: mnli"), "--dry-run"],
     "train must be a list of strings, got str 'mnli'", 2),
    ("spec: uniform is not a number", lambda t: ["sweep", spec_with(t, "{uniform: 2}", "{uniform: two}"), "--dry-run"],
     "checkpoints: uniform must be an integer or null, got str 'two'", 2),
    ("spec: steps is not a list", lambda t: ["sweep", spec_with(t, "{uniform: 2}", "{steps: 100}"), "--dry-run"],
     "checkpoints: steps must be a list of integers, got int 100", 2),
    ("spec: num_fewshot is text", lambda t: ["sweep", spec_with(t, "num_fewshot: 1", "num_fewshot: one"),
                                             "--dry-run"], "evaluate: num_fewshot must be an integer, got str 'one'", 2),
    ("spec: limit is text", lambda t: ["sweep", spec_with(t, "limit: 4", "limit: four"), "--dry-run"],
     "evaluate: limit must be a number or null, got str 'four'", 2),
    ("spec: negative shots", lambda t: ["sweep", spec_with(t, "num_fewshot: 1", "num_fewshot: -1"), "--dry-run"],
     "evaluate: num_fewshot must be >= 0, got -1", 2),
    ("spec: unknown training key", lambda t: ["sweep", spec_with(t, "max_steps: 2", "max_stepz: 2"), "--dry-run"],
     "training: unknown training argument 'max_stepz' (did you mean max_steps?)", 2),
    ("spec: abbreviated training key", lambda t: ["sweep", spec_with(t, "max_steps: 2", "max_step: 2"), "--dry-run"],
     "training: unknown training argument 'max_step' (did you mean max_steps?)", 2),
    ("spec: training value of the wrong type", lambda t: ["sweep", spec_with(t, "max_steps: 2", "max_steps: two"),
                                                          "--dry-run"], "training: max_steps must be an integer", 2),
    ("spec: a Tulu-only training key for mnli", lambda t: ["sweep", spec_with(t, "max_steps: 2,", "fraction: 0.5,"),
                                                           "--dry-run"],
     "training: fraction is for tulu training only, and train includes mnli", 2),
    ("spec: unknown top-level key", lambda t: ["sweep", add_to_spec(t, "keep_weigths: true\n"), "--dry-run"],
     "unknown key 'keep_weigths' (did you mean keep_weights?)", 2),
    ("spec: a mapping that is a number", lambda t: ["sweep", add_to_spec(t, "launcher: 3\n"), "--dry-run"],
     "launcher must be a mapping, got int 3", 2),
    ("spec: not YAML", lambda t: ["sweep", add_to_spec(t, "model: [unclosed\n"), "--dry-run"], "", 2),
    ("spec: missing file", lambda t: ["sweep", str(t / "nope.yaml"), "--dry-run"],
     "cannot read run spec", 2),
    ("spec: unknown shipped name", lambda t: ["sweep", "olmo1b_papr", "--dry-run"],
     "run spec 'olmo1b_papr' is neither a file here", 2),
    ("report --out: a folder of the user's", lambda t: ["report", str(ROOT / "tests" / "fixtures" / "results_tiny.csv"),
                                                        "--out", foreign_folder(t)],
     "holds files amuro did not write (report.md)", 2),
    ("report --out: a file", lambda t: ["report", str(ROOT / "tests" / "fixtures" / "results_tiny.csv"), "--out",
                                        a_file(t)], "is a file, not a folder", 2),
    ("sweep --out: a file", lambda t: ["sweep", str(ROOT / "runs" / "tiny.yaml"), "--model", a_model(t), "--out",
                                       a_file(t)], "a_file is a file, not a folder", 2),
    ("tiny-model OUT: a file", lambda t: ["tiny-model", a_file(t)], "is a file, not a folder", 2),
    ("tiny-model OUT: a folder of the user's", lambda t: ["tiny-model", foreign_folder(t)],
     "holds files amuro did not write", 2),
    ("report: a results file that is not UTF-8", lambda t: ["report", str(_bytes(t, b"\xff\xfe,x\n")), "--out",
                                                            str(t / "r")], "not a readable CSV", 2),
    ("configs: unknown name", lambda t: ["configs", "zero4"], "no shipped config 'zero4'", 2),
    ("spec: a model folder that is not there", lambda t: ["sweep", spec_with(t, "model: tiny-olmo", "model: ./nope"),
                                                          "--dry-run"],
     "cannot list the revisions of ./nope: it is no folder here", 2),
    ("prompt: the Hub is off and no AMURO_DATA_DIR", lambda t: {"argv": ["prompt", "mnli", "instruct", "-n", "1"],
                                                                 "env": {"AMURO_DATA_DIR": "", "HF_HUB_OFFLINE": "1"}},
     "from the Hub: HF_HUB_OFFLINE is set; set AMURO_DATA_DIR", 2),
    ("report: an unknown profile table column value", lambda t: ["report", str(_bytes(
        t, b"model,revision,step,tokens,train,eval,format,num_fewshot,metric,value,stderr,n,method\n"
           b"m,,1,,mnli,mnli,default,0,acc,0.5,,,qlora\n")), "--out", str(t / "r")],
     "line 2: unknown method 'qlora'; known: full, lora", 2),
    ("prompt: a data file that is not UTF-8", lambda t: {"argv": ["prompt", "mnli", "default"],
                                                         "env": {"AMURO_DATA_DIR": data_dir_with(
                                                             t, "mnli", "validation_matched", b'{"x": "\xff"}\n')}},
     "validation_matched.jsonl:13: not UTF-8 text", 2),
    ("prompt: a label out of range", lambda t: {"argv": ["prompt", "mnli", "default", "-n", "1"],  # row 13: read
                                                "env": {"AMURO_DATA_DIR": data_dir_with(
                                                    t, "mnli", "validation_matched",
                                                    '{"premise": "p", "hypothesis": "h", "label": 7, "idx": 99}\n')}},
     "validation_matched.jsonl:13: field 'label' must be one of 0, 1, 2, got 7", 2),
]


def _bytes(tmp, data: bytes) -> Path:
    path = tmp / "results.csv"
    path.write_bytes(data)
    return path


def _snapshot(tmp: Path) -> dict:
    return {str(p): p.read_bytes() for p in tmp.rglob("*") if p.is_file()}


def run_case(setup, tmp: Path):
    """Set the case up, then run it through the real `amuro` entry point in-process: (code, files before)."""
    from amuro.cli import main

    made = setup(tmp)
    argv, env = (made["argv"], made["env"]) if isinstance(made, dict) else (made, {})
    before = _snapshot(tmp)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return main(argv), before
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@pytest.mark.parametrize("name,setup,expected,code", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(name, setup, expected, code, tmp_path, capsys):
    exit_code, before = run_case(setup, tmp_path)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_code == code and len(err) == 1 and err[0].startswith("amuro: error: "), (exit_code, err)
    assert expected in err[0], err[0]
    # The user's own files (everything the setup made) are unchanged, and nothing was half-written.
    assert _snapshot(tmp_path) == before
    assert not list(tmp_path.rglob("*.tmp"))


SFT_CASES = [
    ("sft: no --output_dir", ["--dataset_name", "mnli"], "--output_dir is required"),
    ("sft: a Tulu-only flag for mnli", ["--dataset_name", "mnli", "--fraction", "0.5", "--output_dir", "{tmp}/o"],
     "--fraction is for Tulu (--dataset_name tulu) training only; --dataset_name is mnli"),
    ("sft: an SFT-only flag for tulu", ["--dataset_name", "tulu", "--max_examples", "5", "--output_dir", "{tmp}/o"],
     "--max_examples is for per-dataset SFT training only; --dataset_name is tulu"),
    ("sft: a batch that does not divide", ["--dataset_name", "mnli", "--per_device_train_batch_size", "3",
                                           "--output_dir", "{tmp}/o"],
     "--total_batch_size 8 is not a multiple of --per_device_train_batch_size 3 x 1 processes"),
    ("sft: an unknown DeepSpeed config", ["--dataset_name", "mnli", "--deepspeed", "zero4", "--output_dir", "{tmp}/o"],
     "no shipped ds_configs config 'zero4'"),
    ("sft: --output_dir a folder of the user's", ["--dataset_name", "mnli", "--output_dir", "{mine}"],
     "holds files amuro did not write (report.md)"),
]


@pytest.mark.slow
@pytest.mark.parametrize("name,args,expected", SFT_CASES, ids=[c[0] for c in SFT_CASES])
def test_bad_training_input_is_one_line(name, args, expected, tiny_bpe, tmp_path):
    mine = foreign_folder(tmp_path)
    before = _snapshot(tmp_path)
    args = [a.format(tmp=tmp_path, mine=mine) for a in args]
    result = subprocess.run([sys.executable, "-m", "amuro.train.sft", "--model_name_or_path", tiny_bpe, *args],
                            capture_output=True, text=True, cwd=tmp_path, timeout=600)
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 2 and last.startswith("amuro: error: ") and expected in last, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert _snapshot(tmp_path) == before and not (tmp_path / "trainer_output").exists()


def test_a_full_disk_is_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch, capsys):
    """Disk full (ENOSPC from the write): one line naming the path, the old results.csv intact, no *.tmp."""
    from amuro.cli import main
    from amuro.study import results

    out = tmp_path / "out"
    out.mkdir()
    (out / "results.csv").write_text("old\n")
    real_fdopen = os.fdopen

    def full(fd, *args, **kwargs):
        f = real_fdopen(fd, *args, **kwargs)
        f.write = lambda text: (_ for _ in ()).throw(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f.name))
        return f

    monkeypatch.setattr(os, "fdopen", full)
    with pytest.raises(OSError):
        results.append_rows(out / "results.csv", [{"model": "m", "revision": "r", "train": "base", "eval": "mnli",
                                                   "format": "default", "num_fewshot": 0, "metric": "acc"}])
    assert (out / "results.csv").read_text() == "old\n" and not list(out.glob("*.tmp"))
    assert main(["report", str(ROOT / "tests" / "fixtures" / "results_tiny.csv"), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("amuro: error: ") and "No space left on device" in err[0], err
    assert str(tmp_path / "r") in err[0]
    assert not list((tmp_path / "r").rglob("*.tmp"))


if __name__ == "__main__":  # the closing-note table: python tests/test_bad_inputs.py
    import tempfile

    os.environ.setdefault("AMURO_DATA_DIR", str(FIXTURES))
    print("| input | command | what it prints | exit |\n|---|---|---|---|")
    for name, setup, _, _ in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            made = setup(Path(tmp))
            argv, env = (made["argv"], made["env"]) if isinstance(made, dict) else (made, {})
            result = subprocess.run([sys.executable, "-m", "amuro.cli", *argv], capture_output=True, text=True,
                                    env={**os.environ, **env})
            line = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
            shown = shlex.join(["amuro", *argv]).replace(tmp, "$TMP")
            print(f"| {name} | `{shown}` | `{line.replace(tmp, '$TMP')}` | {result.returncode} |")
