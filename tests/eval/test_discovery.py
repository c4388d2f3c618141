"""After `pip install`, plain `lm_eval` finds the tasks and `--model amuro-hf`, from any folder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES

PY_LISTING = """
import logging, sys
from lm_eval.tasks import TaskManager
from lm_eval.api.registry import get_model
names = set(TaskManager(include_defaults={defaults}).all_tasks)
print(int("amuro_mnli_instruct" in names), int("amuro" in names), int("arc_easy" in names),
      get_model("amuro-hf").__name__ if {models} else "", get_model("hf").__name__ if {models} else "")
"""


def _run(args, cwd, env=None, timeout=600):
    env = {**os.environ, "AMURO_DATA_DIR": str(FIXTURES), **(env or {})}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_lm_eval_cli_runs_an_amuro_task_without_include_path(tiny_bpe, tmp_path):
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import oracles

    out = tmp_path / "out"
    result = _run(["lm_eval", "--tasks", "amuro_mnli_instruct", "--model", "hf", "--model_args",
                   f"pretrained={tiny_bpe}", "--limit", "4", "--output_path", str(out)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Custom kwargs can be passed" not in result.stderr + result.stdout  # lm-eval's hint, kept for its tasks
    [results_file] = list(out.rglob("results_*.json"))
    acc = json.loads(results_file.read_text())["results"]["amuro_mnli_instruct"]["acc,none"]
    # The same 4 documents scored directly: the authors' instruct prompt, TokenProb over the three label words.
    model = AutoModelForCausalLM.from_pretrained(tiny_bpe, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(tiny_bpe)
    rows = [json.loads(line) for line in (FIXTURES / "mnli" / "validation_matched.jsonl").read_text().splitlines()]
    hits = []
    for row in rows[:4]:
        prompt = f"Consider the following texts: Text 1: {row['premise']} Text 2: {row['hypothesis']} The relation is "
        lls = oracles.tokenprob(model, tok, prompt, ["entailment", "neutral", "contradiction"], "")
        hits.append(int(np.argmax(lls)) == row["label"])
    assert acc == sum(hits) / 4


@pytest.mark.slow
def test_task_manager_sees_plugin_and_builtin_tasks_and_both_models(tmp_path):
    result = _run([sys.executable, "-c", PY_LISTING.format(defaults=True, models=True)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["1", "1", "1", "AmuroHFLM", "HFLM"]
    assert "overrides existing task" not in result.stderr


@pytest.mark.slow
def test_opt_out_switches_the_shim_off(tmp_path):
    on = _run([sys.executable, "-c", PY_LISTING.format(defaults=True, models=False)], cwd=tmp_path)
    off = _run([sys.executable, "-c", PY_LISTING.format(defaults=True, models=False)], cwd=tmp_path,
               env={"AMURO_LM_EVAL_PLUGIN": "0"})
    assert on.stdout.split() == ["1", "1", "1"] and off.stdout.split() == ["0", "0", "1"]


def test_include_defaults_false_means_only_the_users_tasks(tmp_path):
    """lm-eval's own `test_include_defaults_false_with_custom_path`, with the plugin installed: plugin tasks come
    with the built-in ones, so `include_defaults=False` leaves exactly the user's include_path."""
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "custom_arc_task.yaml").write_text(
        "task: custom_arc_task\ndataset_path: allenai/ai2_arc\ndataset_name: ARC-Challenge\n"
        "output_type: multiple_choice\ntest_split: test\ndoc_to_text: 'Q: {{question}}'\n"
        "doc_to_target: 0\ndoc_to_choice: '{{choices.text}}'\nmetadata: {version: 1.0}\n")
    code = (f"from lm_eval.tasks import TaskManager; "
            f"print(sorted(TaskManager(include_defaults=False, include_path={str(custom)!r}).all_tasks))")
    result = _run([sys.executable, "-c", code], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "['custom_arc_task']"


def test_an_unknown_task_is_one_line_only_when_it_is_ours(tmp_path):
    """The one-line rewrite of lm-eval's unknown-task error touches amuro names only; lm-eval's own errors for
    other tasks stay as lm-eval prints them."""
    from amuro.errors import _excepthook

    import io
    from contextlib import redirect_stderr

    seen = []
    err = io.StringIO()
    with redirect_stderr(err):
        _excepthook(ValueError, ValueError("Tasks not found: amuro_mnli_instrct"), None,
                    _previous=lambda *a: seen.append(a))
        _excepthook(ValueError, ValueError("Tasks not found: arc_esay"), None, _previous=lambda *a: seen.append(a))
    assert err.getvalue().startswith("lm_eval: error: Tasks not found: amuro_mnli_instrct (did you mean "
                                     "amuro_mnli_instruct?)")
    assert len(seen) == 1 and str(seen[0][1]) == "Tasks not found: arc_esay"  # handed to the previous hook


@pytest.mark.slow
def test_lm_eval_ls_tasks_lists_them(tmp_path):
    result = _run(["lm_eval", "ls", "tasks"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "amuro_mnli_instruct" in result.stdout and "amuro_xsum_io" in result.stdout


@pytest.mark.slow
def test_unknown_task_is_a_one_line_error(tmp_path):
    result = _run(["lm_eval", "--tasks", "amuro_mnli_instrct", "--model", "hf", "--model_args",
                   "pretrained=unused"], cwd=tmp_path)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("lm_eval: error: Tasks not found") and "did you mean amuro_mnli_instruct?" in last
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("case", ["missing_file", "malformed_row", "missing_field"])
def test_bad_data_is_a_one_line_error_naming_file_and_line(case, tiny_bpe, tmp_path):
    data = tmp_path / "data"
    (data / "mnli").mkdir(parents=True)
    rows = (FIXTURES / "mnli" / "validation_matched.jsonl").read_text().splitlines()
    if case == "malformed_row":
        rows[2] = rows[2][:-5]
    elif case == "missing_field":
        rows[2] = rows[2].replace('"hypothesis"', '"hypothesys"')
    if case != "missing_file":
        (data / "mnli" / "validation_matched.jsonl").write_text("\n".join(rows) + "\n")
    result = _run(["lm_eval", "--tasks", "amuro_mnli_default", "--model", "hf", "--model_args",
                   f"pretrained={tiny_bpe}", "--limit", "2"], cwd=tmp_path, env={"AMURO_DATA_DIR": str(data)})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    where = f"{data / 'mnli' / 'validation_matched.jsonl'}"
    expected = {"missing_file": f"amuro: error: {where}: no such file",
                "malformed_row": f"amuro: error: {where}:3: malformed JSON",
                "missing_field": f"amuro: error: {where}:3: missing field 'hypothesis'"}[case]
    assert last.startswith(expected), last


PRECEDENCE = """
from lm_eval.tasks import TaskManager
manager = TaskManager(include_path={user!r})  # with the built-ins (include_defaults=False: the user's path only)
print(manager.task_index["amuro_mnli_default"].yaml_path, manager.task_index["amuro_mnli_io"].yaml_path)
"""


def test_a_users_include_path_wins_over_the_plugin(tmp_path):
    """The shim adds the plugin folder before the user's --include_path: a task of the same name there wins,
    the rest still comes from the plugin, and naming the plugin folder itself adds nothing twice."""
    import amuro

    user = tmp_path / "mine"
    user.mkdir()
    ours = Path(amuro.tasks_dir()) / "mnli" / "amuro_mnli_default.yaml"
    (user / "amuro_mnli_default.yaml").write_text(ours.read_text().replace("include: ../", f"include: {ours.parents[1]}/"))
    result = _run([sys.executable, "-c", PRECEDENCE.format(user=str(user))], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    mine, plugin = result.stdout.split()
    assert Path(mine) == user / "amuro_mnli_default.yaml" and Path(plugin).parent == ours.parent
    again = _run([sys.executable, "-c", PRECEDENCE.format(user=amuro.tasks_dir())], cwd=tmp_path)
    assert again.returncode == 0 and "overrides existing task" not in again.stderr
    assert Path(again.stdout.split()[0]) == ours


STEP_ASIDE = """
import os
import lm_eval.models, lm_eval.tasks
from lm_eval.api import registry
if {native}:  # what an lm-eval that reads the entry points itself provides
    lm_eval.tasks.manager.discover_plugin_task_paths = lambda: []
    registry.load_plugins = lambda: None
del os.environ["AMURO_LM_EVAL_PLUGIN"]
import amuro.eval.shim
amuro.eval.shim.install()  # lm-eval already imported: the shim patches it in place, or steps aside
tasks = set(lm_eval.tasks.TaskManager().all_tasks)
try:
    registry.get_model("amuro-hf")
    model = 1
except Exception:
    model = 0
print(int("amuro_mnli_default" in tasks), model)
"""


@pytest.mark.parametrize("native,expected", [(False, "1 1"), (True, "0 0")])
def test_the_shim_steps_aside_where_lm_eval_reads_the_entry_points(native, expected, tmp_path):
    result = _run([sys.executable, "-c", STEP_ASIDE.format(native=native)], cwd=tmp_path,
                  env={"AMURO_LM_EVAL_PLUGIN": "0"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == expected.split()
