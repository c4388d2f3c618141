"""Shipped run specs and DeepSpeed/accelerate configs, found by name from any folder; the package's layout."""

import json
from pathlib import Path

import pytest

from amuro import configs
from amuro.errors import AmuroError
from amuro.study.spec import load_spec

from conftest import ROOT

PACKAGE = ROOT / "plugin" / "amuro"


def test_every_shipped_file_is_found_by_name():
    assert set(configs.shipped("runs")) >= {"tiny", "demo", "olmo1b_paper"}
    assert set(configs.shipped("ds_configs")) >= {"zero2", "zero3", "zero3_offload", "accelerate_1gpu"}
    for name in ("zero2", "zero2.json", "ds_configs/zero2.json"):
        assert configs.find("ds_configs", name) == ROOT / "ds_configs" / "zero2.json"
    assert json.loads(Path(configs.deepspeed_file("zero3")).read_text())["zero_optimization"]["stage"] == 3


def test_a_run_spec_by_name_from_another_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert configs.run_spec("olmo1b_paper") == ROOT / "runs" / "olmo1b_paper.yaml"
    assert configs.run_spec("runs/tiny.yaml") == ROOT / "runs" / "tiny.yaml"  # no runs/ folder here
    assert load_spec(configs.run_spec("tiny")).name == "tiny"
    (tmp_path / "mine.yaml").write_text("name: mine\n")
    assert configs.run_spec("mine.yaml") == Path("mine.yaml")  # a file here wins


def test_unknown_names_are_one_line_errors_with_a_hint():
    with pytest.raises(AmuroError, match=r"no shipped ds_configs config 'zer2' \(did you mean zero2\?\)"):
        configs.find("ds_configs", "zer2")
    with pytest.raises(AmuroError, match=r"neither a file here .* nor a shipped spec .*did you mean olmo1b_paper"):
        configs.run_spec("olmo1b_papr")
    with pytest.raises(AmuroError, match="is not a DeepSpeed config"):
        configs.deepspeed_file("accelerate_1gpu")
    assert configs.deepspeed_file('{"train_batch_size": 8}') == '{"train_batch_size": 8}'  # JSON strings pass


def test_the_wheel_ships_what_the_checkout_has():
    """hatch_build.py puts every spec and config file into the wheel; none is left behind."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("amuro_hatch_build", ROOT / "hatch_build.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    for folder, patterns in hook.SHIPPED.items():
        files = {p.name for p in (ROOT / folder).iterdir() if p.is_file()}
        matched = {p.name for pattern in patterns for p in (ROOT / folder).glob(pattern)}
        assert files - matched <= {"README.md"}, folder  # runs/README.md describes the folder in the repo


def test_tests_mirror_the_package_and_modules_stay_small():
    stages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert stages == ["demo", "eval", "report", "study", "tasks", "train"]
    for stage in stages:
        assert list((ROOT / "tests" / stage).glob("test_*.py")), f"tests/{stage}/ has no tests"
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert len(names) == len(set(names)), "test files need distinct names (pytest imports them by basename)"
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert max(sizes.values()) <= 330, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_version_and_the_shipped_specs_in_sweep_help(capsys):
    from amuro import __version__
    from amuro.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out == f"amuro {__version__}\n"
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps the help at the terminal's width
    assert len(configs.shipped("runs")) >= 7
    for name in configs.shipped("runs"):
        assert name in text, f"`amuro sweep --help` does not name the shipped spec {name}"
