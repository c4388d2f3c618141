"""Every table of the report, built once from one validated results table; `summary()` is summary.json."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from amuro.errors import AmuroError
from amuro.report import analysis as A
from amuro.report import headline as H
from amuro.report import signal as S
from amuro.report import diagnostics as D
from amuro.report import runinfo
from amuro.report.cells import PLAN
from amuro.report.stats import jsonable
from amuro.study.results import validate
from amuro.tasks.registry import INSTRUCTION_TUNING

GAIN_KEYS = ["step", "group", "avg_raw_change", "avg_ratio", "n_pairs", "slope_per_100k", "n_missing",
             "n_not_in_spec", "n_failed", "n_zero_base"]
CELL_TABLES = ("mrc_cells", "ft_gain_cells", "ood_cells", "cross_task_cells")  # each lists its cells and status


@dataclass
class Tables:
    """The report's tables. `frames` are the CSVs written to tables/; the rest is what report.md and the figures
    read besides them."""

    a: pd.DataFrame  # the analysed table (amuro.report.cells.analysed)
    info: dict  # amuro.report.cells.input_summary
    groups: dict  # the fine-tuning-gain groups
    paper_groups: bool  # whether they are the paper's
    mrc: dict  # direction -> amuro.report.analysis.mrc
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    signal: dict = field(default_factory=dict)  # amuro.report.signal.build: "Is more pre-training still paying off?"
    run_on: dict = field(default_factory=dict)  # amuro.report.runinfo.run_on
    notes: dict = field(default_factory=dict)  # finding -> diagnostic lines (amuro.report.diagnostics)
    base_floor: float = D.BASE_FLOOR
    tokens: dict = field(default_factory=dict)  # step -> tokens seen (`tokens_seen`), for the replication figure

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.frames[name]

    def summary(self) -> dict:
        """Everything `summary.json` holds, NaN as None. Ratios are fractions (-0.614 for -61.4%)."""
        f = self.frames
        return jsonable({
            "mrc": self.mrc,
            "ft_gain": f["ft_gain"][GAIN_KEYS].to_dict("records"),
            "ft_gain_groups": {g: [list(p) for p in pairs] for g, pairs in self.groups.items()},
            "ft_gain_auto": f["ft_gain_auto"][GAIN_KEYS].to_dict("records"),
            "pt_groups": f["pt_groups"][["eval", "group", "paper_group", "gain", "headroom_share"]].to_dict("records"),
            "ood_transfer": f["ood_by_family"].to_dict("records"),
            "format_spread": f["format_spread"].to_dict("records"),
            "input": self.info,
            "signal": self.signal.get("summary"),
            "findings": f["findings"].to_dict("records"),
            "run_on": self.run_on,
            "diagnostics": {"base_floor": self.base_floor, "notes": self.notes,
                            "constant_predictions": f["constant_predictions"].to_dict("records"),
                            "zero_scores": f["zero_scores"].to_dict("records")},
        })


def build(df: pd.DataFrame, groups: dict | None = None, num_fewshot: int | None = None, seed: int = 0,
          measures: pd.DataFrame | None = None, plan: runinfo.RunPlan | None = None,
          base_floor: float = D.BASE_FLOOR) -> Tables:
    """All the report's tables from a results table (validated and reduced here, once); `measures`: the sweep's
    base_measures.csv (`amuro.study.measures.read_measures`), for the signal's completion loss; `plan` (the
    sweep's plan.json, `runinfo.read_plan`) tells absent cells apart, `base_floor` is where a ratio's BASE score
    is too small to trust."""
    df = validate(df).copy()
    df.attrs[PLAN] = plan
    a = A.analysed(df, num_fewshot)
    paper_groups = groups is None
    groups = A.PAPER_GROUPS if groups is None else groups
    auto = A.auto_groups(a, num_fewshot)
    gain = A.ft_gain(a, groups, num_fewshot, seed=seed)
    fs = A.format_sensitivity(a, num_fewshot)
    frames = {
        "mrc_cells": pd.concat([A.cells(a, p, "default", num_fewshot).assign(direction=d)
                                for d, p in A.MRC_PAIRS.items()]),
        "mrc_by_step": A.mrc_by_step(a, num_fewshot),
        "ft_gain": gain,
        "ft_gain_cells": pd.concat([A.cells(a, p, "default", num_fewshot).assign(group=g)
                                    for g, p in groups.items()]),
        "ft_gain_auto": A.ft_gain(a, auto, num_fewshot, seed=seed) if auto else gain.iloc[0:0],
        "ft_gain_auto_cells": pd.concat([A.cells(a, p, "default", num_fewshot).assign(group=g)
                                         for g, p in (auto or {"": ()}).items()]),
        "pt_groups": A.pt_improvement(a, num_fewshot),
        "ood_by_family": A.ood_transfer(a, "family", num_fewshot, seed),
        "ood_by_set": A.ood_transfer(a, "eval", num_fewshot, seed),
        "ood_cells": A.cells(a, A.ood_pairs(), "default", num_fewshot),
        "format_sensitivity": fs,
        "format_spread": A.format_spread_by_step(fs),
        "cross_task_cells": A.cells(a, A.cross_task_pairs(), "default", num_fewshot),
        "base_curves": A.base_curves(a, "default", num_fewshot),
        "changes": A.changes(a, num_fewshot),
        "constant_predictions": D.constant_predictions(a),
        "zero_scores": D.zero_scores(a),
    }
    signal = S.build(a, groups, measures, num_fewshot, seed)
    frames.update(signal["frames"])
    info = A.input_summary(df, num_fewshot)
    mrc = {d: A.mrc(a, d, num_fewshot, seed) for d in A.MRC_PAIRS}
    t = Tables(a=a, info=info, groups=dict(groups), paper_groups=paper_groups, mrc=mrc, frames=frames,
               run_on=runinfo.run_on(df, info, plan), notes=notes(a, frames, mrc, info, base_floor),
               base_floor=base_floor, signal=signal, tokens=tokens_seen(df))
    frames["findings"] = H.summarise(t, seed)
    return t


def tokens_seen(df: pd.DataFrame) -> dict[int, int]:
    """step -> pre-training tokens of the checkpoint, where the table says (the `tokens` column)."""
    known = df.dropna(subset=["tokens"]).drop_duplicates("step")
    return {int(s): int(n) for s, n in zip(known["step"], known["tokens"])}


def notes(a: pd.DataFrame, f: dict, mrc: dict, info: dict, floor: float) -> dict:
    """The diagnostic lines shown beside each finding."""
    def cell_notes(c, ratios=True):
        return D.cell_notes(c, a, floor, ratios)

    def gain_notes(gain, cells):
        return D.zero_width_steps(gain) + D.slope_notes(info["steps"]) + cell_notes(cells)

    mrc_cells, fs = f["mrc_cells"], f["format_sensitivity"]
    fs_pairs = list(dict.fromkeys(zip(fs["eval"], fs["train"])))
    return {
        "mrc": {d: D.ci_notes(mrc_cells.loc[(mrc_cells["direction"] == d) & (mrc_cells["status"] == "ok"), "ratio"],
                              m["ci_low"], m["ci_high"]) + cell_notes(mrc_cells[mrc_cells["direction"] == d])
                for d, m in mrc.items()},
        "ft_gain": gain_notes(f["ft_gain"], f["ft_gain_cells"]),
        "ft_gain_auto": gain_notes(f["ft_gain_auto"], f["ft_gain_auto_cells"]),
        "pt_groups": D.knife_edge(f["pt_groups"]),
        "ood": cell_notes(f["ood_cells"]),
        "format_sensitivity": cell_notes(pd.concat([A.cells(a, fs_pairs, fmt) for fmt in info["formats"]]),
                                         ratios=False) if fs_pairs else [],
        "cross_task": cell_notes(f["cross_task_cells"], ratios=False),
        "signal": D.ceiling_notes(a) + D.few_points_notes(f["signal_correlations"].to_dict("records"), info["steps"]),
    }


def same_grouping(t: Tables) -> bool:
    """Whether the data's fine-tuning-gain groups hold the same cells as the report's groups (names aside; a cell
    counted twice, as the paper's SciQ, counts twice), so that their figures would be the same."""
    def grouping(cells):
        have = cells[~cells["status"].isin(A.ABSENT)]
        return sorted(tuple(sorted(zip(g["step"], g["eval"], g["train"]))) for _, g in have.groupby("group"))

    return grouping(t["ft_gain_cells"]) == grouping(t["ft_gain_auto_cells"])


def figure_pairs() -> dict[str, list[tuple[str, str]]]:
    """The (eval, train) pairs of each per-set figure."""
    cross = A.cross_task_pairs()
    return {
        "in_domain_sft": [(d, t) for d, t in A.in_domain_pairs() if t != INSTRUCTION_TUNING],
        "in_domain_tulu": [(d, t) for d, t in A.in_domain_pairs() if t == INSTRUCTION_TUNING],
        "ood_sets": list(A.ood_pairs()),
        "cross_task_cls": [(d, t) for d, t in cross if t in A.CLS_TRAIN],
        "cross_task_gen": [(d, t) for d, t in cross if t in A.GEN_TRAIN],
    }


def load_groups(path) -> dict:
    """A JSON file {"group name": [["eval", "train"], ...], ...} replacing the paper's Table 6 groups."""
    from amuro.study.results import BASE, TRAINS
    from amuro.tasks.registry import SETS

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
