"""What the report needs besides the scores, kept by the sweep.

Per task, from lm-eval's logged samples (`diagnose`): which choice won each document (classification and multiple
choice: a model that predicts one label for every document scores exactly the share of that label, and only these
counts can say so) and, for generation tasks, how many generations were empty and the first few generations with
their references (a Rouge-L of 0 is explained by what the model wrote). They are stored in the job's lm-eval JSON
(its `amuro` block) and become three extra columns of results.csv (`diagnostic_columns`):

    predictions        JSON {choice: documents}: classification by label word, multiple choice by option letter
    empty_generations  generations that are empty or whitespace
    examples           JSON [{"prediction", "reference"}, ...], the first EXAMPLES documents

Per sweep, `plan.json` beside results.csv (`write_plan`, `record_failure`): the spec, the model, the data, every
job with the tasks it is meant to evaluate, and the jobs that failed with their one-line error, so that the report
can tell a cell the spec never asked for (`not_in_spec`) from one whose job failed (`failed`) or has not run
(`missing`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from amuro.errors import AmuroError
from amuro.files import write_atomic
from amuro.tasks.registry import GENERATION, MULTIPLE_CHOICE, SETS, parse_task_name

EXAMPLES = 3
COLUMNS = ("predictions", "empty_generations", "examples")
# A data folder (AMURO_DATA_DIR) holding this file says what it is: {"synthetic": true, "what": "..."}.
DATA_NOTE = "amuro_data.json"


def diagnose(samples: dict) -> dict:
    """{task: diagnostics} from lm-eval's `samples` ({task: [logged sample, ...]}); tasks not amuro's are skipped."""
    out = {}
    for task, docs in samples.items():
        try:
            set_name, _ = parse_task_name(task)
        except AmuroError:
            continue
        try:
            out[task] = _diagnose_task(SETS[set_name], docs)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            # Samples of an unexpected shape (another lm-eval version or model type): the scores are still good,
            # and an expensive evaluation must not be lost for its diagnostics.
            out[task] = {"unreadable": f"{type(e).__name__}: {e}"}
    return out


def _diagnose_task(ts, docs: list) -> dict:
    if ts.kind == GENERATION:
        texts = [str(s["filtered_resps"][0]) for s in docs]
        return {"empty_generations": sum(not t.strip() for t in texts),
                "examples": [{"prediction": t, "reference": str(s["target"])} for t, s in zip(texts[:EXAMPLES], docs)]}
    counts = dict.fromkeys(ts.label_words or (), 0)
    for s in docs:
        scores = [float(r[0]) for r in s["filtered_resps"]]  # (log-likelihood, is_greedy) per choice
        best = scores.index(max(scores))
        choice = "ABCDEFGH"[best] if ts.kind == MULTIPLE_CHOICE else s["doc"]["amuro_choices"][best]
        counts[choice] = counts.get(choice, 0) + 1
    return {"predictions": counts if ts.label_words else dict(sorted(counts.items()))}


def diagnostic_columns(d: dict | None) -> dict:
    """The results-table columns of one task's diagnostics (empty strings where there are none)."""
    d = d or {}
    return {"predictions": json.dumps(d["predictions"]) if "predictions" in d else "",
            "empty_generations": d.get("empty_generations", ""),
            "examples": json.dumps(d["examples"], ensure_ascii=False) if "examples" in d else ""}


# --- plan.json ---------------------------------------------------------------------------------------------------

def _data_source() -> dict:
    root = os.environ.get("AMURO_DATA_DIR")
    if not root:
        return {"source": "hub", "dir": None, "synthetic": False, "what": None}
    note = {}
    try:
        note = json.loads((Path(root) / DATA_NOTE).read_text())
    except (OSError, json.JSONDecodeError):
        pass
    return {"source": "AMURO_DATA_DIR", "dir": str(Path(root).resolve()), "synthetic": bool(note.get("synthetic")),
            "what": note.get("what")}


def _update(path: Path, change) -> None:
    """Read plan.json, change it, write it back, under a lock: SLURM jobs record failures concurrently."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.is_file() else {}
        before = json.dumps(data)
        change(data)
        if json.dumps(data) != before:
            write_atomic(path, json.dumps(data, indent=1) + "\n")


def model_parameters(model: str) -> int | None:
    """The model's parameters (its matmul weights, `amuro.study.budget`) where its config.json is at hand."""
    from amuro.study.budget import model_config, shape_of

    config, source = model_config(model)
    return int(shape_of(config, source).flop_params) if config else None


def write_plan(path: Path, spec, jobs, evaluated) -> None:
    """plan.json: what the sweep is meant to do, and its knobs beside the authors' (`amuro.study.ledger`). Failures
    recorded earlier are kept for jobs still not evaluated."""
    from amuro.study.ledger import observe

    def change(data: dict) -> None:
        failed = {k: v for k, v in data.get("failed", {}).items()
                  if any(j.name == k and not evaluated(j) for j in jobs)}
        data.clear()
        data.update({
            "spec": spec.name, "profile": getattr(spec, "profile", None),
            "spec_path": str(spec.path) if spec.path else None, "model": spec.model, "train": list(spec.train),
            "formats": list(spec.evaluate.formats), "num_fewshot": spec.evaluate.num_fewshot,
            "limit": spec.evaluate.limit, "data": _data_source(), "ledger": observe(spec),
            "parameters": model_parameters(spec.model),
            "jobs": [{"name": j.name, "revision": j.checkpoint.revision, "step": j.checkpoint.step,
                      "train": j.train, "tasks": list(j.tasks)} for j in jobs],
            "failed": failed})

    _update(path, change)


def record_failure(path: Path, job, error: BaseException | None) -> None:
    """Note a job's failure as one line in plan.json (error None: the job succeeded, forget an old failure)."""
    def change(data: dict) -> None:
        failed = data.setdefault("failed", {}) if error is not None else data.get("failed", {})
        if error is None:
            failed.pop(job.name, None)
        else:
            lines = [ln for ln in str(error).splitlines() if ln.strip()]
            failed[job.name] = f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")

    _update(path, change)
