"""The docs site: its reference pages are what docs/gen_reference.py makes of the code, they name every command-line
flag, run-spec key and results column (so a new one fails here until the pages are regenerated), and
`mkdocs build --strict` passes (the CI's docs build: a warning is an error)."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import re
import subprocess
import sys
import typing
import warnings

import pytest

from conftest import ROOT

REFERENCE = ROOT / "docs" / "reference"
REGENERATE = "regenerate with `python docs/gen_reference.py`"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "docs" / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _generator()


@pytest.fixture(scope="module")
def pages() -> dict:
    return gen.pages()  # some 20 s: every --help, 63 prompts and a report of the fixture table


def test_the_reference_pages_are_what_the_code_generates(pages):
    stale = gen.stale(pages)
    cli = REFERENCE / "cli.md"
    if gen.help_versions() not in cli.read_text():  # another Python or TRL lays out or words the help otherwise
        warnings.warn(f"docs/reference/cli.md not compared: it was not generated under {gen.help_versions()}")
        stale = [name for name in stale if name != str(cli.relative_to(ROOT))]
    assert not stale, f"stale: {', '.join(stale)}; {REGENERATE}"


def _named(flag: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) is not None


def test_cli_md_names_every_command_and_flag():
    from amuro.cli import build_parser
    from amuro.train.sft import make_parser

    text = (REFERENCE / "cli.md").read_text()
    parser = build_parser()
    (commands,) = (a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert all(f"## amuro {name}\n" in text for name in commands), REGENERATE
    flags = {f for p in (parser, *commands.values(), make_parser()) for a in p._actions for f in a.option_strings}
    missing = sorted(f for f in flags if not _named(f, text))
    assert not missing, f"docs/reference/cli.md lacks {', '.join(missing[:10])}; {REGENERATE}"


def _spec_keys(cls, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name != "path":  # the file a spec was read from, not a key
            yield prefix + f.name
            if dataclasses.is_dataclass(hints[f.name]):
                yield from _spec_keys(hints[f.name], f"{prefix}{f.name}.")


def test_spec_md_explains_every_run_spec_key():
    from amuro.study.spec import RunSpec

    rows = {m[1]: m[2] for m in re.finditer(r"^\| `([\w.]+)` \|.*\| (.*?) ?\|$", (REFERENCE / "spec.md").read_text(),
                                            re.M)}
    keys = [*_spec_keys(RunSpec), "families"]
    missing = [k for k in keys if k not in rows]
    assert not missing, f"docs/reference/spec.md lacks {', '.join(missing)}; {REGENERATE}"
    unexplained = [k for k in keys if not rows[k].strip()]
    assert not unexplained, f"no comment beside {', '.join(unexplained)} in the YAML of amuro/study/spec.py's docstring"


def test_schemas_md_names_every_results_column():
    from amuro.study.diagnostics import diagnostic_columns
    from amuro.study.results import COLUMNS, OPTIONAL

    text = (REFERENCE / "schemas.md").read_text()
    missing = [c for c in (*COLUMNS, *OPTIONAL, *diagnostic_columns(None)) if f"| `{c}` |" not in text]
    assert not missing, f"docs/reference/schemas.md lacks {', '.join(missing)}; {REGENERATE}"


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert (tmp_path / "site" / "reference" / "spec" / "index.html").is_file()
