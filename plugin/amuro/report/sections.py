"""report.md's sections beyond the paper's findings: the pre-training signal, the comparison with another run, the
seeds and demonstrations behind each finding, and the replication across studies (the top report.md of several).
The paper's findings and the page around them are rendered by `amuro.report.markdown`, whose helpers these use."""

from __future__ import annotations

import math
from pathlib import Path

from amuro.report import captions
from amuro.report.markdown import _img, _notes, _records, _table
from amuro.report.tables import Tables

SHARES = [("checkpoint and pair", "share_cells", "s"), ("fine-tuning seed", "share_seed", "s"),
          ("demonstrations", "share_fewshot_seed", "s"), ("residual", "share_residual", "s")]


def _ci(lo, hi) -> str:
    return "-" if lo is None or (isinstance(lo, float) and math.isnan(lo)) else f"[{lo:+.4f}, {hi:+.4f}]"


def _share(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.0f}%"


def _with_ci(rows, lo="ci_low", hi="ci_high", into="ci"):
    """Records with their CI as one text column `into`, and the variance split's shares as percentages."""
    return [{**r, into: _ci(r.get(lo), r.get(hi)), **{k: _share(r[k]) for _, k, _ in SHARES if k in r}}
            for r in rows]


def signal_section(t: Tables, figs: dict, caps: dict | None = None) -> list[str]:
    """"Is more pre-training still paying off?" (amuro.report.signal, which documents the method)."""
    from amuro.report.signal import findings

    sig = t.signal["summary"]
    groups = [r for r in sig["plateaus"] if r["level"] == "group"]
    L = ["## Is more pre-training still paying off?", "",
         f"Per group of (eval, train) pairs, default format: the fine-tuned score, the BASE score and the fine-tuning "
         f"gain (fine-tuned - BASE) against the checkpoint step, each fitted by isotonic regression (the best "
         f"non-decreasing curve; for the gain, the best monotone curve, rising or falling). The plateau step is the "
         f"first checkpoint from which the fit changes by less than {sig['threshold']:g} score points (0-1 scale) "
         f"per {sig['unit_steps']:,} steps to every later checkpoint; its 95% CI comes from "
         f"{sig['n_resamples']:,} seeded bootstrap replicates over cells (pairs resampled, then the runs of each "
         "cell, scores drawn within their standard errors). Below, the Spearman correlation across checkpoints "
         "between measures of the BASE checkpoint and the fine-tuned score and gain at the same checkpoint (mean "
         "over pairs, 95% bootstrap CI over checkpoints).", ""]
    if not groups:
        return L + ["_(no fine-tuned cells of these groups in the table)_", ""]
    L += [f"- {line}" for line in findings(sig)] + [""]
    L += [_table(groups, [("group", "group", "s"), ("quantity", "quantity", "s"),
                          ("plateau step", "plateau_step", "s"), ("95% CI low", "ci_low", "s"),
                          ("95% CI high", "ci_high", "s"),
                          ("share of replicates without plateau", "p_no_plateau", "score"),
                          ("change / unit after it", "rise_after", "num"), ("pairs", "n_pairs", "s"),
                          ("checkpoints", "n_steps", "s")]), "",
          "Per pair: `tables/signal_plateaus.csv`; curves and fits: `tables/signal_curves.csv`.", ""]
    corr = [r for r in sig["correlations"] if r["n_pairs"]]
    L += [_table(corr, [("group", "group", "s"), ("BASE measure", "measure", "s"), ("vs", "target", "s"),
                        ("Spearman rho", "rho", "num"), ("95% CI low", "ci_low", "num"),
                        ("95% CI high", "ci_high", "num"), ("pairs", "n_pairs", "s"), ("cells", "n_cells", "s")])
          if corr else "_(no rank correlations: a pair needs 4 checkpoints with varying scores)_", ""]
    if "completion_loss" not in sig["measures_available"]:
        L += ["The BASE model's loss on the fine-tuning sets' completions was not measured (run spec: "
              "`evaluate: {completion_loss: 200}`).", ""]
    return L + [*_notes(t.notes.get("signal", [])), _img(figs, "signal", "is more pre-training still paying off",
                                                          caps)]


