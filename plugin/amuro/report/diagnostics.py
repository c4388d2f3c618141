"""Diagnostics beside each finding: what a number rests on, when it cannot mean what it seems to.

- constant predictions: a classification score where one choice won every document (from the per-row prediction
  counts the sweep keeps, `amuro.study.diagnostics`): an accuracy of exactly 0.333 or 0.667 is then the share of
  that label, not skill;
- zero scores: a row scoring 0 (Rouge-L 0: mostly empty generations), with how many generations were empty and a
  sample of what the model wrote;
- ratios resting on a BASE score below a floor (`amuro report --base-floor`, default BASE_FLOOR): a change of 0.05
  over a BASE score of 0.05 is +100%, so such ratios swing with noise;
- confidence intervals of zero width and undefined p-values, with the reason;
- accuracies at the ceiling (>= CEILING): a plateau or a flat gain there says the set is solved, not that more
  pre-training stopped paying off;
- rank correlations over few checkpoints (< FEW_CHECKPOINTS): a rho of exactly +-1 then arises by chance, and a
  bootstrap over so few points gives CIs like -1.00 to -1.00;
- absent cells by reason: `not_in_spec`, `failed`, `missing` (`amuro.report.cells`).
"""

from __future__ import annotations

import json
import math

import pandas as pd

from amuro.report.cells import ABSENT, FAILED, MISSING, NOT_IN_SPEC, OK, PLAN, primary_metric
from amuro.study.results import BASE

CEILING = 0.99  # an accuracy at or above this has no room left to rise
FEW_CHECKPOINTS = 8  # the paper's; fewer points per pair make a rank correlation coarse
BASE_FLOOR = 0.1  # the paper's BASE XSum Rouge-L (0.07-0.09) sits below it: its cross-task ratios carry the note
METRIC_NAMES = {"acc": "accuracy", "acc_norm": "accuracy", "rougeL": "Rouge-L", "acc_per_token": "accuracy",
                "acc_per_char": "accuracy", "acc_uncond": "accuracy"}


def _list(items, limit: int = 6) -> str:
    items = list(dict.fromkeys(str(i) for i in items))
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _steps(steps) -> str:
    steps = sorted({int(s) for s in steps})
    return ("step " if len(steps) == 1 else "steps ") + _list(steps, 8)


def _json(value):
    if isinstance(value, str) and value.strip():
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return None


def rows(a: pd.DataFrame) -> dict:
    """(step, train, eval, format) -> {value, n, predictions, empty, examples} of the analysed table."""
    out = {}
    for r in a.to_dict("records"):
        n, empty = pd.to_numeric(r.get("n"), errors="coerce"), pd.to_numeric(r.get("empty_generations"),
                                                                                errors="coerce")
        out[(int(r["step"]), r["train"], r["eval"], r["format"])] = {
            "value": r["value"], "n": None if pd.isna(n) else int(n), "predictions": _json(r.get("predictions")),
            "empty": None if pd.isna(empty) else int(empty), "examples": _json(r.get("examples")) or []}
    return out


def constant_label(row: dict | None) -> str | None:
    """The one choice a row predicted for every document (of at least 2), else None."""
    p = (row or {}).get("predictions")
    if not p:
        return None
    won = [k for k, v in p.items() if v]
    return won[0] if len(won) == 1 and sum(p.values()) >= 2 else None


def has_predictions(a: pd.DataFrame) -> bool:
    return "predictions" in a.columns and a["predictions"].astype(str).str.strip().ne("").any()


def constant_predictions(a: pd.DataFrame) -> pd.DataFrame:
    """Per (train, eval): how many of its (step, format) scores come from one label predicted for every document."""
    found = rows(a)
    out = []
    for (train, d), g in a.groupby(["train", "eval"], sort=False):
        keys = [(int(s), train, d, f) for s, f in zip(g["step"], g["format"])]
        scored = [k for k in keys if found[k]["predictions"]]
        const = [(k, constant_label(found[k])) for k in scored if constant_label(found[k])]
        if const:
            labels = pd.Series([lab for _, lab in const]).value_counts()
            out.append({"model": "BASE" if train == BASE else f"fine-tuned on {train}", "eval": d,
                        "constant": len(const), "scores": len(scored),
                        "labels": ", ".join(f"{lab} ({k})" for lab, k in labels.items()),
                        "values": _list(sorted({f"{found[k]['value']:.3f}" for k, _ in const}), 4)})
    return pd.DataFrame(out, columns=["model", "eval", "constant", "scores", "labels", "values"])


