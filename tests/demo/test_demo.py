"""`amuro demo`, reduced (fewer steps, checkpoints and examples): the whole study end to end, interrupted and
resumed, with a well-formed summary.json that shows a positive in-domain fine-tuning gain."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from amuro.demo.run import DemoConfig
from amuro.demo.synthetic import World, write_sets

REDUCED = ["--pretrain-steps", "100", "--checkpoints", "2", "--train-examples", "400", "--eval-examples", "24"]


def demo(out, *extra):
    return [sys.executable, "-m", "amuro.cli", "demo", "--out", str(out), *REDUCED, *extra]


@pytest.mark.slow
def test_reduced_demo_end_to_end_after_an_interruption(tmp_path):
    out = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k != "AMURO_DATA_DIR"}  # the demo brings its own data
    # Interrupt it once the sweep has evaluated a model, then pick up where it stopped.
    proc = subprocess.Popen(demo(out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 600
    while proc.poll() is None and time.time() < deadline and not list((out / "sweep" / "lm_eval").glob("*/*.json")):
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    again = subprocess.run(demo(out), env=env, capture_output=True, text=True)
    assert again.returncode == 2 and again.stderr.strip().endswith("pass --resume to continue it, or choose "
                                                                    "another --out")
    result = subprocess.run(demo(out, "--resume"), env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    # A quiet console: the libraries' logs, warnings and bars go to amuro.log files, not the terminal.
    assert len(result.stderr.splitlines()) < 100, result.stderr[-3000:]
    assert (out / "sweep" / "amuro.log").stat().st_size > 0 and not (out / "amuro.log").exists()
    assert f"logs: {out}/sweep/amuro.log (lm-eval, transformers, TRL)" in result.stdout  # where the README says
    assert "done earlier: step5-tokens5K step100-tokens102K" in result.stdout  # pre-training was not redone
    assert f"report: {out}/report/report.md" in result.stdout and "mnli  accuracy" in result.stdout
    # The headline is at the last checkpoint and says what its numbers rest on.
    assert "at the last checkpoint (step 100), default format, 24 documents per task" in result.stdout
    assert "warning: synthetic data (amuro demo's seeded synthetic sets, seed 0)" in result.stdout
    first_screen = (out / "report" / "report.md").read_text().splitlines()[:20]
    assert "## What this was run on" in first_screen and any("**Spec**: `demo`" in ln for ln in first_screen)
    assert any("Warning: these numbers cannot support" in ln for ln in first_screen)

    summary = json.loads((out / "report" / "summary.json").read_text())
    for direction in ("cls_to_gen", "gen_to_cls"):
        assert set(summary["mrc"][direction]) >= {"mean", "median", "ratio_of_means", "ci_low", "ci_high",
                                                  "p_value", "n"}
    assert summary["mrc"]["cls_to_gen"]["n"] >= 1
    gains = [g for g in summary["ft_gain"] if g["group"] == "learned in fine-tuning"]
    assert [g["step"] for g in gains] == [5, 100]
    assert all(set(g) >= {"step", "group", "avg_raw_change", "avg_ratio", "n_pairs", "slope_per_100k"}
               for g in gains)
    assert all(g["avg_raw_change"] > 0 for g in gains), gains  # fine-tuning beats the base model in-domain
    assert (out / "report" / "figures" / "ft_gain.png").is_file()
    assert len((out / "model" / "revisions.txt").read_text().split()) == 2


def test_demo_checkpoints_are_log_spaced_and_end_at_the_last_step():
    assert DemoConfig().checkpoint_steps() == [20, 54, 147, 400]
    assert DemoConfig(pretrain_steps=100, checkpoints=2).checkpoint_steps() == [5, 100]


def test_synthetic_sets_follow_the_registry_schemas(tmp_path):
    from amuro.tasks.data import load_split
    from amuro.tasks.registry import get_set

    write_sets(tmp_path, n_train=9, n_eval=6)
    for name in ("mnli", "mnli_mm", "rte", "gpt3nli", "xsum", "xlsum", "cnn"):
        ts = get_set(name)
        for split in ts.splits():
            rows = load_split(name, split, tmp_path)  # validates every row against the set's HF columns
            assert len(rows) == (9 if split == ts.train_split else 6)
    mnli = load_split("mnli", "train", tmp_path)
    assert sorted({r["label"] for r in mnli}) == [0, 1, 2]
    assert all(("not" in r["hypothesis"]) == (r["label"] == 2) for r in mnli)  # the learnable rule
    assert write_sets(tmp_path / "again", 9, 6) and (tmp_path / "again" / "xsum" / "train.jsonl").read_text() == \
        (tmp_path / "xsum" / "train.jsonl").read_text()  # seeded
    w = World(2)  # pinned: what random.Random(2) draws through the three sentence shapes
    assert [w.sentence() for _ in range(3)] == ["Jack and the old teacher bought the boat together.",
                                                "In the evening Noah found the table at the river.",
                                                "The brave cat watched the garden near the museum."]


@pytest.mark.xfail(strict=True, reason="demo.synthetic.TIMES ends in an empty entry (a trailing comma), so about "
                   "1 sentence in 20 has no time and starts with a space; fixing it changes the demo's data")
def test_synthetic_sentences_start_with_a_word():
    w = World(1)
    assert not any(w.sentence().startswith(" ") for _ in range(100))


@pytest.mark.slow
def test_ctrl_c_during_pretraining_then_resume_continues_from_the_last_checkpoint(tmp_path):
    """Ctrl-C is one line and exit 130; `--resume` continues pre-training from its last training checkpoint, and the
    published checkpoints are the same, weight for weight, as those of an uninterrupted pre-training."""
    import torch
    from safetensors.torch import load_file

    from amuro.demo.pretrain import pretrain
    from amuro.demo.synthetic import pretraining_corpus

    out = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k != "AMURO_DATA_DIR"}
    proc = subprocess.Popen(demo(out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while proc.poll() is None and time.time() < deadline and not list((out / "model" / "trainer").glob("checkpoint-*")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-3000:]
    assert err.strip().splitlines()[-1] == f"amuro: interrupted; `amuro demo --out {out} --resume` continues"
    assert "Traceback" not in err
    assert len((out / "model" / "revisions.txt").read_text().split()) < 2  # it stopped inside pre-training
    result = subprocess.run(demo(out, "--resume"), env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming from the last training checkpoint" in result.stdout
    # The same models as a pre-training that was never stopped.
    reference = tmp_path / "reference"
    config = DemoConfig(pretrain_steps=100, checkpoints=2)
    pretrain(reference, pretraining_corpus(config.corpus_documents, config.seed), steps=100,
             checkpoint_steps=config.checkpoint_steps(), hidden_size=config.hidden_size, seed=config.seed)
    for name in ("step5-tokens5K", "step100-tokens102K"):
        ours, theirs = (load_file(root / name / "model.safetensors") for root in (out / "model", reference))
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours), name


def test_resume_skips_a_training_checkpoint_that_a_stop_cut_short(tmp_path):
    """Ctrl-C while the Trainer saves leaves a checkpoint without trainer_state.json (written last): resuming uses
    the older, complete one and removes the partial one."""
    from amuro.demo.pretrain import _last_complete_checkpoint

    assert _last_complete_checkpoint(tmp_path / "none") is None
    for step, complete in ((10, True), (20, False)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "model.safetensors").write_bytes(b"x")
        if complete:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert _last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")
    assert not (tmp_path / "checkpoint-20").exists()


@pytest.mark.slow
def test_two_families_and_two_seeds_end_to_end(tmp_path):
    """`amuro demo --families 2 --seeds 2`, reduced: two tiny families (OLMo's and Pythia's checkpoint names), each
    cell fine-tuned with two seeds, each family reported apart, and the replication table across them."""
    out = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k != "AMURO_DATA_DIR"}
    small = ["--pretrain-steps", "60", "--checkpoints", "2", "--train-examples", "160", "--eval-examples", "12"]
    result = subprocess.run([sys.executable, "-m", "amuro.cli", "demo", "--out", str(out), "--families", "2",
                             "--seeds", "2", *small], env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "model" / "tiny-olmo" / "step60-tokens61K").is_dir() and (out / "model" / "tiny-pythia" /
                                                                            "step60").is_dir()
    assert "do the findings replicate across tiny-olmo, tiny-pythia?" in result.stdout
    assert "MRC: cls_to_gen: " in result.stdout
    assert f"each training's output in {out.resolve()}/sweep/<family>/logs/<revision>/<train>.log" in result.stdout
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert summary["replication"]["models"] == ["tiny-olmo", "tiny-pythia"]
    assert set(summary["models"]) == {"tiny-olmo", "tiny-pythia"}
    for finding in summary["replication"]["findings"]:
        assert finding["verdict"].startswith(("holds in", "no data")), finding
    family = json.loads((out / "report" / "tiny-pythia" / "summary.json").read_text())
    assert family["input"]["seeds"] == ["0", "1"] and family["run_on"]["family"] == "tiny-pythia"
    assert "## Each finding in each model, and the verdict" in (out / "report" / "report.md").read_text()
    assert (out / "report" / "figures" / "replication.png").is_file()
