"""The sweep's work, counted from what it really does: lm-eval runs (a counter around the real
`lm_eval.simple_evaluate`), model loads (around the real `from_pretrained`), trainings (their logs and run cards)
and the files it writes. A first run does every job, a rerun does nothing, a partial run exactly the missing jobs.
The model is a Hub repo id with branches (an offline Hugging Face cache, conftest `hub`), the path a real study
takes: `--revision` for training, `pretrained` + `revision` for lm-eval. Also the command the sweep trains with,
and the one-line error of a failed training."""

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from amuro.errors import AmuroError
from amuro.study.results import read_results
from amuro.study.spec import Launcher, load_spec
from amuro.study.sweep import Sweep

from conftest import FIXTURES, HUB_REVISIONS

SPEC = """\
name: work
model: {model}
checkpoints: {{uniform: 2, revisions_file: revisions.txt}}
train: {train}
evaluate:
  formats: [default]
  base: [mnli]
  finetuned: [mnli]
  num_fewshot: 0
  limit: 3
  model_args: {{dtype: float32}}
  batch_size: 3
training: {{max_steps: 1, logging_steps: 1, save_strategy: "no"}}
keep_weights: true
"""


def write_spec(folder: Path, model: str, train=(), extra: str = "") -> Path:
    (folder / "revisions.txt").write_text("".join(f"{r}\n" for r in HUB_REVISIONS))
    spec = folder / "work.yaml"
    spec.write_text(SPEC.format(model=model, train=json.dumps(list(train))) + extra)
    return spec


class Work:
    """What a sweep did while it ran: lm-eval runs (model, revision) and model loads, through the real code."""

    def __init__(self, monkeypatch):
        import lm_eval
        import transformers

        self.evaluations, self.loads = [], []
        real_evaluate = lm_eval.simple_evaluate
        real_load = transformers.AutoModelForCausalLM.from_pretrained.__func__

        def evaluate(*args, **kwargs):
            args_ = kwargs["model_args"]
            self.evaluations.append((args_["pretrained"], args_.get("revision")))
            return real_evaluate(*args, **kwargs)

        def load(cls, *args, **kwargs):
            self.loads.append((args[0] if args else kwargs["pretrained_model_name_or_path"], kwargs.get("revision")))
            return real_load(cls, *args, **kwargs)

        monkeypatch.setattr(lm_eval, "simple_evaluate", evaluate)
        monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", classmethod(load))

    def take(self):
        out = (self.evaluations[:], self.loads[:])
        self.evaluations.clear()
        self.loads.clear()
        return out


