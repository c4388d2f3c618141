"""report.md: the report's text and tables, rendered from the built tables and the figures that were drawn."""

from __future__ import annotations

import math
from pathlib import Path

from amuro.report import analysis as A
from amuro.report import runinfo
from amuro.report.captions import captions
from amuro.report.diagnostics import ceiling_notes, has_predictions
from amuro.report.stats import jsonable
from amuro.report.tables import CELL_TABLES, Tables

SKIPPED = [("not in spec", "n_not_in_spec", "s"), ("failed", "n_failed", "s"), ("missing", "n_missing", "s"),
           ("zero BASE", "n_zero_base", "s")]


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
    if kind == "int":
        return str(int(v))
    return str(v)


def _table(rows, columns) -> str:
    """columns: [(header, key, kind)]."""
    head = "| " + " | ".join(h for h, _, _ in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(_fmt(r.get(k), kind) for _, k, kind in columns) + " |" for r in rows]
    return "\n".join([head, sep, *body])


def _records(df) -> list[dict]:
    return jsonable(df.to_dict("records"))


def _img(figs, key, alt, caps=None) -> str:
    if not figs.get(key):
        return f"_(no data for: {alt})_\n"
    caption = f"\n*{caps[key]}*\n" if caps and caps.get(key) else ""
    return f"![{alt}](figures/{Path(figs[key]).name})\n{caption}"


def _notes(lines, title: str = "Diagnostics") -> list[str]:
    """A finding's diagnostic lines (amuro.report.diagnostics) as a list under it."""
    return [f"**{title}:**", "", *(f"- {line}" for line in lines), ""] if lines else []


def _glance(t: Tables) -> list[str]:
    """Constant predictions and zero scores over the whole table: what most often makes a number meaningless."""
    const, zero = t["constant_predictions"], t["zero_scores"]
    L = ["## Diagnostics at a glance", ""]
    if not has_predictions(t.a):
        L += ["- **Constant predictions**: the table has no per-document predictions (the sweep writes them in "
              "its `predictions` column), so a classifier that predicts one label for every document cannot be "
              "told from one that learned something.", ""]
    elif len(const):
        L += [f"- **Constant predictions**: {int(const['constant'].sum())} of {int(const['scores'].sum())} scores "
              "of these (model, set) pairs come from one label predicted for every document: such a score is that "
              "label's share of the documents, not skill.", "",
              _table(_records(const), [("model", "model", "s"), ("set", "eval", "s"), ("constant", "constant", "s"),
                                       ("of scores", "scores", "s"), ("label (scores)", "labels", "s"),
                                       ("values", "values", "s")]), ""]
    else:
        L += ["- **Constant predictions**: none (no classification score comes from a single label).", ""]
    if len(zero):
        by = zero.groupby(["train", "eval"], sort=False).size()
        L += [f"- **Zero scores**: {len(zero)} rows score exactly 0 ("
              + ", ".join(f"{'BASE' if tr == 'base' else 'fine-tuned on ' + tr} on {d}: {k}" for (tr, d), k in
                          by.items()) + "); each with its empty generations and first generation in "
              "`tables/zero_scores.csv`.", ""]
    L += [f"- **Small BASE scores**: ratios resting on a BASE score below {t.base_floor:g} are noted beside each "
          "finding (`amuro report --base-floor`).", ""]
    for line in ceiling_notes(t.a):
        L += [f"- **Ceiling**: {line}.", ""]
    return L



def _runs_line(info: dict) -> list[str]:
    """What a cell's score is a mean of, where the table has seeds or draws of demonstrations."""
    axes = [f"{what} {', '.join(info[key])}" for key, what in (("seeds", "fine-tuning seeds"),
                                                               ("fewshot_seeds", "draws of demonstrations"))
            if info[key]]
    if not axes:
        return []
    return [f"Runs: {'; '.join(axes)}; up to {info['runs_per_cell']} runs per cell, each cell's score their mean "
            "(see *Seeds and demonstrations*).  "]


