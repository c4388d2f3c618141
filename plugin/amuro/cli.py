"""The `amuro` command line.

    amuro tiny-model OUT [--style bpe|sentencepiece]   # a tiny OlmoForCausalLM + local tokenizer, offline
    amuro tasks                                        # the 19 task sets and their lm-eval task names
    amuro prompt mnli instruct [-n 2]                  # rendered prompts and targets (AMURO_DATA_DIR or the Hub)
    amuro report RESULTS.csv [MORE.csv ...] --out DIR  # MRC, fine-tuning gain, transfer, formats, figures; per
                                                       #   model, and their replication across models
    amuro sweep SPEC [--dry-run [--gpu a100|--calibrate]] [--model M] [--out DIR]  # -> results.csv
    amuro sweep SPEC --watch [--interval S]            # ... and every checkpoint a running pre-training publishes
    amuro configs [NAME]                               # shipped run specs and DeepSpeed/accelerate configs
    amuro demo [--out DIR] [--resume]                  # the whole study on a tiny model, offline, in minutes
    amuro demo --families 2 --seeds 2                  # ... on two tiny families, two seeds: replication
"""

from __future__ import annotations

import argparse
import sys

from amuro.errors import AmuroError, os_error


def _tiny_model(args) -> None:
    from amuro.demo.tiny import build_tiny_checkpoints, build_tiny_model

    from amuro.files import claim_folder

    claim_folder(args.out, force=args.force)
    sizes = dict(style=args.style, vocab_size=args.vocab_size, hidden_size=args.hidden_size, num_layers=args.layers)
    if args.checkpoints:
        out = build_tiny_checkpoints(args.out, args.checkpoints, **sizes)
        print(f"{args.checkpoints} tiny OlmoForCausalLM revisions ({args.style} tokenizer) written to {out}")
        return
    out = build_tiny_model(args.out, seed=args.seed, **sizes)
    print(f"tiny OlmoForCausalLM ({args.style} tokenizer) written to {out}")


def _tasks(_args) -> None:
    from amuro.tasks.registry import SETS, task_name

    print(f"{'set':<14} {'family':<20} {'scored by':<16} {'eval split':<22} {'demos from':<12} tasks")
    for s in SETS.values():
        metric = ",".join(s.metrics)
        print(f"{s.name:<14} {s.family:<20} {metric:<16} {s.eval_split:<22} {s.fewshot_split:<12} "
              f"{task_name(s.name)}_{{{','.join(s.formats)}}}")


def _prompt(args) -> None:
    from amuro.tasks.data import load_split, locate
    from amuro.tasks.registry import check_format, get_set
    from amuro.tasks.templates import render_rows, target_delimiter

    ts, fmt = get_set(args.set), check_format(args.format, args.set)
    rows = load_split(ts.name, ts.eval_split)[: args.n]
    for ex in render_rows(ts.name, fmt, rows, locate(ts.name, ts.eval_split)):
        print(f"--- prompt ---\n{ex.prompt}\n--- target (after {target_delimiter(ts.name, fmt)!r}) ---\n{ex.target}")
        if ex.choices:
            print(f"--- choices --- {list(ex.choices)}  gold {list(ex.gold)}")


def _report(args) -> None:
    from amuro.report.build import write_report
    from amuro.report.tables import load_groups

    groups = load_groups(args.groups) if args.groups else None
    path = write_report(args.results, args.out, groups=groups, num_fewshot=args.num_fewshot, seed=args.seed,
                        force=args.force, base_floor=args.base_floor, compare_with=args.compare,
                        labels=_labels(args))
    print(f"report written to {path}")


def _labels(args) -> tuple[str, str] | None:
    if args.labels is None:
        return None
    labels = tuple(x.strip() for x in args.labels.split(","))
    if not args.compare or len(labels) != 2 or not all(labels) or labels[0] == labels[1]:
        raise AmuroError(f"--labels takes two distinct names, A,B, for RESULTS and --compare OTHER.csv; got "
                         f"{args.labels!r}" + ("" if args.compare else " without --compare"))
    return labels