def file_stamps(out: Path, pattern: str) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of each file: a rewrite, even with the same content, changes them."""
    return {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(out.glob(pattern))}


def tokenprob_accuracy(model_path: str, revision: str | None, n: int) -> float:
    """TokenProb accuracy on the first n MNLI documents, default format, 0-shot, computed directly."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import oracles

    model = AutoModelForCausalLM.from_pretrained(model_path, revision=revision, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(model_path, revision=revision)
    rows = [json.loads(line) for line in (FIXTURES / "mnli" / "validation_matched.jsonl").read_text().splitlines()]
    hits = [int(np.argmax(oracles.tokenprob(model, tok, f"### Input_1: {r['premise']}\n ### Input_2: "
                                            f"{r['hypothesis']}\n ### Inference: ", NLI, ""))) == r["label"]
            for r in rows[:n]]
    return sum(hits) / n


NLI = ("entailment", "neutral", "contradiction")
STEPS = dict(zip(HUB_REVISIONS, (100, 200)))


@pytest.mark.slow
def test_a_rerun_evaluates_nothing_and_a_partial_run_only_the_missing_jobs(hub, tmp_path, monkeypatch):
    spec = load_spec(write_spec(tmp_path, hub))
    out = tmp_path / "run"
    expected = {r: tokenprob_accuracy(hub, r, 3) for r in HUB_REVISIONS}
    work = Work(monkeypatch)

    Sweep(spec, out).run()
    evaluations, loads = work.take()
    assert evaluations == [(hub, r) for r in HUB_REVISIONS]  # one lm-eval run per model, each its own revision
    assert loads == [(hub, r) for r in HUB_REVISIONS]  # one load each
    table = read_results(out / "results.csv")
    assert table[["revision", "eval", "format", "metric"]].values.tolist() == [
        [r, "mnli", "default", "acc"] for r in HUB_REVISIONS]
    for row in table.itertuples():  # the scores are those of the right checkpoint
        assert row.value == expected[row.revision] and row.n == 3
        assert row.step == STEPS[row.revision]
    files, csv = file_stamps(out, "lm_eval/*/*.json"), (out / "results.csv").read_text()

    Sweep(spec, out).run()  # everything is done
    assert work.take() == ([], [])
    assert file_stamps(out, "lm_eval/*/*.json") == files and (out / "results.csv").read_text() == csv

    (out / "lm_eval" / HUB_REVISIONS[1] / "base.json").unlink()  # one job's results lost
    Sweep(spec, out).run()
    assert work.take() == ([(hub, HUB_REVISIONS[1])], [(hub, HUB_REVISIONS[1])])
    after = file_stamps(out, "lm_eval/*/*.json")
    first = f"lm_eval/{HUB_REVISIONS[0]}/base.json"
    assert after[first] == files[first] and set(after) == set(files)
    assert (out / "results.csv").read_text() == csv  # the same scores again, no duplicated row

    (out / "results.csv").unlink()  # killed after lm-eval wrote its results, before the table: rows, no work
    Sweep(spec, out).run()
    assert work.take() == ([], []) and (out / "results.csv").read_text() == csv


@pytest.mark.slow
def test_trainings_are_counted_a_rerun_trains_nothing_and_a_partial_run_the_missing_one(hub, tmp_path, monkeypatch):
    spec = load_spec(write_spec(tmp_path, hub, train=["mnli"]))
    out = tmp_path / "run"
    work = Work(monkeypatch)
    models = {r: out / "models" / r / "mnli" for r in HUB_REVISIONS}

    Sweep(spec, out).run()
    evaluations, _ = work.take()
    assert evaluations == [(hub, HUB_REVISIONS[0]), (str(models[HUB_REVISIONS[0]]), None),
                           (hub, HUB_REVISIONS[1]), (str(models[HUB_REVISIONS[1]]), None)]
    for revision, folder in models.items():  # trained from the Hub checkpoint at its revision (--revision)
        card = json.loads((folder / "run_card.json").read_text())
        assert (card["base_model"], card["revision"], card["step"]) == (hub, revision, STEPS[revision])
        assert card["global_steps"] == 1 and (folder / "model.safetensors").is_file()
    logs, cards = file_stamps(out, "logs/*/*.log"), file_stamps(out, "models/*/mnli/run_card.json")
    files = file_stamps(out, "lm_eval/*/*.json")
    assert len(logs) == len(cards) == 2 and len(files) == 4

    Sweep(spec, out).run()
    assert work.take() == ([], []) and file_stamps(out, "logs/*/*.log") == logs
    assert file_stamps(out, "models/*/mnli/run_card.json") == cards and file_stamps(out, "lm_eval/*/*.json") == files

    # Lost: the first fine-tuned model's results (its weights are kept), and the second's whole training.
    a, b = HUB_REVISIONS
    (out / "lm_eval" / a / "mnli.json").unlink()
    (models[b] / "run_card.json").unlink()
    (out / "lm_eval" / b / "mnli.json").unlink()
    Sweep(spec, out).run()
    evaluations, _ = work.take()
    assert evaluations == [(str(models[a]), None), (str(models[b]), None)]  # no base model again
    now = file_stamps(out, "logs/*/*.log")
    assert now[f"logs/{a}/mnli.log"] == logs[f"logs/{a}/mnli.log"]  # a was not trained again
    assert now[f"logs/{b}/mnli.log"] != logs[f"logs/{b}/mnli.log"] and (models[b] / "run_card.json").is_file()
    now = file_stamps(out, "lm_eval/*/*.json")
    assert [now[f"lm_eval/{r}/base.json"] for r in (a, b)] == [files[f"lm_eval/{r}/base.json"] for r in (a, b)]


# --- the plan and the training command ---------------------------------------------------------------------------

def test_the_plan_is_each_checkpoints_base_model_then_its_fine_tunings(tmp_path):
    spec = load_spec(write_spec(tmp_path, "allenai/OLMo-1B-hf", train=["mnli", "tulu"]))
    spec = replace(spec, evaluate=replace(spec.evaluate, base=("mnli", "boolq")))
    jobs = Sweep(spec, tmp_path / "out").jobs()
    assert [j.name for j in jobs] == [f"{r}/{t}" for r in HUB_REVISIONS for t in ("base", "mnli", "tulu")]
    # boolq, an instruction-tuning set, in the harness prompts (the profile's instruction_formats)
    assert [j.tasks for j in jobs[:3]] == [("amuro_mnli_default", "amuro_boolq_harness"), ("amuro_mnli_default",),
                                           ("amuro_mnli_default",)]
    assert [j.checkpoint.step for j in jobs] == [100] * 3 + [200] * 3



def test_the_training_command_of_a_hub_checkpoint_parses_as_the_trainer_reads_it(tmp_path):
    from amuro.configs import find
    from amuro.train import sft

    spec_path = write_spec(tmp_path, "allenai/OLMo-1B-hf", train=["mnli"])
    spec = replace(load_spec(spec_path), training={
        "max_steps": 1, "learning_rate": 1e-5, "padding_free": False, "label_names": ["labels", "other"]})
    sweep = Sweep(spec, tmp_path / "out")
    job = next(j for j in sweep.jobs() if j.finetuned and j.checkpoint.revision == HUB_REVISIONS[1])
    command = sweep.train_command(job)
    assert command[:3] == [sys.executable, "-m", "amuro.train.sft"]
    script_args, training_args, model_args = sft.parse(command[3:])
    assert (model_args.model_name_or_path, model_args.model_revision, script_args.dataset_name) == \
        ("allenai/OLMo-1B-hf", HUB_REVISIONS[1], "mnli")
    assert script_args.resume and training_args.output_dir == str(tmp_path / "out" / "models" / HUB_REVISIONS[1]
                                                                   / "mnli")
    assert training_args.max_steps == 1 and training_args.learning_rate == 1e-5
    assert training_args.padding_free is False and training_args.label_names == ["labels", "other"]

    # accelerate with a shipped config by name, and a script of the user's beside the spec
    (tmp_path / "my_train.py").write_text("")
    launcher = Launcher(train_command=("accelerate", "launch", "--config_file", "accelerate_1gpu"),
                        train_script="my_train.py")
    command = Sweep(replace(spec, launcher=launcher), tmp_path / "out").train_command(job)
    assert command[:5] == ["accelerate", "launch", "--config_file", str(find("ds_configs", "accelerate_1gpu")),
                           str(tmp_path / "my_train.py")]
    assert command[5:9] == ["--model_name_or_path", "allenai/OLMo-1B-hf", "--dataset_name", "mnli"]
    with pytest.raises(AmuroError, match=r"launcher.train_script .*nope.py not found"):
        Sweep(replace(spec, launcher=Launcher(train_script="nope.py")), tmp_path / "out").train_command(job)


@pytest.mark.parametrize("script,reason", [
    ("print('loading the model')\nprint('RuntimeError: CUDA out of memory')\nraise SystemExit(3)\n",
     "RuntimeError: CUDA out of memory"),
    ("raise SystemExit(3)\n", "exit 3"),
])
def test_a_failed_training_is_one_line_naming_the_job_and_its_log(script, reason, tmp_path):
    (tmp_path / "fail.py").write_text(script)
    spec_path = write_spec(tmp_path, "allenai/OLMo-1B-hf", train=["mnli"],
                           extra="launcher: {train_script: fail.py}\n")
    sweep = Sweep(load_spec(spec_path), tmp_path / "out")
    job = next(j for j in sweep.jobs() if j.finetuned)
    log = tmp_path / "out" / "logs" / job.checkpoint.revision / "mnli.log"
    with pytest.raises(AmuroError) as e:
        sweep.run_job(job)
    assert str(e.value) == f"training {job.name} failed ({reason}); log: {log} (kept in {sweep.layout.plan}; " \
                           "the same command continues)"
    assert not (tmp_path / "out" / "lm_eval" / job.checkpoint.revision / "mnli.json").exists()


def test_a_model_that_cannot_be_loaded_is_one_line_naming_the_job(tmp_path, capsys):
    """Offline, the paper's model is not in the Hub cache: the error names the job, not only the Hub's sentence."""
    from amuro.cli import main

    spec_path = write_spec(tmp_path, "allenai/OLMo-1B-hf", train=[])
    assert main(["sweep", str(spec_path), "--out", str(tmp_path / "out")]) == 1 + 1  # AmuroError's exit status
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("amuro: error: job ") and "/base failed: " in err[0], err


@pytest.mark.slow
def test_tulu_and_multiple_choice_cells_through_sweep_results_and_report(hub, tmp_path):
    """Instruction tuning on Tulu, scored on the multiple-choice sets (acc and acc_norm) and boolq, then read by
    the report: the paper's Table 6 groups, computed here from results.csv by hand."""
    import pandas as pd

    from amuro.cli import main

    spec_path = write_spec(tmp_path, hub, train=["tulu"])
    spec = load_spec(spec_path)
    spec = replace(spec, training={**spec.training, "fraction": 1.0},
                   evaluate=replace(spec.evaluate, base=("in_domain",), finetuned=("in_domain",), limit=2))
    results = Sweep(spec, tmp_path / "run").run()
    table = pd.read_csv(results)
    mc = ["arc_easy", "arc_challenge", "openbookqa", "hellaswag", "sciq_mc"]
    assert sorted(table["eval"].unique()) == sorted([*mc, "boolq"]) and set(table["train"]) == {"base", "tulu"}
    metrics = table.groupby("eval")["metric"].apply(sorted).to_dict()
    assert metrics == {**{d: ["acc", "acc", "acc", "acc", "acc_norm", "acc_norm", "acc_norm", "acc_norm"] for d in mc},
                       "boolq": ["acc"] * 4}  # 2 checkpoints x (base, tulu)

    assert main(["report", str(results), "--out", str(tmp_path / "report")]) == 0
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    acc = table[table["metric"] == "acc"].set_index(["step", "train", "eval"])["value"]
    # learned in pre-training: sciq_mc (twice, as the authors counted it), hellaswag, arc_challenge, arc_easy,
    # openbookqa; learned in fine-tuning: of its pairs only (boolq, tulu) is in this sweep
    groups = {"learned in pre-training": ["sciq_mc", "hellaswag", "arc_challenge", "arc_easy", "openbookqa", "sciq_mc"],
              "learned in fine-tuning": ["boolq"]}
    gain = {(g["group"], g["step"]): g for g in summary["ft_gain"]}
    assert set(gain) == {(g, s) for g in groups for s in STEPS.values()}
    for (group, step), row in gain.items():
        changes = [acc[(step, "tulu", d)] - acc[(step, "base", d)] for d in groups[group]]
        assert row["n_pairs"] == len(changes) and row["avg_raw_change"] == pytest.approx(np.mean(changes))
