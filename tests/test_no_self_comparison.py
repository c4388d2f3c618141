"""No test compares a computation with itself: `f(x) == f(x)`, or `v == f(x)` where `v = f(x)` in the same test
(both sides come from the code under test, so a wrong result passes). Seeded determinism is checked against a
pinned value instead. A file read before and after an action (`read_text`, `read_bytes`, `stat`: "the rerun left
it unchanged") compares two moments, not a function with itself, and is allowed."""

import ast
from pathlib import Path

TESTS = Path(__file__).parent
# file_stamps: the study tests' (inode, mtime); _snapshot: test_bad_inputs' (path -> bytes)
SNAPSHOTS = {"read_text", "read_bytes", "stat", "file_stamps", "_snapshot"}


def _reads_a_file(expr: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr in SNAPSHOTS or isinstance(n, ast.Name) and n.id in SNAPSHOTS
               for n in ast.walk(expr))


def self_comparisons(source: str) -> list[int]:
    """Lines where both sides of an `==` are the same expression, directly or through a variable."""
    lines = []
    for func in ast.walk(ast.parse(source)):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        bound = {}  # variable -> the call expression it was assigned from
        for node in ast.walk(func):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                    and isinstance(node.value, ast.Call):
                bound[node.targets[0].id] = ast.dump(node.value)
        for node in ast.walk(func):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            for op, a, b in zip(node.ops, sides, sides[1:]):
                if not isinstance(op, ast.Eq) or not any(isinstance(n, ast.Call) for n in ast.walk(a)) \
                        or _reads_a_file(a) or _reads_a_file(b):
                    continue
                dumps = [bound.get(s.id, ast.dump(s)) if isinstance(s, ast.Name) else ast.dump(s) for s in (a, b)]
                if dumps[0] == dumps[1]:
                    lines.append(node.lineno)
    return lines


def test_the_checker_finds_the_patterns_it_forbids():
    assert self_comparisons("def t():\n    assert World(1).sentence() == World(1).sentence()\n") == [2]
    assert self_comparisons("def t():\n    m = mrc(df, 'x')\n    assert mrc(df, 'x') == m\n") == [3]
    assert self_comparisons("def t():\n    assert f(1) == f(2)\n    assert f(1) == 3\n") == []
    assert self_comparisons("def t():\n    a = p.read_text()\n    rerun()\n    assert p.read_text() == a\n") == []


def test_no_test_compares_a_computation_with_itself():
    found = {str(p.relative_to(TESTS)): lines for p in sorted(TESTS.rglob("*.py"))
             if (lines := self_comparisons(p.read_text()))}
    assert found == {}
