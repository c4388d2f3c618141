"""`amuro report RESULTS.csv [MORE.csv ...] --out DIR`: the study's findings from one or several results tables.

Reads and validates each table once (and the sweep's plan.json beside it, if any: `runinfo`), splits the rows into
studies (a model, or a family where a spec names one: `by_study`), and for each study builds every table and its
diagnostics (`tables`, `diagnostics`), draws the figures (`figures`, `charts`), renders report.md (`markdown`,
`captions`). One study: DIR/report.md, DIR/figures/*.png, DIR/tables/*.csv and DIR/summary.json. Several: the
same in DIR/<study>/ for each, and in DIR/ the replication across them (`replication`): report.md,
tables/replication.csv, figures/replication.png and summary.json {"replication", "models"}.
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
                 force: bool = False, base_floor: float | None = None, compare_with=None,
                 labels: tuple[str, str] | None = None) -> Path:
    """The report of `results`, one results table or several: each study in them (a model, or a family where the
    table names one: `by_study`) is reported apart, never pooled with another. With one study, DIR/report.md is
    its report; with several, each study's report is in DIR/<study>/ and DIR/report.md holds the replication
    table (`amuro.report.replication`). With `compare_with` (another results table, e.g. the other profile's),
    each study's report also says which of its findings survive there (`amuro.report.compare`), the two runs
    named by `labels` or told apart by `run_names`. A table with full and LoRA fine-tuning reports the full models and
    compares LoRA with them in the same way."""
    from amuro.files import claim_folder, write_atomic
    from amuro.report import replication, sections

    paths = [results] if isinstance(results, (str, Path)) else list(results)
    studies = by_study(paths)
    others = by_study([compare_with]) if compare_with is not None else {}
    out = claim_folder(out, force=force)  # never over a report.md that amuro did not write
    one = len(studies) == 1
    tables, summaries = {}, {}
    for name, (df, sources) in studies.items():
        other = next(iter(others.items()), None) if one and len(others) == 1 else \
            ((name, others[name]) if name in others else None)
        folder = out if one else claim_folder(out / slug(name), force=force)
        tables[name], summaries[name] = _report_study(df, sources, folder, groups, num_fewshot, seed, base_floor,
                                                      other and (other[1], compare_with), labels)
    rep = replication.table(tables, seed)
    plat = replication.plateaus(tables)
    rep_summary = replication.summary(rep, plat, list(tables))
    if one:  # the study's summary.json is the report's, with the replication entry of its one study
        summary = {**next(iter(summaries.values())), "replication": rep_summary}
        write_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
        return out / "report.md"
    for name, summary in summaries.items():
        write_atomic(out / slug(name) / "summary.json", json.dumps(summary, indent=2) + "\n")
    (out / "tables").mkdir(exist_ok=True)
    (out / "figures").mkdir(exist_ok=True)
    write_atomic(out / "tables" / "replication.csv", rep.to_csv(index=False))
    write_atomic(out / "tables" / "replication_plateaus.csv", plat.to_csv(index=False))
    figure = replication.figure(rep, tables, out / "figures" / "replication.png")
    summary = {"replication": rep_summary,
               "models": {n: {"report": f"{slug(n)}/report.md", "summary": f"{slug(n)}/summary.json"}
                          for n in tables}}
    write_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_atomic(out / "report.md", sections.render_replication(paths, rep, plat, tables, figure))
    return out / "report.md"


def _report_study(df, sources, out: Path, groups, num_fewshot, seed, base_floor, compare_with,
                  labels=None) -> tuple:
    """One study's report in `out` (report.md, figures/, tables/); returns its Tables and its summary.json's
    content, which the caller writes."""
    from amuro.files import write_atomic
    from amuro.report import compare, markdown, sections

    runs = by_method(df)
    t = _tables(next(iter(runs.values())), sources, groups, num_fewshot, seed, base_floor)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for name, frame in t.frames.items():
        write_atomic(out / "tables" / f"{name}.csv", frame.to_csv(index=False))
    figs = draw_figures(t, out / "figures")
    summary, parts = t.summary(), []
    others = [(f"methods: {m}", m, _tables(d, sources, groups, num_fewshot, seed, base_floor))
              for m, d in list(runs.items())[1:]]
    if compare_with is not None:
        (other_df, other_sources), path = compare_with
        others.append(("compare", None, _tables(other_df, other_sources, groups, num_fewshot, seed, base_floor)))
    for key, method, tb in others:
        names = (next(iter(runs)), method) if method else tuple(labels or run_names((sources[0], t), (path, tb)))
        stem = "compare" if method is None else f"compare_{method}"
        table, plateaus = compare.compare(t, tb, seed), compare.plateaus(t, tb)
        write_atomic(out / "tables" / f"{stem}.csv", table.to_csv(index=False))
        write_atomic(out / "tables" / f"{stem}_plateaus.csv", plateaus.to_csv(index=False))
        figs[stem] = compare.figure(table, out / "figures" / f"{stem}.png", *names)
        summary[stem] = compare.summary(table, plateaus, names, path if method is None else method)
        parts += sections.compare_section(table, plateaus, names, figs, stem)
    write_atomic(out / "report.md", markdown.render(Path(sources[0]), t, figs, parts))
    return t, summary


def by_study(paths) -> dict:
    """{study: (its rows from all the tables, the tables it came from)}, in the order the tables name them: a
    study is a model, or a family where the table names one (`amuro.report.cells.study_units`, applied to each
    table on its own). Studies are reported apart and never pooled."""
    import pandas as pd

    from amuro.report.cells import study_units
    from amuro.study.results import read_results, validate

    found: dict = {}
    for path in paths:
        df = read_results(path)
        for name, rows in df.groupby(study_units(df), sort=False):
            found.setdefault(name, []).append((rows, path))
    return {name: (validate(pd.concat([r for r, _ in parts]).reset_index(drop=True)) if len(parts) > 1 else
                   parts[0][0], [p for _, p in parts]) for name, parts in found.items()}


def slug(name: str) -> str:
    """A study's folder name: `EleutherAI/pythia-160m` -> `EleutherAI_pythia-160m`."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def by_method(df) -> dict:
    """{method: its fine-tuned rows and every BASE row}, full first: the methods are reported apart (their cells
    share the BASE rows) and compared, never averaged together."""
    from amuro.study.results import BASE, METHODS

    tuned = set(df.loc[df["train"] != BASE, "method"])
    return {m: df[(df["train"] == BASE) | (df["method"] == m)] for m in METHODS if m in tuned} or {"full": df}


def _tables(df, sources, groups, num_fewshot, seed, base_floor):
    """A study's tables; the sweep's plan.json and base_measures.csv beside its results table are read when the
    study comes from one table (rows of several tables: absent cells read `missing`)."""
    import pandas as pd

    from amuro.report import tables
    from amuro.report.runinfo import read_plan
    from amuro.study.measures import read_measures

    measures = [m for m in (read_measures(s) for s in sources) if m is not None]
    return tables.build(df, groups, num_fewshot, seed, measures=pd.concat(measures) if measures else None,
                        plan=read_plan(sources[0]) if len(sources) == 1 else None,
                        base_floor=BASE_FLOOR if base_floor is None else base_floor)


def run_names(*runs) -> list[str]:
    """How two runs (results path, Tables) are named in a comparison: profile and spec where the tables say, else
    the folder; where that leaves two alike, each gets the shortest end of its path that differs
    (`corrected (demo) [demo2/sweep]`), two tables in one folder their file names, and the same file twice is A and B."""
    def own(results, t):
        profile, spec = t.run_on.get("profile"), t.run_on.get("spec")
        return " ".join(x for x in (profile, f"({spec})" if spec else None) if x)

    names = [own(*r) for r in runs]
    if len(set(names)) == len(names) and all(names):
        return names
    paths = [Path(r).resolve() for r, _ in runs]
    if len({p.parent for p in paths}) == 1 and len(set(paths)) == len(paths):  # two tables side by side: their names
        return [f"{n} [{p.name}]" if n else p.name for n, p in zip(names, paths)]
    parts = [p.parts[:-1] for p in paths]  # the folders: results.csv is everyone's file name
    for k in range(1, max(map(len, parts)) + 1):
        ends = ["/".join(p[-k:]) for p in parts]
        if len(set(ends)) == len(ends):
            return [f"{n} [{e}]" if n else e for n, e in zip(names, ends)]
    return [f"{n or p[-1]} [{x}]" for n, p, x in zip(names, parts, "AB")]
