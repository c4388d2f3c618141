#!/usr/bin/env python3
"""Mutation check: plant deliberate bugs, one at a time, and see whether the tests notice.

    python tests/mutation/run_mutations.py                 # every mutant (about 35 min on 2 shared CPU cores)
    python tests/mutation/run_mutations.py --list          # the mutants and the tests each one runs
    python tests/mutation/run_mutations.py --only rouge-precision ratio-of-means-swapped

Each mutant is one small edit (a curated list below, in the spirit of a code reviewer's likely mistakes) to
`amuro/eval/scoring.py`, `amuro/report/{analysis,cells}.py`, `amuro/study/{sweep,plan,results}.py` or
`amuro/tasks/templates.py`. The checkout is copied once to a temporary folder; each mutant is applied to that COPY
(never to the tree), the tests that cover the mutated code run against the copy (`PYTHONPATH` points at it), and
the file is restored. A mutant is *killed* when a test fails, and *survives* when all pass. Before the mutants, the
same tests run once on the unmutated copy and must pass. A mutant whose text is no longer in the code (the code
changed) is *stale*: update its entry. Exit status: 0 when every mutant is killed or accepted (ACCEPTED says why
a survivor is harmless), 1 otherwise.

Not part of CI's test command: it runs the selected tests once per mutant.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str  # under plugin/amuro/
    edits: tuple[tuple[str, str], ...]  # (old, new): each `old` must occur exactly once in the file
    why: str
    tests: tuple[str, ...]  # pytest arguments, run with -x (the first failure kills the mutant)


def mutant(id, file, old, new, why, tests):
    edits = tuple(zip(old, new)) if isinstance(old, tuple) else ((old, new),)
    return Mutant(id, file, edits, why, tuple(tests))


# The tests each area runs, fastest first (the first failure ends the run).
ROUGE = ["tests/eval/test_scoring.py", "-k", "rouge or oracle"]
CHOICES = ["tests/eval/test_scoring.py", "tests/eval/test_hf_model.py", "tests/eval/test_tokenprob.py", "-k",
           "subtoken or fallback or plain_hf or paper_candidates or paper_rule"]
ANALYSIS = ["tests/report/test_analysis.py", "tests/report/test_report.py"]
SWEEP = ["tests/study/test_sweep_work.py", "tests/study/test_sweep.py", "-k",
         "evaluates_nothing or plan_is or training_command or failed_training or dry_run or revision_not_in or "
         "unknown_set"]
RESULTS = ["tests/study/test_results.py", "tests/study/test_sweep_work.py", "-k", "not trainings and not tulu"]
TEMPLATES = ["tests/tasks/test_templates.py", "tests/tasks/test_golden_prompts.py",
             "tests/tasks/test_generate_configs.py", "tests/eval/test_tasks_e2e.py", "-k", "not all_63"]

SC, AN, CE = "eval/scoring.py", "report/analysis.py", "report/cells.py"
SW, PL, RE, TE = "study/sweep.py", "study/plan.py", "study/results.py", "tasks/templates.py"

MUTANTS = [
    # --- Rouge-L and TokenProb (eval/scoring.py) ---
    mutant("rouge-precision", SC, '["rougeL"].fmeasure', '["rougeL"].precision',
           "Rouge-L F-measure -> precision (named in issue 17)", ROUGE),
    mutant("rouge-recall", SC, '["rougeL"].fmeasure', '["rougeL"].recall', "Rouge-L F-measure -> recall", ROUGE),
    mutant("rouge-stemmer", SC, "use_stemmer=False", "use_stemmer=True", "Rouge-L with Porter stemming", ROUGE),
    mutant("rouge-rouge1", SC, ('RougeScorer(["rougeL"]', '["rougeL"].fmeasure'),
           ('RougeScorer(["rouge1"]', '["rouge1"].fmeasure'), "Rouge-1 in place of Rouge-L", ROUGE),
    mutant("tokenprob-lead", SC, "leads = [p[len(c):] + delimiter", "leads = [delimiter",
           "the prompt's trailing space left out of the label's first token", CHOICES),
    mutant("tokenprob-no-fallback-count", SC, "choices, fallbacks = list(labels), fallbacks + 1",
           "choices, fallbacks = list(labels), fallbacks", "whole-word fallbacks not counted", CHOICES),
    mutant("tokenprob-no-fallback", SC,
           "if not all(texts[i] and verify[i] == prefixes[i] + [firsts[i]] for i in span):",
           "if not all(verify[i] == prefixes[i] + [firsts[i]] for i in span):",
           "an empty first-subtoken text (a bare space token) used as a choice", CHOICES),
    mutant("tokenprob-no-ambiguity-error", SC, "if len(set(choices)) != len(choices):", "if False:",
           "labels sharing a first subtoken accepted", CHOICES),
    mutant("paper-candidates-order", SC, 'words = list(labels) + [" " + w for w in labels]',
           'words = [" " + w for w in labels] + list(labels)', "the authors' candidate order reversed", CHOICES),
    mutant("paper-candidates-owner", SC, "(i, k % len(labels))", "(i, k // 2)",
           "candidate ids mapped to the wrong label", CHOICES),

    # --- the analysis (report/analysis.py, report/cells.py) ---
    mutant("ratio-of-means-swapped", AN, 'ok["change"].sum() / ok["base"].sum()', 'ok["base"].sum() / ok["change"].sum()',
           "ratio of means upside down (named in issue 17)", ANALYSIS),
    mutant("ratio-of-means-is-mean-ratio", AN, 'ok["change"].sum() / ok["base"].sum()', 'ok["ratio"].mean()',
           "ratio of means -> mean of ratios", ANALYSIS),
    mutant("mrc-mean-is-median", AN, '"mean": float(r.mean())', '"mean": float(np.median(r))',
           "MRC mean -> median", ANALYSIS),
    mutant("mrc-format", AN, 'c = cells(df, MRC_PAIRS[direction], "default", num_fewshot)\n    ok =',
           'c = cells(df, MRC_PAIRS[direction], "io", num_fewshot)\n    ok =', "MRC read in the io format", ANALYSIS),
    mutant("mrc-missing-counts-zero-base", CE,
           'return {f"n_{s}": int((c["status"] == s).sum()) for s in',
           'return {f"n_{s}": int((c["status"] == s).sum() + (s == MISSING) * (c["status"] == ZERO_BASE).sum()) for s in',
           "zero-BASE cells counted as missing too", ANALYSIS),
    mutant("mrc-ci-level", AN, "bootstrap_ci(r, 0.95, n_resamples, seed)", "bootstrap_ci(r, 0.90, n_resamples, seed)",
           "a 90% interval reported as 95%", ANALYSIS),
    mutant("gain-slope-real-step", AN, "x = PAPER_SLOPE_STEP.get(int(step), int(step))", "x = int(step)",
           "the authors' 750,000 for `main` not used in the slope", ANALYSIS),
    mutant("gain-slope-sign", AN, "(avg - prev[1]) / (x - prev[0])", "(prev[1] - avg) / (x - prev[0])",
           "slope of the wrong sign", ANALYSIS),
    mutant("gain-drops-zero-base", AN, "have = present(s)\n", 'have = s[s["status"] == "ok"]\n',
           "raw change averaged without the zero-BASE pairs", ANALYSIS),
    mutant("pt-first-is-last", AN, "first, later = s.iloc[0], s.iloc[1:]", "first, later = s.iloc[-1], s.iloc[:-1]",
           "pre-training gain measured from the last checkpoint", ANALYSIS),
    mutant("pt-ignores-z", AN, "gain > z * se", "gain > se", "the 2-standard-error rule dropped", ANALYSIS),
    mutant("format-spread-mean", AN, 'float(v.max() - v.min())', 'float(v.max() - v.mean())',
           "format spread = max - mean", ANALYSIS),
    mutant("cells-ratio-over-finetuned", CE, '"ratio": change / b if', '"ratio": change / f if',
           "ratio divided by the fine-tuned score", ANALYSIS),
    mutant("cells-change-sign", CE, "change = f - b if", "change = b - f if", "change = BASE - fine-tuned", ANALYSIS),
    mutant("cells-zero-base-test", CE, "status = ZERO_BASE if b == 0 else OK", "status = ZERO_BASE if f == 0 else OK",
           "zero test on the fine-tuned score", ANALYSIS),
    mutant("cells-shot-tie", CE, "return int(max(counts[counts == counts.max()].index))",
           "return int(min(counts[counts == counts.max()].index))", "shot-count ties go to the smaller", ANALYSIS),
    mutant("cells-duplicates-first", CE, 'value=("value", "mean")', 'value=("value", "first")',
           "duplicated rows: the first kept instead of averaged", ANALYSIS),
    mutant("cells-any-metric", CE,
           'keep = (df["metric"] == df["eval"].map(primary_metric)) & (df["num_fewshot"] == df["eval"].map(shots))',
           'keep = df["num_fewshot"] == df["eval"].map(shots)', "acc_norm averaged into acc", ANALYSIS),
    mutant("cells-primary-metric-last", CE, "return SETS[eval_set].metrics[0]", "return SETS[eval_set].metrics[-1]",
           "acc_norm as the multiple-choice sets' primary metric", ANALYSIS),
    mutant("cells-mrc-direction", CE, '"cls_to_gen": tuple((d, t) for t in CLS_TRAIN for d in GEN_TRAIN)',
           '"cls_to_gen": tuple((d, t) for t in GEN_TRAIN for d in CLS_TRAIN)', "MRC pairs of the other direction",
           ANALYSIS),
    mutant("cells-sciq-once", CE, '("openbookqa", IT), ("sciq_mc", IT))', '("openbookqa", IT))',
           "the authors' double-counted SciQ counted once", ANALYSIS),
    mutant("cells-changes-left-join", CE, 'on=["step", "eval", "format"], how="inner"',
           'on=["step", "eval", "format"], how="left"', "fine-tuned rows without a BASE row kept", ANALYSIS),

    # --- the sweep (study/sweep.py, plan.py, results.py) ---
    mutant("sweep-reevaluates-base", PL, "return self.result_json(job).is_file()",
           "return job.finetuned and self.result_json(job).is_file()",
           "finished base jobs evaluated again on every run (named in issue 17)", SWEEP),
    mutant("sweep-reevaluates-base-in-run", SW,
           ("return [j for j in jobs if not self.layout.evaluated(j) or", "if not self.layout.evaluated(job):"),
           ("return [j for j in jobs if not j.finetuned or not self.layout.evaluated(j) or",
            "if not job.finetuned or not self.layout.evaluated(job):"),
           "the sweep's own loop re-evaluates base jobs (named in issue 17, second form)", SWEEP),
    mutant("sweep-retrains", SW, "if not self.layout.trained(job):\n                    self.train(job)",
           "if job.finetuned:\n                    self.train(job)", "finished trainings run again",
           ["tests/study/test_sweep_work.py", "-k", "trainings"]),
    mutant("sweep-no-rows-for-unwritten", SW,
           "append_rows(self.layout.results, [row for j in jobs if self.layout.evaluated(j) for row in self.rows(j)])",
           "pass", "rows of jobs evaluated before a crash never written", SWEEP),
    mutant("sweep-no-revision-for-training", SW, 'if "revision" in load:', "if False:",
           "a Hub checkpoint trained at main instead of its revision", SWEEP),
    mutant("sweep-no-resume", SW, '"--output_dir", str(self.layout.model_dir(job)), "--resume"]',
           '"--output_dir", str(self.layout.model_dir(job))]', "an interrupted training restarted from scratch",
           SWEEP),
    mutant("sweep-list-values-joined", "train/__init__.py", "return [str(v) for v in value]",
           'return [" ".join(map(str, value))]',
           "list-valued training flags passed as one word", SWEEP),
    mutant("sweep-error-first-line", SW, "lines[-1] if lines else", "lines[0] if lines else",
           "the failed training's first log line reported instead of its last", SWEEP),
    mutant("sweep-finetuned-evaluated-as-base", SW, "if not job.finetuned else {", "if job.finetuned else {",
           "base and fine-tuned model paths swapped", SWEEP),
    mutant("sweep-revision-not-recorded", SW, '"revision": ckpt.revision,', '"revision": None,',
           "results rows without their revision", SWEEP),
    mutant("plan-base-last", PL, ("ModelJob(ckpt, BASE, tuple(spec.tasks(BASE))),\n", "for method in spec.methods))]"),
           ("", "for method in spec.methods), ModelJob(ckpt, BASE, tuple(spec.tasks(BASE))))]"),
           "fine-tuned jobs before their base job", SWEEP),
    mutant("plan-one-json", PL, 'f"{job.key}.json"', '"results.json"', "every job of a checkpoint in one file",
           SWEEP),
    mutant("plan-describe-done", PL, "done_e = sum(layout.evaluated(j) for j in jobs)",
           "done_e = sum(layout.trained(j) for j in jobs)", "--dry-run counts trained as evaluated", SWEEP),
    mutant("results-key-without-metric", RE, '"num_fewshot", "metric")  # one row per key', '"num_fewshot")',
           "acc_norm overwrites acc in results.csv", RESULTS),
    mutant("results-stderr-na", RE, "isinstance(stderr, (int, float))", "stderr is not None",
           "lm-eval's 'N/A' stderr written into the table", RESULTS),
    mutant("results-n-original", RE, '["effective"]', '["original"]', "documents in the split, not scored", RESULTS),
    mutant("results-primary-metric-only", RE, "for metric in SETS[set_name].metrics:",
           "for metric in SETS[set_name].metrics[:1]:", "acc_norm never written", RESULTS),
    mutant("results-tokens-none", RE, '"" if meta["tokens"] is None else meta["tokens"]', 'meta["tokens"]',
           "None written for unknown tokens", RESULTS),

    # --- the prompt formats (tasks/templates.py) ---
    mutant("template-nli-space", TE, '"### Input_1: {text1}\\n ### Input_2: {text2}\\n ### Inference: "',
           '"### Input_1: {text1}\\n### Input_2: {text2}\\n### Inference: "',
           "the authors' space after each newline dropped", TEMPLATES),
    mutant("template-paraphrase-label", TE, "_classify(YES_NO, 0 if is_paraphrase else 1)",
           "_classify(YES_NO, 1 if is_paraphrase else 0)", "paraphrase labels swapped", TEMPLATES),
    mutant("template-stsb-threshold", TE, "0 if score > STSB_THRESHOLD else 1", "0 if score >= STSB_THRESHOLD else 1",
           "STS-B 3.5 counted as yes", TEMPLATES),
    mutant("template-rte-one-way", TE, "(0,) if label == 0 else (1, 2)", "(0,) if label == 0 else (1,)",
           "RTE scored three-way", TEMPLATES),
    mutant("template-boolq-label", TE, "_classify(YES_NO, 0 if answer else 1)", "_classify(YES_NO, 1 if answer else 0)",
           "BoolQ answers swapped", TEMPLATES),
    mutant("template-sciq-order", TE,
           'options = [row["distractor1"], row["distractor2"], row["distractor3"], row["correct_answer"]]',
           'options = [row["correct_answer"], row["distractor1"], row["distractor2"], row["distractor3"]]',
           "SciQ options in another order than lm-eval's (gold index 3 wrong)", TEMPLATES),
    mutant("template-sciq-support-lstrip", TE, '{"support": row["support"].lstrip(), "question"',
           '{"support": row["support"], "question"', "SciQ support's leading whitespace kept", TEMPLATES),
    mutant("template-delimiter", TE, 'return "" if template(set_name, fmt)[-1:].isspace() else " "', 'return " "',
           "a space after prompts that end in one", TEMPLATES),
    mutant("template-stop", TE, 'return ["\\n" + opening]', "return [opening]",
           "generation stops at the opening words without the newline", TEMPLATES),
    mutant("template-hellaswag-title", TE, '.replace(" [title]", ". ")', '.replace(" [title]", " ")',
           "HellaSwag [title] markers cleaned differently from lm-eval", TEMPLATES),
    mutant("template-tweetqa-answer", TE, "answers[0] if answers else", "answers[-1] if answers else",
           "TweetQA prompt with the last reference answer", TEMPLATES),
    mutant("template-bool-label", TE, "if value not in allowed or isinstance(value, bool) != isinstance(allowed[0], bool):",
           "if value not in allowed:", "True accepted as label 1 (and 1 as True)", TEMPLATES),
]

# Survivors that are harmless, and why.
ACCEPTED: dict[str, str] = {
    "tokenprob-no-fallback": "equivalent since the bare-space token is handled: a first subtoken whose text is empty "
                             "would be the lead itself, and then the lead tokenizes on its own and the choice is "
                             "taken after it; the `texts[i] and` guard stays as a defence",
}


def copy_checkout(dest: Path) -> Path:
    """The files git knows (tracked, and new ones it does not ignore), as they are in the working tree."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def environment(copy: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{copy / 'plugin'}{os.pathsep}{copy / 'lm_eval_tasks'}"}
    env.pop("AMURO_DATA_DIR", None)  # conftest sets it to the copy's fixtures
    return env


