"""Every runnable example in README.md and docs/ runs, and prints what the page shows.

A runnable example is a ```console block: `$ command` lines (a trailing `\\` continues one, and a here-document
`<<'EOF'` takes the lines to its end marker), each followed by the
output it must print (stdout and stderr as a terminal shows them). In the shown output a line `...` stands for any
number of lines and `...` inside a line for any text; a last line `[exit N]` expects that exit status (else 0).
```bash blocks are illustrations (a GPU, the Hub) and are not run.

The blocks of one page run in order in one fresh folder, offline. A page holding `<!-- doctest: demo -->` starts
in a folder where `amuro demo --quick` has run (made once per test session), as a reader who followed the README
would be. Run only this: `python -m pytest -q tests/test_doc_examples.py`; one page as a script:
`python tests/test_doc_examples.py docs/getting-started.md`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
DEMO_MARK = "<!-- doctest: demo -->"


def examples(page: Path) -> list[tuple[int, str, list[str], int]]:
    """(line, command, expected output lines, expected exit status) of each `$` command in the page's console
    blocks."""
    out, block, start = [], None, 0
    for number, line in enumerate(page.read_text().splitlines(), 1):
        if block is None:
            if line.strip() == "```console":
                block, start = [], number
        elif line.strip() == "```":
            out += _commands(block, start)
            block = None
        else:
            block.append(line)
    return out


def _commands(lines: list[str], start: int) -> list[tuple[int, str, list[str], int]]:
    out, k = [], 0
    while k < len(lines):
        line = lines[k]
        if line.startswith("$ "):
            out.append([start + k + 1, line[2:], [], 0])
            while out[-1][1].endswith("\\"):  # the command goes on
                k += 1
                out[-1][1] += "\n" + lines[k]  # bash reads the backslash-newline as we do
            here = re.search(r"<<'?(\w+)'?", out[-1][1])
            while here and lines[k] != here.group(1):  # a here-document: its lines, to the end marker
                k += 1
                out[-1][1] += "\n" + lines[k]
        elif out and re.fullmatch(r"\[exit \d+\]", line.strip()):
            out[-1][3] = int(line.strip()[6:-1])
        elif out:
            out[-1][2].append(line.rstrip())
        k += 1
    return [tuple(c) for c in out]


def matches(expected: list[str], actual: list[str]) -> bool:
    """`...` lines match any lines, `...` in a line any text."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    pattern = ".*".join(re.escape(part) for part in expected[0].split("..."))
    return bool(actual) and re.fullmatch(pattern, actual[0].rstrip()) is not None and matches(expected[1:], actual[1:])


def run_page(page: Path, folder: Path) -> list[str]:
    """Run the page's examples in `folder`; the failures, each naming its page:line."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "COLUMNS": "120", "PYTHONWARNINGS": "ignore"}
    env.pop("AMURO_DATA_DIR", None)  # an example says which data it reads
    failures = []
    for line, command, expected, status in examples(page):
        done = subprocess.run(["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True,
                              timeout=900)
        actual = (done.stdout + done.stderr).rstrip("\n").splitlines()
        if done.returncode != status or not matches(expected, actual):
            shown = "\n".join(actual[-40:])
            failures.append(f"{os.path.relpath(page, ROOT)}:{line}: `{command}` exited {done.returncode} "
                            f"(expected {status}) and printed:\n{shown}\n--- the page shows:\n" + "\n".join(expected))
    return failures


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory) -> Path:
    """`amuro demo --quick`, once: the state a reader of the README is in after its first command."""
    folder = tmp_path_factory.mktemp("after_the_demo")
    env = {k: v for k, v in os.environ.items() if k != "AMURO_DATA_DIR"}
    done = subprocess.run([sys.executable, "-m", "amuro.cli", "demo", "--quick"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


@pytest.mark.parametrize("page", [p for p in PAGES if examples(p)], ids=lambda p: str(p.relative_to(ROOT)))
def test_runnable_examples_print_what_the_page_shows(page, tmp_path, request):
    if DEMO_MARK in page.read_text():
        shutil.copytree(request.getfixturevalue("demo_folder"), tmp_path, dirs_exist_ok=True, symlinks=True)
    failures = run_page(page, tmp_path)
    assert not failures, "\n\n".join(failures)


def test_the_runner_reads_commands_outputs_and_wildcards(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n```console\n$ echo a \\\n  b\na b\n$ printf 'x\\ny\\nz\\n'; exit 3\nx\n...\n[exit 3]\n"
                    "$ cat <<'EOF'\n$ q\nEOF\nq\n```\n```bash\n$ not run\n```\n")
    assert examples(page) == [(3, "echo a \\\n  b", ["a b"], 0), (6, "printf 'x\\ny\\nz\\n'; exit 3", ["x", "..."], 3),
                              (10, "cat <<'EOF'\n$ q\nEOF", ["q"], 0)]
    assert matches(["x", "...", "z"], ["x", "y", "z"]) and matches(["a ... c"], ["a b c"])
    assert not matches(["x"], ["x", "y"]) and not matches(["a ... c"], ["a b d"])


def test_every_revision_name_in_docs_and_help_texts_is_a_real_one():
    """OLMo and OLMo-2 branch names written anywhere a reader copies from (README, docs, the help texts and
    docstrings in the package, the shipped specs) are in a shipped revisions file, or, where that file lists only
    part of the repo (OLMo-2), follow the naming rule its header states: tokens = ceil(step x 2,097,152 / 1e9). (OLMo-2's stage-2 annealing
    branches, which amuro skips, are not checked.)"""
    import math

    shipped = {line.strip() for f in (ROOT / "runs").glob("*_revisions.txt") for line in f.read_text().splitlines()}
    texts = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "plugin").rglob("*.py"),
             *(ROOT / "runs").glob("*.yaml"), *(ROOT / "training").rglob("*")]
    wrong = set()
    for path in (t for t in texts if t.is_file()):
        for name in re.findall(r"(?<![\w-])(?:stage1-)?step\d+-tokens\d+B", path.read_text()):
            olmo2 = re.fullmatch(r"stage1-step(\d+)-tokens(\d+)B", name)
            if name not in shipped and not (olmo2 and int(olmo2[2]) == math.ceil(int(olmo2[1]) * 2_097_152 / 1e9)):
                wrong.add(f"{path.relative_to(ROOT)}: {name}")
    assert not wrong, sorted(wrong)


def test_the_readmes_links_lead_somewhere():
    """The README is read on GitHub and in a checkout, not in the site (whose own links `mkdocs build --strict`
    checks): each relative link must name a file of the repository."""
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", (ROOT / "README.md").read_text())
    assert links and not [link for link in links if not (ROOT / link).exists()]


if __name__ == "__main__":  # one page, in a temporary folder
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        problems = run_page(Path(sys.argv[1]).resolve(), Path(folder))
    print("\n\n".join(problems) or "all examples print what the page shows")
    sys.exit(1 if problems else 0)
