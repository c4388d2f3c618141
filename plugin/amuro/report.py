"""`amuro report RESULTS.csv --out DIR`: the study's findings from a results table.

Writes DIR/report.md (tables and figures), DIR/figures/*.png, DIR/tables/*.csv and DIR/summary.json.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from amuro.errors import AmuroError


def load_groups(path) -> dict:
    """A JSON file {"group name": [["eval", "train"], ...], ...} replacing the paper's Table 6 groups."""
    from amuro.registry import SETS
    from amuro.results import BASE, TRAINS

    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise AmuroError(f"{path}: no such groups file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AmuroError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(raw, dict) or not raw:
        raise AmuroError(f'{path}: expected {{"group": [["eval", "train"], ...], ...}}')
    groups = {}
    for name, pairs in raw.items():
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise AmuroError(f"{path}: group {name!r} must be a list of [eval, train] pairs")
        for d, t in pairs:
            if d not in SETS:
                raise AmuroError(f"{path}: group {name!r}: unknown task set {d!r}; known sets: {', '.join(SETS)}")
            if t not in TRAINS or t == BASE:
                raise AmuroError(f"{path}: group {name!r}: unknown training set {t!r}; known: "
                                 f"{', '.join(x for x in TRAINS if x != BASE)}")
        groups[str(name)] = tuple((d, t) for d, t in pairs)
    return groups


# --- markdown helpers ------------------------------------------------------------------------------------------

def _fmt(v, kind: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if kind == "pct":
        return f"{100 * v:+.2f}%"
    if kind == "num":
        return f"{v:+.4f}"
    if kind == "score":
        return f"{v:.4f}"
    if kind == "p":
        return f"{v:.2g}"
    return str(v)


def _table(rows, columns) -> str:
    """columns: [(header, key, kind)]."""
    head = "| " + " | ".join(h for h, _, _ in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(_fmt(r.get(k), kind) for _, k, kind in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def _records(df) -> list[dict]:
    from amuro.analysis import _jsonable

    return _jsonable(df.to_dict("records"))


# --- the report ------------------------------------------------------------------------------------------------

def write_report(results, out, groups: dict | None = None, num_fewshot: int | None = None, seed: int = 0) -> Path:
    import pandas as pd

    from tqdm.auto import tqdm

    from amuro import analysis as A
    from amuro import figures as F
    from amuro.results import read_results

    df = read_results(results)
    out = Path(out)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)

    a = A.analysed(df, num_fewshot)
    info = A.input_summary(df, num_fewshot)
    paper_groups = groups is None
    groups = A.PAPER_GROUPS if groups is None else groups
    summary = A.summary(df, groups, num_fewshot, seed)

    mrc_cells = pd.concat([A.cells(df, p, "default", num_fewshot).assign(direction=d)
                           for d, p in A.MRC_PAIRS.items()])
    by_step = A.mrc_by_step(df, num_fewshot)
    gain = A.ft_gain(df, groups, num_fewshot, seed=seed)
    pt = A.pt_improvement(df, num_fewshot)
    auto = A.auto_groups(df, num_fewshot)
    gain_auto = A.ft_gain(df, auto, num_fewshot, seed=seed) if auto else gain.iloc[0:0]
    ood_family = A.ood_transfer(df, "family", num_fewshot, seed)
    ood_set = A.ood_transfer(df, "eval", num_fewshot, seed)
    ood_cells = A.cells(df, A.ood_pairs(), "default", num_fewshot)
    fs = A.format_sensitivity(df, num_fewshot)
    spread = A.format_spread_by_step(fs)
    cross = A.cells(df, A.cross_task_pairs(), "default", num_fewshot)
    bc = A.base_curves(df, "default", num_fewshot)
    group_cells = pd.concat([A.cells(df, p, "default", num_fewshot).assign(group=g) for g, p in groups.items()])

    tables = {"mrc_cells": mrc_cells, "mrc_by_step": by_step, "ft_gain": gain, "ft_gain_cells": group_cells,
              "ft_gain_auto": gain_auto, "pt_groups": pt, "ood_by_family": ood_family, "ood_by_set": ood_set,
              "ood_cells": ood_cells, "format_sensitivity": fs, "format_spread": spread,
              "cross_task_cells": cross, "base_curves": bc, "changes": A.changes(df, num_fewshot)}
    for name, t in tables.items():
        t.to_csv(out / "tables" / f"{name}.csv", index=False)

    fig = out / "figures"
    in_sft = [(d, t) for d, t in A.in_domain_pairs() if t != "tulu"]
    in_tulu = [(d, t) for d, t in A.in_domain_pairs() if t == "tulu"]
    cross_cls = [(d, t) for d, t in A.cross_task_pairs() if t in A.CLS_TRAIN]
    cross_gen = [(d, t) for d, t in A.cross_task_pairs() if t in A.GEN_TRAIN]
    gain_title = "Fine-tuning gain by checkpoint" + (" (the paper's groups, Table 6 / Fig. 4)" if paper_groups else "")
    plots = {  # made one by one under a progress bar
        "mrc": lambda: F.mrc(summary["mrc"], by_step, fig / "mrc.png"),
        "ft_gain": lambda: F.ft_gain(gain, fig / "ft_gain.png", gain_title),
        "ft_gain_auto": lambda: F.ft_gain(
            gain_auto, fig / "ft_gain_auto.png",
            "Fine-tuning gain by checkpoint, in-domain sets grouped by the BASE model's pre-training trend"),
        "base_curves": lambda: F.base_curves(bc, pt, fig / "base_curves.png"),
        "in_domain_sft": lambda: F.curves(
            a, in_sft, "In-domain sets: BASE vs fine-tuned on the training set (paper Fig. 3/9)",
            fig / "in_domain_sft.png"),
        "in_domain_tulu": lambda: F.curves(
            a, in_tulu, "Instruction-tuning sets: BASE vs fine-tuned on Tulu (paper Fig. 3/8)",
            fig / "in_domain_tulu.png", ncols=3),
        "ood_sets": lambda: F.curves(
            a, A.ood_pairs(), "Out-of-domain sets: BASE vs fine-tuned on a related training set (paper Fig. 10)",
            fig / "ood_sets.png"),
        "ood_transfer": lambda: F.ood_transfer(ood_family, fig / "ood_transfer.png"),
        "format_sensitivity": lambda: F.format_sensitivity(fs, fig / "format_sensitivity.png",
                                                           evals=A.TRAINING_SETS),
        "format_spread": lambda: F.format_spread(spread, fig / "format_spread.png"),
        "cross_task_cls": lambda: F.curves(
            a, cross_cls, "Cross-task: models fine-tuned on classification sets (paper Fig. 11)",
            fig / "cross_task_cls.png", ncols=3),
        "cross_task_gen": lambda: F.curves(
            a, cross_gen, "Cross-task: models fine-tuned on generation sets (paper Fig. 12)",
            fig / "cross_task_gen.png", ncols=3),
    }
    figs = {key: make() for key, make in tqdm(plots.items(), desc="figures", unit="figure")}
    for key, path in figs.items():  # a figure without data this time must not survive from an earlier run
        if path is None:
            (fig / f"{key}.png").unlink(missing_ok=True)

    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    md = _markdown(Path(results), info, summary, by_step, gain, groups, paper_groups, pt, gain_auto, ood_family,
                   ood_set, fs, spread, figs, tables)
    (out / "report.md").write_text(md)
    return out / "report.md"


def _img(figs, key, alt) -> str:
    return f"![{alt}](figures/{Path(figs[key]).name})\n" if figs.get(key) else f"_(no data for: {alt})_\n"


def _markdown(results, info, summary, by_step, gain, groups, paper_groups, pt, gain_auto, ood_family, ood_set, fs,
              spread, figs, tables) -> str:
    from amuro import analysis as A

    shots = sorted(set(info["num_fewshot"].values()))
    shots_text = (f"{shots[0]}" if len(shots) == 1 else
                  ", ".join(f"{d} {k}" for d, k in info["num_fewshot"].items()))
    L = [f"# amuro report: `{results.name}`", "",
         f"{info['rows']} rows read; {info['rows_used']} used (each set's primary metric at its shot count), "
         f"{info['rows_ignored']} at another metric or shot count ignored"
         + (f", {info['duplicated_keys']} duplicated keys averaged" if info["duplicated_keys"] else "") + ".  ",
         f"Checkpoints: {', '.join(str(s) for s in info['steps'])}.  ",
         f"Training sets: {', '.join(info['trains'])}. Formats: {', '.join(info['formats'])}. "
         f"Shots: {shots_text}.  ",
         f"Evaluation sets ({len(info['evals'])}): {', '.join(info['evals'])}.", "",
         "Change = fine-tuned - BASE score at the same checkpoint, set, format and shots (score points of a 0-1 "
         "scale); ratio = change / BASE score. Cells missing from the table are skipped and counted, cells with a "
         "BASE score of 0 are left out of ratios and counted. CSVs of every table are in `tables/`.", ""]

    L += ["## Cross-task mean ratio of change (MRC)", "",
          "Classification-trained models (" + ", ".join(A.CLS_TRAIN) + ") scored on the generation training sets' "
          "own evaluation sets (" + ", ".join(A.GEN_TRAIN) + "), and the mirror image; default format. MRC = the mean "
          "of the per-cell ratios over every (checkpoint, pair) cell (the paper: -61.4% and +0.3%). CI: seeded "
          "percentile bootstrap over cells; p: one-sample t-test of mean 0 (cells share checkpoints, so indicative).",
          ""]
    rows = [{"direction": d, **m} for d, m in summary["mrc"].items()]
    L += [_table(rows, [("direction", "direction", "s"), ("MRC (mean ratio)", "mean", "pct"),
                        ("median ratio", "median", "pct"), ("ratio of means", "ratio_of_means", "pct"),
                        ("95% CI low", "ci_low", "pct"), ("95% CI high", "ci_high", "pct"), ("p", "p_value", "p"),
                        ("n cells", "n", "s"), ("missing", "n_missing", "s"), ("zero BASE", "n_zero_base", "s")]),
          "", _img(figs, "mrc", "cross-task MRC"), "Per checkpoint:", "",
          _table(_records(by_step), [("direction", "direction", "s"), ("step", "step", "s"), ("MRC", "mrc", "pct"),
                                     ("n", "n", "s"), ("missing", "n_missing", "s"),
                                     ("zero BASE", "n_zero_base", "s")]), ""]

    L += ["## Fine-tuning gain by checkpoint (Table 6 / Fig. 4)", ""]
    if paper_groups:
        L += ["The paper's groups; `sciq_mc` counts twice in *learned in pre-training*, as in the authors' list "
              "that produced Table 6 (REFERENCE_STUDY §7.4).", ""]
    L += [f"- **{g}**: " + ", ".join(f"({d}, {t})" for d, t in p) for g, p in groups.items()]
    L += ["", "Per step: mean change over the group's pairs present, mean ratio, number of pairs, and the slope of "
          "the mean change per 100k steps from the group's previous checkpoint (0 at the first"
          + ("; step 738020, OLMo-1B's final checkpoint, counts as 750,000 there, as the authors did" if any(
              s in A.PAPER_SLOPE_STEP for s in info["steps"]) else "") + ").", ""]
    gain_cols = [("step", "step", "s"), ("group", "group", "s"), ("avg raw change", "avg_raw_change", "num"),
                 ("95% CI low", "ci_low", "num"), ("95% CI high", "ci_high", "num"), ("avg ratio", "avg_ratio", "pct"),
                 ("pairs", "n_pairs", "s"), ("slope / 100k steps", "slope_per_100k", "num"),
                 ("missing", "n_missing", "s"), ("zero BASE", "n_zero_base", "s")]
    L += [_table(_records(gain), gain_cols), "", _img(figs, "ft_gain", "fine-tuning gain by checkpoint")]

    L += ["## What the BASE model learns in pre-training (Fig. 2)", "",
          "Grouping from the data: gain = mean BASE score over the later checkpoints - BASE score at the first "
          "(default format). A set *improves* when the gain closes at least 10% of the headroom (1 - first score) "
          "and exceeds 2 standard errors where they are known.", "",
          _table(_records(pt), [("set", "eval", "s"), ("metric", "metric", "s"), ("first step", "first_step", "s"),
                                ("first", "first", "score"), ("later mean", "later_mean", "score"),
                                ("gain", "gain", "num"), ("share of headroom", "headroom_share", "pct"),
                                ("group", "group", "s"), ("paper's group", "paper_group", "s")]), "",
          _img(figs, "base_curves", "BASE model curves"),
          "Fine-tuning gain of the in-domain (eval, train) pairs, grouped this way:", "",
          _table(_records(gain_auto), gain_cols), "", _img(figs, "ft_gain_auto", "fine-tuning gain, data's groups")]

    L += ["## Out-of-domain transfer (Fig. 7 / Fig. 10)", "",
          "Each training set scored on its out-of-domain sets (registry `ood_for`), default format, over all "
          "(set, checkpoint) cells. The paper's Fig. 7 plots the mean raw change; both are here.", "",
          _table(_records(ood_family), [("family", "family", "s"), ("sets", "sets", "s"), ("trained on", "train", "s"),
                                        ("mean change", "mean_change", "num"), ("CI low", "change_ci_low", "num"),
                                        ("CI high", "change_ci_high", "num"), ("mean ratio", "mean_ratio", "pct"),
                                        ("n", "n", "s"), ("missing", "n_missing", "s"),
                                        ("zero BASE", "n_zero_base", "s")]), "",
          _table(_records(ood_set), [("set", "eval", "s"), ("trained on", "train", "s"),
                                     ("mean change", "mean_change", "num"), ("mean ratio", "mean_ratio", "pct"),
                                     ("n", "n", "s"), ("missing", "n_missing", "s")]), "",
          _img(figs, "ood_transfer", "out-of-domain transfer by family"), _img(figs, "ood_sets", "out-of-domain sets")]

    L += ["## Format sensitivity (Fig. 5)", "",
          "BASE and fine-tuned scores of each in-domain set in each prompt format; spread = max - min over the "
          "formats at a checkpoint. Full table: `tables/format_sensitivity.csv`.", ""]
    if len(spread):
        L += [_table(_records(spread), [("step", "step", "s"), ("model", "model", "s"),
                                        ("mean spread", "mean_spread", "score"), ("sets", "n_sets", "s")]), ""]
    L += [_img(figs, "format_sensitivity", "format sensitivity"), _img(figs, "format_spread", "format spread")]

    L += ["## Per-set curves (Fig. 3, 8, 9, 11, 12)", "",
          _img(figs, "in_domain_sft", "in-domain SFT sets"), _img(figs, "in_domain_tulu", "instruction-tuning sets"),
          _img(figs, "cross_task_cls", "cross-task, classification-trained"),
          _img(figs, "cross_task_gen", "cross-task, generation-trained")]

    L += ["## Skipped cells", "", "Cells expected by each quantity (its pairs x every checkpoint) but absent from "
          "the table, and cells whose BASE score is 0 (no ratio):", ""]
    skipped = []
    for name in ("mrc_cells", "ft_gain_cells", "ood_cells", "cross_task_cells"):
        t = tables[name]
        skipped.append({"quantity": name.replace("_cells", ""), "expected": len(t),
                        "missing": int((t["status"] == "missing").sum()),
                        "zero BASE": int((t["status"] == "zero_base").sum())})
    L += [_table(skipped, [("quantity", "quantity", "s"), ("expected cells", "expected", "s"),
                           ("missing", "missing", "s"), ("zero BASE", "zero BASE", "s")]), "",
          "Each `tables/*_cells.csv` lists its cells with a `status` column (ok, missing, zero_base).", ""]
    return "\n".join(L)