def seeds_section(t: Tables) -> list[str]:
    """"Seeds and demonstrations": each headline finding's CI over cells and runs, and its variance split."""
    info = t.info
    L = ["## Seeds and demonstrations", ""]
    if info["runs_per_cell"] <= 1:
        return L + ["Each cell is one fine-tuning run on one draw of demonstrations (no `seed` or `fewshot_seed` "
                    "axis in the table), so the CIs above cover the spread over checkpoints and pairs only, not the "
                    "noise of another seed or another draw. A spec's `seeds: [0, 1, 2]` and `evaluate: "
                    "fewshot_seeds: [...]` add them.", ""]
    L += [f"Fine-tuning seeds: {', '.join(info['seeds']) or 'one'}; draws of demonstrations: "
          f"{', '.join(info['fewshot_seeds']) or 'one'}; up to {info['runs_per_cell']} runs per cell. Each finding's "
          "CI resamples its cells, then the runs within each cell (a hierarchical bootstrap). Its spread, split: how "
          "much of the variance of one run's value lies between cells (checkpoint and pair), between fine-tuning "
          "seeds, between draws of demonstrations, and in what is left (random-effects ANOVA estimates, "
          "`amuro.report.stats.variance_split`).", "",
          _table(_with_ci(_records(t["findings"])), [("finding", "finding", "s"), ("value", "value", "num"),
                                                     ("95% CI", "ci", "s"), ("cells", "n_cells", "s"),
                                                     ("runs per cell", "runs_per_cell", "s"), *SHARES]),
          "", "Table: `tables/findings.csv`.", ""]
    return L


def compare_section(table, plateaus, names: tuple[str, str], figs: dict, stem: str = "compare") -> list[str]:
    """"Which findings survive": the comparison with another run (amuro.report.compare, which defines it)."""
    a, b = names
    L = [f"## Which findings survive: {a} vs {b}", "",
         f"Each headline finding in both runs (mean over its cells, 95% bootstrap CI over cells and their runs) and "
         f"the difference {b} - {a}, bootstrapped over the cells both runs have (paired). *holds*: the finding's CI "
         f"excludes 0 on the same side in both; *weakens*: {b}'s CI includes 0; *reverses*: {b}'s excludes 0 on "
         "the other side; *no verdict*: a CI of zero width (its cells all have one value), which says nothing about "
         "uncertainty.", "",
         _table(_records(table.assign(a_ci=[_ci(lo, hi) for lo, hi in zip(table["a_ci_low"], table["a_ci_high"])],
                                      b_ci=[_ci(lo, hi) for lo, hi in zip(table["b_ci_low"], table["b_ci_high"])],
                                      d_ci=[_ci(lo, hi) for lo, hi in zip(table["diff_ci_low"],
                                                                           table["diff_ci_high"])])),
                [("finding", "finding", "s"), (a, "a", "num"), ("CI", "a_ci", "s"), ("n", "n_a", "s"),
                 (b, "b", "num"), ("CI", "b_ci", "s"), ("n", "n_b", "s"), (f"{b} - {a}", "difference", "num"),
                 ("CI", "d_ci", "s"), ("paired", "n_paired", "s"),
                 ("difference CI excludes 0", "difference_excludes_0", "s"), ("verdict", "verdict", "s")]), ""]
    if len(plateaus):
        L += ["Where the fine-tuned score, the fine-tuning gain and the BASE score stop changing (the pre-training "
              "signal's plateau steps, 95% CI):", "",
              _table(_records(plateaus), [("group", "group", "s"), ("quantity", "quantity", "s"),
                                          (f"{a}: plateau", "a_plateau_step", "s"), ("CI low", "a_ci_low", "s"),
                                          ("CI high", "a_ci_high", "s"), (f"{b}: plateau", "b_plateau_step", "s"),
                                          ("CI low", "b_ci_low", "s"), ("CI high", "b_ci_high", "s")]), ""]
    return L + [_img(figs, stem, "findings in both runs", {stem: captions.compare(table, names)}),
                f"Table: `tables/{stem}.csv`.", ""]


