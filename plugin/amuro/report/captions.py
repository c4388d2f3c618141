"""Each figure's caption in report.md: what it shows and how many cells (or scores) it rests on."""

from __future__ import annotations

import pandas as pd

from amuro.report import analysis as A
from amuro.report.tables import Tables, figure_pairs, same_grouping

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
    return (f"{what}: BASE and fine-tuned score against the checkpoint, one panel per (set, training set) with any "
            f"data ({len(drawn)} of {len(pairs)}), default format, shaded ±1 standard error; "
            f"{rests_on(c)}.")


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
                f"mean ratio at each checkpoint (× where a checkpoint has no ratio). {per_dir}."),
        "ft_gain": f"{gain_what}; {rests_on(t['ft_gain_cells'])}.",
        "ft_gain_auto": auto,
        "base_curves": (f"BASE score against the checkpoint for {bc['eval'].nunique()} sets, default format, "
                        f"shaded ±1 standard error, split by the grouping above; rests on {len(bc)} BASE scores."),
        "in_domain_sft": _curve(t, "in_domain_sft", "In-domain sets of the per-dataset fine-tuning"),
        "in_domain_tulu": _curve(t, "in_domain_tulu", "Instruction-tuning sets (Tulu)"),
        "ood_sets": _curve(t, "ood_sets", "Out-of-domain sets"),
        "cross_task_cls": _curve(t, "cross_task_cls", "Cross-task, models fine-tuned on classification sets"),
        "cross_task_gen": _curve(t, "cross_task_gen", "Cross-task, models fine-tuned on generation sets"),
        "ood_transfer": ("Mean change (left) and mean ratio (right) per task family over its (set, checkpoint) "
                         f"cells, default format, 95% bootstrap CIs; {rests_on(t['ood_cells'])}."),
        "format_sensitivity": (f"BASE (blue) and fine-tuned (orange) score in each prompt format against the "
                               f"checkpoint, one panel per in-domain set scored in several formats "
                               f"({fs[['eval', 'train']].drop_duplicates().shape[0]} sets); rests on {n_scores} "
                               "scores."),
        "format_spread": (f"Mean spread (max - min over the formats) per checkpoint, BASE vs fine-tuned; rests on "
                          f"{int(spread['n_sets'].sum()) if len(spread) else 0} (set, checkpoint, model) spreads."),
    }

