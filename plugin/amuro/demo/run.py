"""`amuro demo`: a whole Amuro & Char study on a tiny model, offline, on a laptop CPU, in minutes.

    amuro demo                      # writes demo/ : data, the pre-trained checkpoints, the sweep, the report
    amuro demo --resume             # after Ctrl-C: picks up where it stopped
    amuro demo --families 2 --seeds 2   # two tiny families, each cell fine-tuned twice: the replication table

Four stages, each the real thing at toy scale:
1. data: seeded synthetic sets in their real HF schemas (`amuro.demo.synthetic`): NLI (mnli, mnli_mm, rte, gpt3nli)
   and summarization (xsum, xlsum, cnn), learnable rules, written as an AMURO_DATA_DIR;
2. pre-training: a tiny OlmoForCausalLM from scratch on a generated corpus, its intermediate checkpoints published
   as OLMo does (`step<N>-tokens<T>K` folders + revisions.txt; `amuro.demo.pretrain`);
3. the sweep: `amuro sweep demo` (runs/demo.yaml) over those checkpoints: base evaluation, SFT on mnli and xsum through
   training/sft.py, evaluation of every model through lm-eval with the `amuro_*` tasks, in the three formats;
4. the report: `amuro report` on the sweep's results.csv.
The libraries' logs of every stage go to one file, `<out>/sweep/amuro.log` (the sweep's own: `amuro.console`), and
each training's output to `<out>/sweep/logs/<revision>/<train>.log`; the demo's last lines say where they are.

`--families N` pre-trains N tiny "families" instead of one, each its own model (its seed, half the width of the one
before) publishing its checkpoints under another family's branch names (`FAMILY_NAMINGS`: OLMo's, then Pythia's,
...), each swept on its own (sweep/<family>/, its rows carrying `family`); `--seeds K` fine-tunes every cell K times
(the spec's `seeds`). The report then gives each family its own report and says whether the findings replicate
across them (`amuro.report.replication`), with each finding's spread split into checkpoint and seed noise. These
runs use smaller defaults (`PRESETS['small']`): several families and seeds multiply the work.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from amuro.errors import AmuroError
from amuro.study.checkpoints import REVISIONS_FILE

FAMILY_NAMINGS = ("olmo", "pythia", "smollm2", "olmo2")  # the names of `--families`' tiny families' checkpoints


# Smaller sizes: `quick` (`amuro demo --quick`: every stage and file at a third of the work, for a first look) and
# `small` (several families or seeds, which multiply the work: about the plain demo's time per family and seed).
PRESETS = {"quick": dict(pretrain_steps=150, checkpoints=3, train_examples=300, eval_examples=30),
           "small": dict(pretrain_steps=200, checkpoints=3, train_examples=400, eval_examples=40)}


@dataclass(frozen=True)
class DemoConfig:
    """The demo's sizes; the tests run a smaller one."""

    pretrain_steps: int = 400
    checkpoints: int = 4
    corpus_documents: int = 3000
    train_examples: int = 1000
    eval_examples: int = 60
    hidden_size: int = 128
    seed: int = 0
    naming: str = "olmo"  # the family whose checkpoint names the tiny model publishes (amuro.demo.pretrain.NAMINGS)
    families: int = 1  # tiny families pre-trained and swept apart (FAMILY_NAMINGS)
    seeds: int = 1  # fine-tuning seeds per cell (1: no seed axis, as the plain demo)

    @classmethod
    def preset(cls, name: str | None, **sizes) -> "DemoConfig":
        """The demo's sizes under a preset of `PRESETS` (None: the defaults); `sizes` override them."""
        return cls(**{**PRESETS.get(name, {}), **sizes})

    def family_models(self) -> list[tuple[str, str, int, int]]:
        """(family, checkpoint naming, seed, hidden size) of each tiny family; one family: the plain demo's."""
        if self.families == 1:
            return [("", self.naming, self.seed, self.hidden_size)]
        names = FAMILY_NAMINGS[:self.families]
        return [(f"tiny-{n}", n, self.seed + k, max(32, self.hidden_size >> k)) for k, n in enumerate(names)]

    def checkpoint_steps(self) -> list[int]:
        """Roughly log-spaced, ending at the last step: early checkpoints are where a model changes most."""
        import numpy as np

        first = max(1, self.pretrain_steps // 20)
        return sorted({int(round(s)) for s in np.geomspace(first, self.pretrain_steps, self.checkpoints)})


def run_demo(out: str | Path = "demo", resume: bool = False, config: DemoConfig = DemoConfig()) -> dict:
    """Run (or resume) the demo in `out`; returns the report's summary."""
    from amuro.console import LOG_FILE, quiet
    from amuro.files import claim_folder
    from amuro.demo.pretrain import pretrain
    from amuro.report.build import write_report
    from amuro.demo.synthetic import pretraining_corpus, write_sets
    from amuro.study.sweep import Sweep

    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not resume:
        raise AmuroError(f"{out} already holds a demo; pass --resume to continue it, or choose another --out")
    claim_folder(out)  # a file, or a folder of somebody else's, is refused
    # Everything is local: no download is ever needed, and none is attempted.
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                      AMURO_DATA_DIR=str(out / "data"), TOKENIZERS_PARALLELISM="false")

    log = claim_folder(out / "sweep") / LOG_FILE  # one log for the demo: the sweep's (a family's has its own too)
    _stage(1, "synthetic data in the real HF schemas")
    write_sets(out / "data", config.train_examples, config.eval_examples, config.seed)

    families = config.family_models()
    _stage(2, f"pre-training {'a tiny OLMo' if len(families) == 1 else f'{len(families)} tiny families'} for "
              f"{config.pretrain_steps} steps, checkpoints at {config.checkpoint_steps()}")
    for family, naming, seed, hidden in families:
        model = out / "model" / family
        listed = (model / REVISIONS_FILE).read_text().split() if (model / REVISIONS_FILE).is_file() else []
        if family:
            print(f"  {family}: hidden size {hidden}, seed {seed}, checkpoints named as {naming}'s", flush=True)
        if len(listed) < len(config.checkpoint_steps()):  # revisions.txt grows per checkpoint: short = interrupted
            if (model / "trainer").is_dir():
                print("  resuming from the last training checkpoint", flush=True)
            with quiet(log):
                pretrain(model, pretraining_corpus(config.corpus_documents, config.seed),
                         steps=config.pretrain_steps, checkpoint_steps=config.checkpoint_steps(), hidden_size=hidden,
                         seed=seed, naming=naming)
        else:
            print("  done earlier: " + " ".join(listed))

    _stage(3, "the sweep: base evaluation, fine-tuning, evaluation of every model (amuro sweep demo)")
    results = [Sweep(replace(demo_spec(out / "model" / family, config), family=family or None),
                     out / "sweep" / family).run() for family, *_ in families]

    _stage(4, "the report (amuro report)")
    with quiet(log):
        report = write_report(results if len(results) > 1 else results[0], out / "report")
    summary = json.loads((out / "report" / "summary.json").read_text())
    if len(results) == 1:
        _headline(results[0], report, summary)
    else:
        _replication_headline(report, summary)
    trainings = results[0].parent / "logs" if len(results) == 1 else out.resolve() / "sweep" / "<family>" / "logs"
    print(f"logs: {log} (lm-eval, transformers, TRL)" + "".join(f"; {r.parent / LOG_FILE}" for r in results
                                                               if (r.parent / LOG_FILE).resolve() != log.resolve())
          + f"; each training's output in {trainings}/<revision>/<train>.log", flush=True)
    return summary


