"""Each figure's caption in report.md: what it shows and how many cells (or scores) it rests on. `captions`: the
figures of one study's report (`amuro.report.build.draw_figures`); `compare` and `replication`: the figure of a
comparison with another run and of the replication across studies."""

from __future__ import annotations

import pandas as pd

from amuro.report import analysis as A
from amuro.report.tables import Tables, figure_pairs, same_grouping

DODGED = "series offset sideways by a few points, so that equal values stay visible"
ABSENT_NAMES = {"not_in_spec": "not in the spec", "failed": "failed", "missing": "missing", "zero_base": "BASE 0"}


def rests_on(c: pd.DataFrame) -> str:
    """"rests on 3 of 32 expected cells (24 not in the spec, 5 missing)"."""
    have = int((~c["status"].isin(A.ABSENT)).sum())
    skipped = [f"{k} {ABSENT_NAMES[s]}" for s, k in c["status"].value_counts().items() if s in A.ABSENT and k]
    return f"rests on {have} of {len(c)} expected cells" + (f" ({', '.join(skipped)})" if skipped else "")


def _curve(t: Tables, key: str, what: str) -> str:
    pairs = list(dict.fromkeys(figure_pairs()[key]))
    c = A.cells(t.a, pairs, "default")
    drawn = [(d, tr) for d, tr in pairs if ((t.a["eval"] == d) & (t.a["train"] == tr)).any()]
    return (f"{what}: BASE (blue, solid) and fine-tuned (orange, dashed) score against the checkpoint, one panel "
            f"per (set, training set) with any data ({len(drawn)} of {len(pairs)}), default format, shaded ±1 "
            f"standard error, {DODGED}; {rests_on(c)}.")


def captions(t: Tables) -> dict[str, str]:
    """key -> caption, for every figure `amuro.report.build.draw_figures` draws."""
    mrc = t["mrc_cells"]
    per_dir = "; ".join(f"{d} {rests_on(mrc[mrc['direction'] == d])}" for d in A.MRC_PAIRS)
    bc, fs, spread = t["base_curves"], t["format_sensitivity"], t["format_spread"]
    gain_what = ("Mean change (left, 95% bootstrap CI over pairs) and mean ratio (right, 95% CI over the pairs "
                 "with a ratio) per checkpoint and group, default format")
    auto = (f"{gain_what}, in-domain pairs grouped by the BASE model's trend; {rests_on(t['ft_gain_auto_cells'])}."
            if not same_grouping(t) else "")
    n_scores = int(fs[["default", "io", "instruct"]].notna().sum().sum()) if len(fs) else 0
    return {
        "mrc": ("Cross-task MRC: left, the mean ratio over all checkpoints with its 95% bootstrap CI; right, the "
                f"mean ratio at each checkpoint (× where a checkpoint has no ratio; {DODGED}). {per_dir}."),
        "ft_gain": f"{gain_what}; {rests_on(t['ft_gain_cells'])}.",
        "ft_gain_auto": auto,
        "base_curves": (f"BASE score against the checkpoint for {bc['eval'].nunique()} sets, default format, "
                        f"shaded ±1 standard error, split by the grouping above, {DODGED}; rests on {len(bc)} BASE "
                        "scores."),
        "in_domain_sft": _curve(t, "in_domain_sft", "In-domain sets of the per-dataset fine-tuning"),
        "in_domain_tulu": _curve(t, "in_domain_tulu", "Instruction-tuning sets (Tulu)"),
        "ood_sets": _curve(t, "ood_sets", "Out-of-domain sets"),
        "cross_task_cls": _curve(t, "cross_task_cls", "Cross-task, models fine-tuned on classification sets"),
        "cross_task_gen": _curve(t, "cross_task_gen", "Cross-task, models fine-tuned on generation sets"),
        "ood_transfer": ("Mean change (left) and mean ratio (right) per task family over its (set, checkpoint) "
                         f"cells, default format, 95% bootstrap CIs; {rests_on(t['ood_cells'])}."),
        "format_sensitivity": (f"BASE (blue, filled) and fine-tuned (orange, hollow) score in each prompt format "
                               "(its own marker and line style) against the checkpoint, one panel per in-domain set "
                               f"scored in several formats ({fs[['eval', 'train']].drop_duplicates().shape[0]} sets), "
                               f"{DODGED}; rests on {n_scores} scores."),
        "format_spread": (f"Mean spread (max - min over the formats) per checkpoint, BASE vs fine-tuned, {DODGED}; "
                          f"rests on {int(spread['n_sets'].sum()) if len(spread) else 0} (set, checkpoint, model) "
                          "spreads."),
        "signal": _signal(t.signal),
    }


def _signal(sig: dict) -> str:
    mc, curves = sig["frames"]["signal_cells"], sig["frames"]["signal_curves"]
    if mc.empty or curves.empty:
        return ""  # no figure either (`amuro.report.signal.figure`)
    groups = curves.loc[curves["level"] == "group", "group"].nunique()
    return (f"Per group of pairs ({groups}), default format: the fine-tuned score, the BASE score and the gain "
            "(fine-tuned - BASE), each the mean over the group's pairs at each checkpoint (dots) with its monotone fit "
            f"(lines), {DODGED}; dash-dotted: the plateau steps of the fine-tuned score and of the gain, shaded: their "
            "95% bootstrap CIs. Last panel: each BASE measure's Spearman rank correlation with the gain (with the "
            "fine-tuned score where the gain has none) across the checkpoints (mean over pairs, 95% bootstrap CI). "
            "Rests on "
            f"{len(mc)} (pair, checkpoint) cells with both a BASE and a fine-tuned score "
            f"({mc[['eval', 'train']].drop_duplicates().shape[0]} pairs).")


def compare(table: pd.DataFrame, names: tuple[str, str]) -> str:
    """The caption of `amuro.report.compare.figure`."""
    a, b = names
    table = table.dropna(subset=["a", "b"], how="all")
    return (f"Each headline finding in {a} and {b} (left: mean over its cells, 95% bootstrap CI over the cells and "
            f"their runs) and the difference {b} - {a} (right: over the cells both runs have, paired, 95% CI); one row "
            "of panels per kind of value, each on its own scale (ratios in %, changes and spreads in score points). "
            f"The {len(table)} findings rest on {int(table['n_a'].sum())} cells in {a} and "
            f"{int(table['n_b'].sum())} in {b}, {int(table['n_paired'].sum())} paired (summed over the findings: a "
            "cell can serve two).")


def replication(rep: pd.DataFrame, studies: dict) -> str:
    """The caption of `amuro.report.replication.figure`."""
    rep = rep.dropna(subset=["value"])
    groups = list(dict.fromkeys(g for t in studies.values() for g in t["ft_gain"]["group"]))
    right = (f" Right, one panel per fine-tuning-gain group ({len(groups)}): each model's mean gain at each checkpoint "
             f"against the pre-training tokens seen (log scale), 95% bootstrap CI over pairs, {DODGED}."
             if groups else "")
    return (f"{'Left: e' if groups else 'E'}ach headline finding in each of the {len(studies)} models (mean over its "
            "cells, 95% CI over the cells, then the seeds and draws of demonstrations within each; the models offset "
            f"vertically).{right} Rests on {int(rep['n_cells'].sum())} cells (summed over the "
            f"{rep['finding'].nunique()} findings and the models).")
