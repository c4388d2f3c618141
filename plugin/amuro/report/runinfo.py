"""What a report was run on, and whether those numbers can carry the paper's kind of conclusion.

From the results table (models, checkpoints, documents per task from `n`, shots) and, when the sweep's plan.json
sits beside it (`amuro.study.diagnostics`), the spec, its profile, where the data came from, which cells the spec
asked for and which jobs failed (`RunPlan`, which `amuro.report.cells.cells` asks why a row is absent).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from amuro.errors import AmuroError
from amuro.report.cells import FAILED, MISSING, NOT_IN_SPEC
from amuro.study.plan import PLAN
from amuro.study.results import BASE
from amuro.tasks.registry import parse_task_name

# Below these, the numbers say whether the pipeline runs, not what pre-training buys (the paper: 1,000s of
# documents per task, 8 checkpoints).
MIN_DOCUMENTS = 100
MIN_CHECKPOINTS = 3
MIN_PARAMETERS = 100e6  # below this (amuro demo's 0.7M, Pythia-160m is above), a model shows the pipeline, not LLMs


class RunPlan:
    """The sweep's plan.json: which (step, train, eval, format) rows were planned, which jobs failed."""

    def __init__(self, data: dict, path: Path | None = None):
        self.data, self.path = data, path
        self.planned, self.failed = set(), {}
        for job in data.get("jobs", []):
            step, train = int(job["step"]), job["train"]
            for task in job["tasks"]:
                self.planned.add((step, train, *parse_task_name(task)))
            if job["name"] in data.get("failed", {}):
                self.failed[(step, train)] = f"{job['name']}: {data['failed'][job['name']]}"

    def absent(self, step: int, train: str, eval_set: str, fmt: str) -> str:
        """Why the row (step, train, eval, format) is not in the table."""
        if (step, train, eval_set, fmt) not in self.planned:
            return NOT_IN_SPEC
        return FAILED if (step, train) in self.failed else MISSING


def read_plan(results: Path) -> RunPlan | None:
    """The plan.json beside a results table, if there is one."""
    path = Path(results).with_name(PLAN)
    if not path.is_file():
        return None
    try:
        return RunPlan(json.loads(path.read_text()), path)
    except (json.JSONDecodeError, KeyError, TypeError, AmuroError) as e:
        raise AmuroError(f"{path}: not a sweep plan ({type(e).__name__}: {e})") from None


def run_on(df: pd.DataFrame, info: dict, plan: RunPlan | None) -> dict:
    """The report's "what this was run on" block (also summary.json's `run_on`), with its warnings."""
    p = plan.data if plan else {}
    n = pd.to_numeric(df["n"], errors="coerce").dropna()
    docs = {"min": int(n.min()), "max": int(n.max()), "median": float(n.median())} if len(n) else None
    data = p.get("data")
    models = sorted(set(df.loc[df["train"] == BASE, "model"]) or set(df["model"]))
    out = {
        "spec": p.get("spec"), "profile": p.get("profile"), "spec_path": p.get("spec_path"),
        "model": p.get("model") or (models[0] if len(models) == 1 else models),
        "family": next((f for f in df["family"].unique() if f), None),
        "checkpoints": info["steps"], "training_sets": [t for t in info["trains"] if t != BASE],
        "documents_per_task": docs, "num_fewshot": info["num_fewshot"], "data": data,
        "plan": str(plan.path) if plan and plan.path else None,
        "failed_jobs": sorted(p.get("failed", {}).items()), "ledger": p.get("ledger"),
        "parameters": p.get("parameters"),
    }
    out["warnings"] = warnings(out)
    return out