def demo_spec(model: Path, config: DemoConfig = DemoConfig()):
    """`runs/demo.yaml` over the pre-trained tiny model, at the demo's sizes."""
    from amuro.configs import find
    from amuro.study.spec import load_spec

    spec = load_spec(find("runs", "demo"))
    # tokens_per_step: the pre-training batch (8 blocks of 128 tokens), for namings that carry no tokens
    return replace(spec, model=str(model), checkpoints=replace(spec.checkpoints, uniform=config.checkpoints,
                                                               tokens_per_step=8 * 128),
                   training={**spec.training, "max_examples": config.train_examples},
                   evaluate=replace(spec.evaluate, limit=config.eval_examples),
                   seeds=tuple(range(config.seeds)) if config.seeds > 1 else ())


def _stage(k: int, what: str) -> None:
    print(f"\n[{k}/4] {what}", flush=True)


def _replication_headline(report: Path, summary: dict) -> None:
    """Each headline finding's verdict across the families, with each family's value and CI."""
    rep = summary["replication"]
    print(f"\nreport: {report}  (each family's own report: {report.parent}/<family>/report.md)")
    print(f"do the findings replicate across {', '.join(rep['models'])}? (95% CIs over cells and seeds)")
    for f in rep["findings"]:
        values = ", ".join(f"{m['model']} {m['value']:+.3f} [{m['ci_low']:+.3f}, {m['ci_high']:+.3f}]"
                           for m in f["models"] if m["value"] is not None)
        print(f"  {f['finding']}: {f['verdict']}  ({values})")