def zero_scores(a: pd.DataFrame) -> pd.DataFrame:
    """Every row scoring exactly 0, with its empty generations and the first generation the model wrote."""
    found = rows(a)
    out = []
    for r in a[a["value"] == 0].to_dict("records"):
        row = found[(int(r["step"]), r["train"], r["eval"], r["format"])]
        ex = row["examples"][0] if row["examples"] else {}
        out.append({"step": int(r["step"]), "train": r["train"], "eval": r["eval"], "format": r["format"],
                    "metric": r["metric"], "n": row["n"], "empty_generations": row["empty"],
                    "first_generation": ex.get("prediction"), "reference": ex.get("reference")})
    return pd.DataFrame(out, columns=["step", "train", "eval", "format", "metric", "n", "empty_generations",
                                      "first_generation", "reference"])


def _zero_note(who: str, keys: list, found: dict, formats: bool = False, aside: str = "") -> str:
    """"fine-tuned on mnli scores Rouge-L 0 on xsum at steps 20, 54: 48 of 48 generations empty"."""
    d = keys[0][2]
    text = f"{who} scores {METRIC_NAMES[primary_metric(d)]} 0 on {d} at {_steps(k[0] for k in keys)}"
    if formats:
        text += f" ({_list(dict.fromkeys(k[3] for k in keys))} format)"
    text += aside
    rs = [found[k] for k in keys]
    if all(r["empty"] is not None and r["n"] for r in rs):
        empty, n = sum(r["empty"] for r in rs), sum(r["n"] for r in rs)
        text += f": {empty} of {n} generations empty"
        said = [e for r in rs for e in r["examples"] if e["prediction"].strip()]
        if said:
            text += f"; e.g. it wrote {said[0]['prediction'][:60]!r} for {said[0]['reference'][:60]!r}"
    return text


def cell_notes(c: pd.DataFrame, a: pd.DataFrame, floor: float = BASE_FLOOR, ratios: bool = True) -> list[str]:
    """What the cells `c` (an `amuro.report.cells.cells` table) rest on, one line per kind of problem; `ratios`:
    whether the finding uses their ratios (then a BASE score of 0 or below `floor` is noted)."""
    found, notes, n = rows(a), [], len(c)
    formats = c["format"].nunique() > 1
    plan = a.attrs.get(PLAN)
    pairs = lambda s: _list(f"({d}, {t})" for d, t in zip(s["eval"], s["train"]))  # noqa: E731
    for status, why in ((NOT_IN_SPEC, "not in the spec (never trained or never evaluated there)"),
                        (FAILED, "failed"), (MISSING, "missing (no result in the table"
                                                      + (", though the spec planned them)" if plan else ")"))):
        s = c[c["status"] == status]
        if len(s):
            notes.append(f"{len(s)} of {n} cells {why}: {pairs(s)}")
            if status == FAILED and plan is not None:
                notes += [f"failed job {plan.failed[k]}" for k in dict.fromkeys(zip(s["step"], s["train"]))
                          if k in plan.failed]
    have = c[~c["status"].isin(ABSENT)]
    for side, who in (("finetuned", None), ("base", "BASE")):
        zero = have[have[side] == 0]
        for (d, t), g in zero.groupby(["eval", "train"], sort=False):
            train = t if side == "finetuned" else BASE
            keys = [(int(s), train, d, f) for s, f in zip(g["step"], g["format"])]
            notes.append(_zero_note(who or f"fine-tuned on {t}", keys, found, formats,
                                    ", so no ratio" if side == "base" and ratios else ""))
    low = have[(have["status"] == OK) & (have["base"] < floor)]
    if len(low) and ratios:
        worst = low.sort_values("base").iloc[0]
        notes.append(f"{len(low)} of {len(have[have['status'] == OK])} ratios rest on a BASE score below "
                     f"{floor:g} (lowest {worst['base']:.3f}: {worst['eval']} at step {int(worst['step'])}): "
                     "a small BASE score inflates the ratio (--base-floor)")
    if has_predictions(a):
        for side, train_of in (("BASE", lambda r: BASE), ("fine-tuned", lambda r: r["train"])):
            const = [(r, constant_label(found.get((int(r["step"]), train_of(r), r["eval"], r["format"]))))
                     for r in have.to_dict("records")]
            const = [(r, lab) for r, lab in const if lab]
            if const:
                what = _list(f"{r['eval']} '{lab}'" for r, lab in const)
                notes.append(f"{len(const)} of {len(have)} cells rest on constant {side} predictions (one label "
                             f"for every document: the score is that label's share): {what}")
    return notes