def run_tests(copy: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, str]:
    """('passed' | 'failed' | 'timeout', the first failing test or the output's last line)."""
    # One process (no xdist workers: -x stops at the first failure, and a worker's start costs more than these tests)
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-o", "addopts=",
               "-W", "ignore", *tests]
    try:
        result = subprocess.run(command, cwd=copy, env=environment(copy), capture_output=True, text=True,
                                timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", f"over {timeout:.0f} s"
    lines = result.stdout.strip().splitlines()
    failed = [ln for ln in lines if ln.startswith(("FAILED ", "ERROR "))]
    if result.returncode == 0:
        return "passed", lines[-1] if lines else ""
    return "failed", (failed[0] if failed else (lines[-1] if lines else result.stderr.strip()[-200:]))[:160]


def apply(path: Path, m: Mutant) -> str | None:
    """Write the mutated file; returns the original text, or None when an edit's text is not there exactly once."""
    original = text = path.read_text()
    for old, new in m.edits:
        if text.count(old) != 1:
            return None
        text = text.replace(old, new)
    path.write_text(text)
    return original


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="ID", help="run these mutants only")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run on the unmutated copy")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per test run (a hang counts as killed)")
    args = parser.parse_args()

    chosen = [m for m in MUTANTS if not args.only or m.id in args.only]
    unknown = set(args.only or []) - {m.id for m in MUTANTS}
    if unknown:
        parser.error(f"unknown mutant(s): {', '.join(sorted(unknown))}")
    if args.list:
        for m in chosen:
            print(f"{m.id:34} {m.file:22} {m.why}\n{'':34} tests: {' '.join(m.tests)}")
        return 0

    with tempfile.TemporaryDirectory(prefix="amuro-mutants-") as tmp:
        copy = copy_checkout(Path(tmp))
        where = subprocess.run([sys.executable, "-c", "import amuro; print(amuro.__file__)"], cwd=copy,
                               env=environment(copy), capture_output=True, text=True).stdout.strip()
        assert where.startswith(str(copy)), f"the copy is not what the tests import: {where}"
        if not args.no_baseline:
            for tests in dict.fromkeys(m.tests for m in chosen):
                state, detail = run_tests(copy, tests, args.timeout)
                print(f"baseline {' '.join(tests)}: {state} ({detail})", flush=True)
                if state != "passed":
                    print("the unmutated code fails these tests: fix that first", file=sys.stderr)
                    return 1
        outcomes = {}
        for m in chosen:
            path = copy / "plugin" / "amuro" / m.file
            original = apply(path, m)
            if original is None:
                outcomes[m.id] = ("stale", "the text to mutate is not in the code exactly once")
            else:
                start = time.time()
                try:
                    state, detail = run_tests(copy, m.tests, args.timeout)
                finally:
                    path.write_text(original)
                outcomes[m.id] = ({"failed": "killed", "timeout": "killed", "passed": "SURVIVED"}[state],
                                  f"{detail} [{time.time() - start:.0f} s]")
            print(f"{outcomes[m.id][0]:9} {m.id:34} {outcomes[m.id][1]}", flush=True)

    killed = [i for i, (s, _) in outcomes.items() if s == "killed"]
    survived = [i for i, (s, _) in outcomes.items() if s == "SURVIVED"]
    stale = [i for i, (s, _) in outcomes.items() if s == "stale"]
    scored = len(killed) + len(survived)
    print(f"\nmutation score: {len(killed)}/{scored} killed ({100 * len(killed) / max(scored, 1):.0f}%)"
          + (f"; survived: {', '.join(survived)}" if survived else "") + (f"; stale: {', '.join(stale)}" if stale else ""))
    for i in survived:
        if i in ACCEPTED:
            print(f"  accepted {i}: {ACCEPTED[i]}")
    return 0 if all(i in ACCEPTED for i in survived) and not stale else 1


if __name__ == "__main__":
    sys.exit(main())
