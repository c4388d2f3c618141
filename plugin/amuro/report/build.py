"""`amuro report RESULTS.csv --out DIR`: the study's findings from a results table.

Reads and validates the table once (and the sweep's plan.json beside it, if any: `runinfo`), builds every table
and its diagnostics (`tables`, `diagnostics`), draws the figures (`figures`, `charts`), renders report.md
(`markdown`, `captions`). Writes DIR/report.md, DIR/figures/*.png, DIR/tables/*.csv and DIR/summary.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from amuro.report.diagnostics import BASE_FLOOR
from amuro.report.tables import figure_pairs, same_grouping


def draw_figures(t, fig: Path) -> dict[str, str | None]:
    """Every figure, one by one under a progress bar; key -> path, or None where there was no data."""
    from tqdm.auto import tqdm

    from amuro.report import charts as C
    from amuro.report import figures as F
    from amuro.report import signal

    pairs = figure_pairs()
    gain_title = "Fine-tuning gain by checkpoint" + (" (the paper's groups, Table 6 / Fig. 4)" if t.paper_groups else "")
    curve_titles = {
        "in_domain_sft": ("In-domain sets: BASE vs fine-tuned on the training set (paper Fig. 3/9)", 4),
        "in_domain_tulu": ("Instruction-tuning sets: BASE vs fine-tuned on Tulu (paper Fig. 3/8)", 3),
        "ood_sets": ("Out-of-domain sets: BASE vs fine-tuned on a related training set (paper Fig. 10)", 4),
        "cross_task_cls": ("Cross-task: models fine-tuned on classification sets (paper Fig. 11)", 3),
        "cross_task_gen": ("Cross-task: models fine-tuned on generation sets (paper Fig. 12)", 3),
    }
    plots = {
        "mrc": lambda: C.mrc(t.mrc, t["mrc_by_step"], fig / "mrc.png"),
        "ft_gain": lambda: C.ft_gain(t["ft_gain"], fig / "ft_gain.png", gain_title),
        # Not drawn when the data's groups hold the same cells as the ones above: it would be the same figure.
        "ft_gain_auto": lambda: None if same_grouping(t) else C.ft_gain(
            t["ft_gain_auto"], fig / "ft_gain_auto.png",
            "Fine-tuning gain by checkpoint, in-domain sets grouped by the BASE model's pre-training trend"),
        "base_curves": lambda: F.base_curves(t["base_curves"], t["pt_groups"], fig / "base_curves.png"),
        **{key: (lambda key=key, title=title, ncols=ncols: F.curves(t.a, pairs[key], title, fig / f"{key}.png",
                                                                    ncols=ncols))
           for key, (title, ncols) in curve_titles.items()},
        "ood_transfer": lambda: C.ood_transfer(t["ood_by_family"], fig / "ood_transfer.png"),
        "format_sensitivity": lambda: F.format_sensitivity(t["format_sensitivity"], fig / "format_sensitivity.png"),
        "format_spread": lambda: F.format_spread(t["format_spread"], fig / "format_spread.png"),
        "signal": lambda: signal.figure(t.signal, fig / "signal.png"),
    }
    figs = {key: make() for key, make in tqdm(plots.items(), desc="figures", unit="figure", disable=None)}
    for key, path in figs.items():  # a figure without data this time must not survive from an earlier run
        if path is None:
            (fig / f"{key}.png").unlink(missing_ok=True)
    return figs


def write_report(results, out, groups: dict | None = None, num_fewshot: int | None = None, seed: int = 0,
                 force: bool = False, base_floor: float | None = None, compare_with=None) -> Path:
    """The report of `results`; with `compare_with` (another results table, e.g. the other profile's), also which
    of its findings survive there (`amuro.report.compare`). A table with full and LoRA fine-tuning reports the full
    models and compares LoRA with them in the same way."""
    from amuro.files import claim_folder, write_atomic
    from amuro.report import compare, markdown
    from amuro.study.results import read_results

    runs = by_method(read_results(results))
    t = _tables(next(iter(runs.values())), results, groups, num_fewshot, seed, base_floor)
    out = claim_folder(out, force=force)  # never over a report.md that amuro did not write
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for name, frame in t.frames.items():
        write_atomic(out / "tables" / f"{name}.csv", frame.to_csv(index=False))
    figs = draw_figures(t, out / "figures")
    summary, sections = t.summary(), []
    others = [(f"methods: {m}", m, _tables(df, results, groups, num_fewshot, seed, base_floor))
              for m, df in list(runs.items())[1:]]
    if compare_with is not None:
        tb = _tables(read_results(compare_with), compare_with, groups, num_fewshot, seed, base_floor)
        others.append(("compare", None, tb))
    for key, method, tb in others:
        names = (next(iter(runs)), method) if method else (_run_name(results, t), _run_name(compare_with, tb))
        if names[0] == names[1]:  # the same profile twice: tell the runs apart by their folders or files
            names = tuple(f"{n} [{Path(r).parent.name or Path(r).name}]" for n, r in zip(names, (results, compare_with)))
        stem = "compare" if method is None else f"compare_{method}"
        table, plateaus = compare.compare(t, tb, seed), compare.plateaus(t, tb)
        write_atomic(out / "tables" / f"{stem}.csv", table.to_csv(index=False))
        write_atomic(out / "tables" / f"{stem}_plateaus.csv", plateaus.to_csv(index=False))
        figs[stem] = compare.figure(table, out / "figures" / f"{stem}.png", *names)
        summary[stem] = compare.summary(table, plateaus, names, compare_with if method is None else method)
        sections += markdown.compare_section(table, plateaus, names, figs, stem)
    write_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_atomic(out / "report.md", markdown.render(Path(results), t, figs, sections))
    return out / "report.md"


def by_method(df) -> dict:
    """{method: its fine-tuned rows and every BASE row}, full first: the methods are reported apart (their cells
    share the BASE rows) and compared, never averaged together."""
    from amuro.study.results import BASE, METHODS

    tuned = set(df.loc[df["train"] != BASE, "method"])
    return {m: df[(df["train"] == BASE) | (df["method"] == m)] for m in METHODS if m in tuned} or {"full": df}


def _tables(df, source, groups, num_fewshot, seed, base_floor):
    from amuro.report import tables
    from amuro.report.runinfo import read_plan
    from amuro.study.measures import read_measures

    return tables.build(df, groups, num_fewshot, seed, measures=read_measures(source), plan=read_plan(source),
                        base_floor=BASE_FLOOR if base_floor is None else base_floor)


def _run_name(results, t) -> str:
    """How a run is named in a comparison: its profile (and spec) where the table says, else its folder."""
    profile, spec = t.run_on.get("profile"), t.run_on.get("spec")
    return " ".join(x for x in (profile, f"({spec})" if spec else None) if x) or Path(results).parent.name