def warnings(r: dict) -> list[str]:
    """Why these numbers cannot support the paper's kind of conclusion (empty when nothing is known to be wrong)."""
    w = []
    docs = r["documents_per_task"]
    if docs is None:
        w.append("documents per task unknown (the table's `n` column is empty): no score can be weighed")
    elif docs["min"] < MIN_DOCUMENTS:
        se = math.sqrt(0.25 / docs["min"])
        w.append(f"only {docs['min']} documents per task (fewer than {MIN_DOCUMENTS}): an accuracy near 0.5 has a "
                 f"standard error of about {se:.2f}, larger than most effects the paper reports")
    if len(r["checkpoints"]) < MIN_CHECKPOINTS:
        w.append(f"only {len(r['checkpoints'])} checkpoint(s) (fewer than {MIN_CHECKPOINTS}): no trend across "
                 "pre-training can be read")
    if r.get("parameters") and r["parameters"] < MIN_PARAMETERS:
        w.append(f"a tiny model ({size(r['parameters'])} parameters, fewer than {size(MIN_PARAMETERS)}): what it "
                 "learns says nothing about how an LLM's pre-training and fine-tuning interact")
    if r["data"] and r["data"].get("synthetic"):
        what = r["data"].get("what") or "generated rows"
        w.append(f"synthetic data ({what}): the scores show that the pipeline runs, not what pre-training buys")
    if r["failed_jobs"]:
        w.append(f"{len(r['failed_jobs'])} job(s) failed: their cells are absent")
    return w


def size(parameters: float) -> str:
    """1.18e9 -> 1.2B, 7.3e5 -> 0.7M."""
    return f"{parameters / 1e9:.1f}B" if parameters >= 1e9 else f"{parameters / 1e6:.1f}M"


def data_text(data: dict | None) -> str:
    if data is None:
        return "unknown (no plan.json beside the results table)"
    if data.get("source") != "AMURO_DATA_DIR":
        return "the Hugging Face Hub's datasets (AMURO_DATA_DIR was not set)"
    kind = f"synthetic: {data.get('what') or 'generated rows'}" if data.get("synthetic") else "local JSONL files"
    return f"AMURO_DATA_DIR={data['dir']} ({kind}), not the Hub's datasets"


def render(r: dict) -> list[str]:
    """The block's markdown lines: first on report.md's first screen."""
    docs = r["documents_per_task"]
    shots = sorted(set(r["num_fewshot"].values()))
    spec = (f"`{r['spec']}`" + (f", profile `{r['profile']}`" if r["profile"] else "")
            + (f" ({r['spec_path']})" if r["spec_path"] else "")) if r["spec"] else "unknown (no plan.json)"
    model = r["model"] if isinstance(r["model"], str) else ", ".join(r["model"])
    steps = r["checkpoints"]
    lines = ["## What this was run on", "",
             f"- **Spec**: {spec}",
             f"- **Model**: `{model}`" + (f" (family `{r['family']}`)" if r.get("family") else "")
             + (f", {size(r['parameters'])} parameters" if r.get("parameters") else "")
             + f", {len(steps)} checkpoint(s): steps {', '.join(str(s) for s in steps)}",
             f"- **Fine-tuned on**: {', '.join(r['training_sets']) or 'nothing (BASE models only)'}",
             "- **Documents per task**: " + ("unknown" if docs is None else str(docs["min"]) if docs["min"] ==
                                              docs["max"] else f"{docs['min']} to {docs['max']} "
                                              f"(median {docs['median']:g})"),
             f"- **Shots**: {', '.join(str(s) for s in shots)}",
             f"- **Data**: {data_text(r['data'])}"]
    for name, error in r["failed_jobs"]:
        lines.append(f"- **Failed job** {name}: {error}")
    if r["warnings"]:
        lines += ["", "> **Warning: these numbers cannot support the paper's kind of conclusion.**"]
        lines += [f"> - {w}" for w in r["warnings"]]
    if r.get("ledger"):  # the run's knobs beside the authors' (amuro.study.ledger), below the warnings
        from amuro.study.ledger import run_lines

        head, *rest = run_lines(r["ledger"])
        lines += ["", f"**{head[0].upper()}{head[1:]}**", ""] + [f"- {line.strip()}" for line in rest]
    return lines + [""]