def render(results: Path, t: Tables, figs: dict, compared: list[str] = ()) -> str:
    """report.md: the input (and a comparison with another run), then each finding's tables and figures, then the
    skipped cells."""
    from amuro.report import sections
    info, summary, groups, paper_groups, notes = t.info, t.summary(), t.groups, t.paper_groups, t.notes
    caps = captions(t)
    by_step, gain, pt, gain_auto = t["mrc_by_step"], t["ft_gain"], t["pt_groups"], t["ft_gain_auto"]
    ood_family, ood_set, spread = t["ood_by_family"], t["ood_by_set"], t["format_spread"]
    shots = sorted(set(info["num_fewshot"].values()))
    shots_text = (f"{shots[0]}" if len(shots) == 1 else
                  ", ".join(f"{d} {k}" for d, k in info["num_fewshot"].items()))
    L = [f"# amuro report: `{results.name}`", "", *runinfo.render(t.run_on),
         f"{info['rows']} rows read; {info['rows_used']} used (each set's primary metric at its shot count), "
         f"{info['rows_ignored']} at another metric or shot count ignored.  ", *_runs_line(info),
         f"Checkpoints: {', '.join(str(s) for s in info['steps'])}.  ",
         f"Training sets: {', '.join(info['trains'])}. Formats: {', '.join(info['formats'])}. "
         f"Shots: {shots_text}.  ",
         f"Evaluation sets ({len(info['evals'])}): {', '.join(info['evals'])}.", "",
         "Change = fine-tuned - BASE score at the same checkpoint, set, format and shots (score points of a 0-1 "
         "scale); ratio = change / BASE score. Cells absent from the table are skipped and counted by reason (not "
         "in the spec, failed, missing), cells with a BASE score of 0 are left out of ratios and counted. CSVs of "
         "every table are in `tables/`.", "", *compared, *_glance(t)]

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
                        ("n cells", "n", "s"), *SKIPPED]), ""]
    L += _notes([f"{d}: {line}" for d, lines in notes["mrc"].items() for line in lines])
    L += [_img(figs, "mrc", "cross-task MRC", caps), "Per checkpoint:", "",
          _table(_records(by_step), [("direction", "direction", "s"), ("step", "step", "s"), ("MRC", "mrc", "pct"),
                                     ("n", "n", "s"), *SKIPPED]), ""]

    L += ["## Fine-tuning gain by checkpoint (Table 6 / Fig. 4)", ""]
    if paper_groups:
        L += ["The paper's groups; `sciq_mc` counts twice in *learned in pre-training*, as in the authors' list "
              "that produced Table 6 (docs/study.md).", ""]
    L += [f"- **{g}**: " + ", ".join(f"({d}, {t})" for d, t in p) for g, p in groups.items()]
    L += ["", "Per step: mean change over the group's pairs present, mean ratio, number of pairs, and the slope of "
          "the mean change per 100k steps from the group's previous checkpoint (0 at the first"
          + ("; step 738020, OLMo-1B's final checkpoint, counts as 750,000 there, as the authors did" if any(
              s in A.PAPER_SLOPE_STEP for s in info["steps"]) else "") + ").", ""]
    gain_cols = [("step", "step", "s"), ("group", "group", "s"), ("avg raw change", "avg_raw_change", "num"),
                 ("95% CI low", "ci_low", "num"), ("95% CI high", "ci_high", "num"), ("avg ratio", "avg_ratio", "pct"),
                 ("pairs", "n_pairs", "s"), ("slope / 100k steps", "slope_per_100k", "num"), *SKIPPED]
    L += [_table(_records(gain), gain_cols), "", *_notes(notes["ft_gain"]),
          _img(figs, "ft_gain", "fine-tuning gain by checkpoint", caps)]

    L += ["## What the BASE model learns in pre-training (Fig. 2)", "",
          "Grouping from the data: gain = mean BASE score over the later checkpoints - BASE score at the first "
          "(default format). A set *improves* when the gain closes at least 10% of the headroom (1 - first score) "
          "and exceeds 2 standard errors where they are known.", "",
          _table(_records(pt.assign(two_se=2 * pt["gain_stderr"])), [
              ("set", "eval", "s"), ("metric", "metric", "s"), ("first step", "first_step", "s"),
              ("first", "first", "score"), ("later mean", "later_mean", "score"), ("gain", "gain", "num"),
              ("stderr of gain", "gain_stderr", "score"), ("2 stderr", "two_se", "score"),
              ("share of headroom", "headroom_share", "pct"), ("group", "group", "s"),
              ("paper's group", "paper_group", "s")]), "", *_notes(notes["pt_groups"]),
          _img(figs, "base_curves", "BASE model curves", caps),
          "Fine-tuning gain of the in-domain (eval, train) pairs, grouped this way:", "",
          _table(_records(gain_auto), gain_cols), "", *_notes(notes["ft_gain_auto"])]
    if figs.get("ft_gain_auto") or len(gain_auto) == 0:
        L += [_img(figs, "ft_gain_auto", "fine-tuning gain, data's groups", caps)]
    else:
        L += ["_(No figure: the data's groups hold the same (set, training set) cells as the groups of the previous "
              "section, so it would repeat `figures/ft_gain.png`.)_", ""]

    L += sections.signal_section(t, figs, caps)
    L += sections.seeds_section(t)

    L += ["## Out-of-domain transfer (Fig. 7 / Fig. 10)", "",
          "Each training set scored on its out-of-domain sets (registry `ood_for`), default format, over all "
          "(set, checkpoint) cells. The paper's Fig. 7 plots the mean raw change; both are here.", "",
          _table(_records(ood_family), [("family", "family", "s"), ("sets", "sets", "s"), ("trained on", "train", "s"),
                                        ("mean change", "mean_change", "num"), ("CI low", "change_ci_low", "num"),
                                        ("CI high", "change_ci_high", "num"), ("mean ratio", "mean_ratio", "pct"),
                                        ("n", "n", "s"), *SKIPPED]), "",
          _table(_records(ood_set), [("set", "eval", "s"), ("trained on", "train", "s"),
                                     ("mean change", "mean_change", "num"), ("mean ratio", "mean_ratio", "pct"),
                                     ("n", "n", "s"), *SKIPPED[:3]]), "", *_notes(notes["ood"]),
          _img(figs, "ood_transfer", "out-of-domain transfer by family", caps),
          _img(figs, "ood_sets", "out-of-domain sets", caps)]

    L += ["## Format sensitivity (Fig. 5)", "",
          "BASE and fine-tuned scores of each in-domain set in each prompt format; spread = max - min over the "
          "formats at a checkpoint. Full table: `tables/format_sensitivity.csv`.", ""]
    if len(spread):
        L += [_table(_records(spread), [("step", "step", "s"), ("model", "model", "s"),
                                        ("mean spread", "mean_spread", "score"), ("sets", "n_sets", "s")]), ""]
    L += [*_notes(notes["format_sensitivity"]), _img(figs, "format_sensitivity", "format sensitivity", caps),
          _img(figs, "format_spread", "format spread", caps)]

    L += ["## Per-set curves (Fig. 3, 8, 9, 11, 12)", "", *_notes(notes["cross_task"], "Diagnostics (cross-task)"),
          _img(figs, "in_domain_sft", "in-domain SFT sets", caps),
          _img(figs, "in_domain_tulu", "instruction-tuning sets", caps),
          _img(figs, "cross_task_cls", "cross-task, classification-trained", caps),
          _img(figs, "cross_task_gen", "cross-task, generation-trained", caps)]

    L += ["## Skipped cells", "", "Cells expected by each quantity (its pairs x every checkpoint) but absent from "
          "the table, by reason: *not in spec* (the sweep's plan.json never asked for them: a training set not "
          "trained, a set not evaluated), *failed* (their job failed), *missing* (planned but not in the table, or "
          "any absent cell when no plan.json sits beside the table); and cells whose BASE score is 0 (no ratio):", ""]
    skipped = [{"quantity": name.replace("_cells", ""), "expected": len(t[name]), **A.status_counts(t[name])}
               for name in CELL_TABLES]
    L += [_table(skipped, [("quantity", "quantity", "s"), ("expected cells", "expected", "s"), *SKIPPED]), "",
          "Each `tables/*_cells.csv` lists its cells with a `status` column (ok, zero_base, not_in_spec, failed, "
          "missing).", ""]
    return "\n".join(L)
