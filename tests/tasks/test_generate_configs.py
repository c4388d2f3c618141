"""The task YAMLs are generated from the registry; regenerating must change nothing."""

import subprocess
import sys
from pathlib import Path

import yaml

import amuro
from amuro_tasks import _generate_configs as gen
from amuro.tasks.registry import FORMATS, HARNESS, SETS


def test_regeneration_gives_no_diff():
    result = subprocess.run([sys.executable, gen.__file__, "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_57_tasks_6_harness_tasks_and_the_groups():
    files = {Path(p).stem: yaml.safe_load(text) for p, text in gen.render_all().items()}
    harness = {f"amuro_{s}_{HARNESS}" for s, ts in SETS.items() if ts.harness}
    expected = {f"amuro_{s}_{f}" for s in SETS for f in FORMATS} | harness
    assert len(expected) == 63 and set(files["amuro_harness"]["task"]) == harness
    assert {name for name, c in files.items() if "task" in c and "group" not in c} == expected
    assert all(files[name]["task"] == name for name in expected)
    groups = {name for name, c in files.items() if "group" in c}
    assert files["amuro_cls"]["aggregate_metric_list"][0]["metric"] == "acc"
    assert files["amuro_gen"]["aggregate_metric_list"][0]["metric"] == "rougeL"
    assert len(files["amuro_cls"]["task"]) + len(files["amuro_gen"]["task"]) == 57
    assert {"amuro", "amuro_cls", "amuro_gen", "amuro_default", "amuro_io", "amuro_instruct", "amuro_mnli",
            "amuro_nli", "amuro_paraphrase", "amuro_summarization", "amuro_question_generation",
            "amuro_reasoning", "amuro_harness"} <= groups
    base = yaml.safe_load((gen.HERE / "_harness_base").read_text().replace("!function", ""))
    assert base["target_delimiter"] == " " and base["fewshot_delimiter"] == "\n\n"  # lm-eval's (catwalk's) join
    for name in harness:
        assert files[name]["include"] == "../_harness_base" and "target_delimiter" not in files[name]


def test_task_manager_indexes_every_task_without_override_warnings(caplog):
    manager = amuro.task_manager(include_defaults=False)
    names = set(manager.all_tasks)
    assert {f"amuro_{s}_{f}" for s in SETS for f in FORMATS} <= names
    assert "overrides existing task" not in caplog.text
    assert Path(amuro.tasks_dir()) == Path(gen.__file__).parent