def _sweep(args) -> None:
    from dataclasses import replace
    from pathlib import Path

    from amuro.configs import run_spec
    from amuro.study.families import load_specs
    from amuro.study.sweep import Sweep

    if args.calibrate and not args.dry_run:
        raise AmuroError("--calibrate prices the plan of a dry run: add --dry-run")
    specs = load_specs(run_spec(args.spec))
    if len(specs) > 1 and (args.model or args.watch):
        raise AmuroError(f"{args.spec} names {len(specs)} families: --model and --watch take a spec of one model")
    if args.model:
        specs = [replace(specs[0], model=args.model)]
    if args.keep_weights is not None:
        specs = [replace(s, keep_weights=args.keep_weights) for s in specs]
    if args.watch:
        from amuro.study.watch import watch

        watch(specs[0], args.out, args.interval)
        return
    results = []
    for spec in specs:  # a spec of several families: a sweep per family, each in its own folder
        out = Path(args.out) / spec.family if args.out and len(specs) > 1 else args.out
        sweep = Sweep(spec, out, rerun=args.command_line)
        results.append(sweep.run(dry_run=args.dry_run, force=args.force, gpu=args.gpu,
                                  calibrate=args.calibrate))
    if len(specs) > 1:
        print(f"the families apart and whether the findings replicate: amuro report {' '.join(map(str, results))} "
              "--out REPORT", flush=True)


def _configs(args) -> None:
    from amuro.configs import KINDS, find, shipped

    if args.name:  # the path alone, for `--config_file "$(amuro configs accelerate_1gpu)"`
        for kind in KINDS:
            try:
                print(find(kind, args.name))
                return
            except AmuroError:
                continue
        raise AmuroError(f"no shipped config {args.name!r}; `amuro configs` lists them")
    for kind in KINDS:
        print(f"{kind}:")
        for name, path in shipped(kind).items():
            print(f"  {name:<22} {path}")


def _demo(args) -> None:
    from amuro.demo.run import DemoConfig, run_demo

    sizes = {k: v for k, v in (("pretrain_steps", args.pretrain_steps), ("checkpoints", args.checkpoints),
                               ("train_examples", args.train_examples), ("eval_examples", args.eval_examples))
             if v is not None}
    several = args.families > 1 or args.seeds > 1  # smaller defaults: several families and seeds multiply the work
    preset = "quick" if args.quick else "small" if several else None
    config = DemoConfig.preset(preset, naming=args.naming, families=args.families, seeds=args.seeds, **sizes)
    run_demo(args.out, resume=args.resume, config=config)