def ci_notes(values: pd.Series | list, lo, hi, what: str = "cells") -> list[str]:
    """Why a CI has zero width, or a p-value is undefined."""
    v = pd.Series(values, dtype=float).dropna()
    if len(v) == 0:
        return []
    if len(v) == 1:
        return [f"one {what[:-1]} only: no confidence interval or p-value can be computed"]
    if lo is not None and hi is not None and not (isinstance(lo, float) and math.isnan(lo)) and lo == hi:
        return [f"the 95% CI has zero width: all {len(v)} {what} have the same value ({v.iloc[0]:+.4g}), so "
                "resampling them cannot vary; the p-value is undefined"]
    return []


def zero_width_steps(table: pd.DataFrame, lo: str = "ci_low", hi: str = "ci_high", n: str = "n_pairs") -> list[str]:
    """Rows of a per-step table whose CI has zero width though it rests on several pairs."""
    z = table[(table[lo] == table[hi]) & (table[n] > 1)]
    return [f"zero-width CI ({g}, {_steps(s['step'])}): all pairs changed by exactly the same amount"
            for g, s in z.groupby("group", sort=False)]


def slope_notes(steps) -> list[str]:
    """The slope is per 100k steps: over checkpoints a few steps apart it extrapolates far beyond them."""
    steps = sorted(steps)
    if len(steps) >= 2 and steps[-1] - steps[0] < 100_000:
        return [f"the checkpoints span {steps[-1] - steps[0]:,} steps: a slope per 100k steps extrapolates far "
                "beyond them; read its sign, not its size"]
    return []


def knife_edge(pt: pd.DataFrame, min_share: float = 0.10, z: float = 2.0, margin: float = 0.02) -> list[str]:
    """Sets whose pre-training group would flip with a small change: a share of the headroom within `margin` of
    the threshold, or a gain within one standard error of `z` standard errors."""
    out = []
    for r in pt.to_dict("records"):
        share, gain, se = r["headroom_share"], r["gain"], r["gain_stderr"]
        near_share = not math.isnan(share) and abs(share - min_share) < margin
        near_se = not math.isnan(se) and se > 0 and abs(gain - z * se) < se
        if near_share or near_se:
            why = [f"{100 * share:.2f}% of the headroom (threshold {100 * min_share:g}%)"] * near_share
            why += [f"gain {gain:+.4f} vs {z:g} standard errors {z * se:.4f}"] * near_se
            out.append(f"{r['eval']} is on the edge of its group ({r['group']}): {'; '.join(why)}")
    return out


def ceiling_notes(a: pd.DataFrame) -> list[str]:
    """Per model (BASE, or fine-tuned on a set): the accuracies at the ceiling, where they are."""
    top = a[(a["metric"] != "rougeL") & (a["value"] >= CEILING)]
    out = []
    for train, g in top.groupby("train", sort=False):
        who = "BASE" if train == BASE else f"fine-tuned on {train}"
        out.append(f"{who} scores at the ceiling (accuracy >= {CEILING:g}) on {_list(dict.fromkeys(g['eval']))} "
                   f"at {_steps(g['step'])} ({len(g)} scores): a plateau or a flat gain there says the set is "
                   "solved, not that more pre-training stopped paying off")
    return out


def few_points_notes(correlations: list[dict], steps) -> list[str]:
    """A rank correlation over few checkpoints: what chance alone gives, and how many CIs have zero width."""
    corr = [r for r in correlations if r["n_pairs"]]
    n = len(set(steps))
    if not corr or n >= FEW_CHECKPOINTS:
        return []
    zero = sum(r["ci_low"] is not None and r["ci_low"] == r["ci_high"] for r in corr)
    return [f"the rank correlations rest on at most {n} checkpoints per pair (fewer than {FEW_CHECKPOINTS}): with "
            f"{n} points a rho of exactly +1 or -1 arises by chance with probability {2 / math.factorial(n):.2g}, "
            f"and resampling so few points gives CIs like -1.00 to -1.00 ({zero} of {len(corr)} here have zero "
            "width): read none of them as a finding"]