def render_replication(paths, rep, plat, studies: dict, figure) -> str:
    """The top report.md of a report on several studies: the replication table, the plateaus in tokens, and a
    link to each study's own report."""
    from amuro.report.build import slug

    names = list(studies)
    L = [f"# amuro report: do the findings replicate across {len(names)} models?", "",
         f"Read: {', '.join(f'`{Path(p)}`' for p in paths)}. Models (each analysed apart, never averaged with "
         f"another): {', '.join(f'`{n}`' for n in names)}; the reference, whose sign gives each finding its "
         f"direction, is `{names[0]}`.", ""]
    for n, t in studies.items():
        steps = t.info["steps"]
        runs = f", {t.info['runs_per_cell']} runs per cell" if t.info["runs_per_cell"] > 1 else ""
        L.append(f"- **{n}**: {len(steps)} checkpoints (steps {steps[0]:,} to {steps[-1]:,}){runs}; its report: "
                 f"[{slug(n)}/report.md]({slug(n)}/report.md)")
    L += ["", "## Each finding in each model, and the verdict", "",
          "Each finding's value in each model (mean over its cells) with its 95% CI (cells resampled, then the runs, "
          "seeds and draws of demonstrations, within each). *holds*: the CI excludes 0 on the side of the "
          "reference's value; *reversed*: on the other side. Where a model shares cells with the reference (the same "
          "steps: two runs of one family), the paired difference over those cells with its CI and a paired t-test; "
          "models of different families share no steps, whose meaning differs between families.", ""]
    empty = [f for f, rows in rep.groupby("finding", sort=False) if (rows["status"] == "no data").all()]
    for finding, rows in rep.groupby("finding", sort=False):
        if finding in empty:
            continue
        L += [f"**{finding}** ({rows['what'].iloc[0]}): {rows['verdict'].iloc[0]}", "",
              _table([{**r, "diff_ci": _ci(r.get("diff_ci_low"), r.get("diff_ci_high"))}
                      for r in _with_ci(_records(rows))], [
                  ("model", "model", "s"), ("value", "value", "num"), ("95% CI", "ci", "s"),
                  ("cells", "n_cells", "s"), ("status", "status", "s"), ("runs per cell", "runs_per_cell", "s"),
                  ("between cells", "share_cells", "s"), ("seed", "share_seed", "s"),
                  ("demonstrations", "share_fewshot_seed", "s"), ("shared cells", "n_shared", "int"),
                  ("paired difference", "difference", "num"), ("its 95% CI", "diff_ci", "s"),
                  ("paired t-test p", "p_value", "p")]), ""]
    if empty:
        L += [f"No cells in any model: {', '.join(empty)}.", ""]
    L += ["## Where each model's gain and scores stop changing", "",
          "Per fine-tuning-gain group: the plateau step of the fine-tuned score, the fine-tuning gain and the BASE "
          "score (`amuro.report.signal`) in each model, with the tokens seen at that checkpoint: steps of "
          "different families are different amounts of training.", "",
          _table(_records(plat), [("model", "model", "s"), ("group", "group", "s"), ("quantity", "quantity", "s"),
                                  ("plateau step", "plateau_step", "s"), ("tokens seen", "plateau_tokens", "s"),
                                  ("95% CI low", "ci_low", "s"), ("95% CI high", "ci_high", "s")]) if len(plat)
          else "_(no plateaus: no fine-tuned cells of the groups)_", ""]
    L += [_img({"replication": figure}, "replication", "findings in each model; the gain against tokens seen",
               {"replication": captions.replication(rep, studies)}),
          "Tables: `tables/replication.csv`, `tables/replication_plateaus.csv`.", ""]
    return "\n".join(L)