def build_parser() -> argparse.ArgumentParser:
    from amuro import __version__
    from amuro.configs import shipped
    from amuro.demo.pretrain import NAMINGS

    parser = argparse.ArgumentParser(prog="amuro", description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"amuro {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name, **kwargs):  # flags must be typed whole: `--pretrain-step` must not mean `--pretrain-steps`
        return sub.add_parser(name, allow_abbrev=False, **kwargs)
    p = add("tiny-model", help="build a tiny OlmoForCausalLM and tokenizer, offline")
    p.add_argument("out")
    p.add_argument("--style", choices=("bpe", "sentencepiece"), default="bpe")
    p.add_argument("--vocab-size", type=int, default=400)
    p.add_argument("--hidden-size", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoints", type=int, default=0,
                   help="write N revisions (step<k>-tokens<m>M sub-folders + revisions.txt), as `amuro sweep` reads")
    p.add_argument("--force", action="store_true", help="write into OUT even if it holds files amuro did not write")
    p.set_defaults(func=_tiny_model)
    p = add("tasks", help="list the task sets and their lm-eval task names")
    p.set_defaults(func=_tasks)
    p = add("prompt", help="print rendered prompts of a set in a format")
    p.add_argument("set")
    p.add_argument("format")
    p.add_argument("-n", type=int, default=2)
    p.set_defaults(func=_prompt)
    p = add("report", help="analyse a results table: report.md, figures, tables, summary.json")
    p.add_argument("results", nargs="+", help="results CSV(s) (the amuro.study.results schema); each model (or "
                   "family) in them is reported apart, and with several, the report says whether its findings "
                   "replicate")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--num-fewshot", type=int, default=None,
                   help="analyse this shot count (default: per set, the count most of its rows use)")
    p.add_argument("--groups", help='JSON {"group": [["eval", "train"], ...]} replacing the paper\'s Table 6 groups')
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--compare", metavar="OTHER.csv",
                   help="another results table (e.g. the other profile's): which findings survive there")
    p.add_argument("--labels", metavar="A,B", help="names of the two runs in a --compare (default: profile and "
                   "spec, told apart by their folders where they are alike)")
    p.add_argument("--force", action="store_true", help="write into --out even if it holds files amuro did not write")
    p.add_argument("--base-floor", type=float, default=None,
                   help="note every ratio that rests on a BASE score below this (default 0.1, "
                        "amuro.report.diagnostics.BASE_FLOOR): small BASE scores inflate ratios")
    p.set_defaults(func=_report)
    p = add("sweep", help="fine-tune and evaluate checkpoints as a run spec says; resumable")
    p.add_argument("spec", help=f"run spec YAML, or the name of a shipped one ({', '.join(shipped('runs'))})")
    p.add_argument("--dry-run", action="store_true", help="print the plan, what is already done and its compute plan")
    p.add_argument("--gpu", choices=("a100", "h100", "h200", "l40s"), default="a100",
                   help="assumed rates of the compute plan's GPU-hours (amuro.study.budget)")
    p.add_argument("--calibrate", action="store_true",
                   help="with --dry-run: price the plan from rates measured on this machine (under 2 minutes on a CPU)")
    p.add_argument("--model", help="evaluate this repo id or folder instead of the spec's model")
    p.add_argument("--out", help="output folder (default: runs/<name>/ beside the spec; a spec of several "
                   "families: one sub-folder each)")
    p.add_argument("--keep-weights", action=argparse.BooleanOptionalAction, default=None,
                   help="keep fine-tuned weights after evaluation (default: the spec's keep_weights)")
    p.add_argument("--force", action="store_true", help="write into --out even if it holds files amuro did not write")
    p.add_argument("--watch", action="store_true",
                   help="keep polling the model's revisions; run every new checkpoint and refresh the report")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between polls with --watch (default 60)")
    p.set_defaults(func=_sweep)
    p = add("configs", help="list the shipped run specs and DeepSpeed/accelerate configs, or print one's path")
    p.add_argument("name", nargs="?", help="a config name (zero2, accelerate_1gpu, olmo1b_paper, ...)")
    p.set_defaults(func=_configs)
    p = add("demo", help="pre-train a tiny OLMo, sweep it, report: the whole study offline, in minutes")
    p.add_argument("--out", default="demo", help="output folder (default: demo)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted demo in --out")
    from amuro.demo.run import PRESETS, DemoConfig

    quick, small = PRESETS["quick"], PRESETS["small"]
    p.add_argument("--quick", action="store_true", help=f"a third of the work ({quick['pretrain_steps']} pre-training "
                   f"steps, {quick['checkpoints']} checkpoints, {quick['train_examples']} fine-tuning examples, "
                   f"{quick['eval_examples']} documents per task): every stage and file, sooner")

    def default(key: str) -> str:  # the plain demo's default and the one with --families or --seeds
        return f"default {getattr(DemoConfig, key)}; {small[key]} with --families or --seeds"

    p.add_argument("--pretrain-steps", type=int, help=default("pretrain_steps"))
    p.add_argument("--checkpoints", type=int, help=f"pre-training checkpoints to fine-tune and evaluate "
                   f"({default('checkpoints')})")
    p.add_argument("--train-examples", type=int, help=f"fine-tuning examples per training set "
                   f"({default('train_examples')})")
    p.add_argument("--eval-examples", type=int, help=f"documents per evaluation task ({default('eval_examples')})")
    p.add_argument("--families", type=int, choices=range(1, 5), default=1, metavar="{1..4}",
                   help="tiny model families, each pre-trained and swept apart; with 2 or more the report says "
                        "whether the findings replicate across them")
    p.add_argument("--seeds", type=int, choices=range(1, 6), default=1, metavar="{1..5}",
                   help="fine-tuning seeds per cell: each finding's CI then covers seed noise, and the report "
                        "splits its spread into checkpoint and seed")
    p.add_argument("--naming", choices=tuple(NAMINGS), default="olmo",
                   help="publish the checkpoints under this family's branch names (default: olmo)")
    p.set_defaults(func=_demo)
    return parser


def _resume_hint(args) -> str:
    """What to type after Ctrl-C: the same command picks up where it stopped."""
    if args.command == "demo":
        return f"`amuro demo --out {args.out} --resume` continues"
    if args.command == "sweep":
        return f"`{args.command_line}` continues (finished jobs are kept)"
    return "nothing was left half-written"


def main(argv=None) -> int:
    import shlex

    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.command_line = shlex.join(["amuro", *argv])  # what continues an interrupted run
    try:
        args.func(args)
    except KeyboardInterrupt:
        print(f"\namuro: interrupted; {_resume_hint(args)}", file=sys.stderr)
        return 130
    except AmuroError as e:
        print(f"amuro: error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # a full disk, a read-only or forbidden folder: name the path, no traceback
        print(f"amuro: error: {os_error(e)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