def _headline(results: Path, report: Path, summary: dict) -> None:
    """The few numbers that tell the story, all at the last checkpoint, each with what it is and what it rests on;
    then the report's warnings."""
    from amuro.report import diagnostics as D
    from amuro.report.analysis import MRC_PAIRS, analysed, cells, present
    from amuro.study.results import BASE, read_results

    a = analysed(read_results(results))
    last = int(a["step"].max())
    found = D.rows(a)
    docs = summary["run_on"]["documents_per_task"]
    print(f"\nreport: {report}  (figures in {report.parent / 'figures'}, tables in {report.parent / 'tables'})")
    print(f"at the last checkpoint (step {last}), default format"
          + (f", {docs['min']} documents per task" if docs else "") + "; BASE -> fine-tuned:")
    for kind, pairs in (("in-domain (the set it was fine-tuned on)", (("mnli", "mnli"), ("xsum", "xsum"))),
                        ("out-of-domain (a related set)", (("rte", "mnli"), ("cnn", "xsum")))):
        print(f"  {kind}:")
        for d, t in pairs:
            c = present(cells(a, [(d, t)]))
            c = c[c["step"] == last]
            if len(c):
                const = [f"{who} predicts '{lab}' for every document"
                         for who, train in (("BASE", BASE), ("fine-tuned", t))
                         if (lab := D.constant_label(found.get((last, train, d, "default"))))]
                print(f"    {d:<5} {D.METRIC_NAMES[a.loc[a['eval'] == d, 'metric'].iloc[0]]:<8} "
                      f"{c['base'].iloc[0]:.3f} -> {c['finetuned'].iloc[0]:.3f}  fine-tuned on {t}"
                      + (f"  ({'; '.join(const)})" if const else ""))
    print(f"  cross-task, change ratio (fine-tuned - BASE) / BASE at step {last} (report: MRC over all checkpoints):")
    for direction, pairs in MRC_PAIRS.items():
        c = cells(a, pairs)
        c = present(c[c["step"] == last])
        if len(c):
            ok = c[c["status"] == "ok"]
            what = ", ".join(f"fine-tuned on {t}, scored on {d}"
                             for d, t in dict.fromkeys(zip(c["eval"], c["train"])))
            value = f"{ok['ratio'].mean():+.1%} over {len(ok)} cell(s)" if len(ok) else "no ratio (BASE 0)"
            notes = D.cell_notes(c, a)
            print(f"    {direction} ({what}): {value}" + "".join(f"\n      note: {n}" for n in notes))
    spread = {r["model"]: r for r in summary["format_spread"] if r["step"] == last}
    if spread:
        print(f"  spread between the three prompt formats at step {last} (max - min score, mean over "
              f"{max(r['n_sets'] for r in spread.values())} in-domain sets): "
              + ", ".join(f"{'BASE' if k == 'base' else k} {r['mean_spread']:.3f}" for k, r in spread.items()))
    for w in summary["run_on"]["warnings"]:
        print(f"warning: {w}")
