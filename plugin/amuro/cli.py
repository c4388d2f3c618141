"""The `amuro` command line.

    amuro tiny-model OUT [--style bpe|sentencepiece]   # a tiny OlmoForCausalLM + local tokenizer, offline
    amuro tasks                                        # the 19 task sets and their lm-eval task names
    amuro prompt mnli instruct [-n 2]                  # rendered prompts and targets (AMURO_DATA_DIR or the Hub)
    amuro report RESULTS.csv --out DIR                 # MRC, fine-tuning gain, transfer, formats, figures
    amuro sweep SPEC [--dry-run] [--gpu a100] [--model M] [--out DIR]  # checkpoints x training sets -> results.csv
    amuro configs [NAME]                               # shipped run specs and DeepSpeed/accelerate configs
    amuro demo [--out DIR] [--resume]                  # the whole study on a tiny model, offline, in minutes
"""

from __future__ import annotations

import argparse
import sys

from amuro.errors import AmuroError


def _tiny_model(args) -> None:
    from amuro.demo.tiny import build_tiny_checkpoints, build_tiny_model

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
    from amuro.tasks.data import load_split
    from amuro.tasks.registry import check_format, get_set
    from amuro.tasks.templates import render, target_delimiter

    ts, fmt = get_set(args.set), check_format(args.format, args.set)
    for row in load_split(ts.name, ts.eval_split)[: args.n]:
        ex = render(ts.name, fmt, row)
        print(f"--- prompt ---\n{ex.prompt}\n--- target (after {target_delimiter(ts.name, fmt)!r}) ---\n{ex.target}")
        if ex.choices:
            print(f"--- choices --- {list(ex.choices)}  gold {list(ex.gold)}")


def _report(args) -> None:
    from amuro.report.build import write_report
    from amuro.report.tables import load_groups

    groups = load_groups(args.groups) if args.groups else None
    path = write_report(args.results, args.out, groups=groups, num_fewshot=args.num_fewshot, seed=args.seed)
    print(f"report written to {path}")


def _sweep(args) -> None:
    from dataclasses import replace

    from amuro.study.spec import load_spec
    from amuro.study.sweep import Sweep

    from amuro.configs import run_spec

    spec = load_spec(run_spec(args.spec))
    if args.model:
        spec = replace(spec, model=args.model)
    if args.keep_weights is not None:
        spec = replace(spec, keep_weights=args.keep_weights)
    Sweep(spec, args.out).run(dry_run=args.dry_run, gpu=args.gpu)


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

    config = DemoConfig(pretrain_steps=args.pretrain_steps, checkpoints=args.checkpoints,
                        train_examples=args.train_examples, eval_examples=args.eval_examples)
    run_demo(args.out, resume=args.resume, config=config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amuro", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("tiny-model", help="build a tiny OlmoForCausalLM and tokenizer, offline")
    p.add_argument("out")
    p.add_argument("--style", choices=("bpe", "sentencepiece"), default="bpe")
    p.add_argument("--vocab-size", type=int, default=400)
    p.add_argument("--hidden-size", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoints", type=int, default=0,
                   help="write N revisions (step<k>-tokens<m>M sub-folders + revisions.txt), as `amuro sweep` reads")
    p.set_defaults(func=_tiny_model)
    p = sub.add_parser("tasks", help="list the task sets and their lm-eval task names")
    p.set_defaults(func=_tasks)
    p = sub.add_parser("prompt", help="print rendered prompts of a set in a format")
    p.add_argument("set")
    p.add_argument("format")
    p.add_argument("-n", type=int, default=2)
    p.set_defaults(func=_prompt)
    p = sub.add_parser("report", help="analyse a results table: report.md, figures, tables, summary.json")
    p.add_argument("results", help="results CSV (the amuro.study.results schema)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--num-fewshot", type=int, default=None,
                   help="analyse this shot count (default: per set, the count most of its rows use)")
    p.add_argument("--groups", help='JSON {"group": [["eval", "train"], ...]} replacing the paper\'s Table 6 groups')
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.set_defaults(func=_report)
    p = sub.add_parser("sweep", help="fine-tune and evaluate checkpoints as a run spec says; resumable")
    p.add_argument("spec", help="run spec YAML, or the name of a shipped one (tiny, demo, olmo1b_paper)")
    p.add_argument("--dry-run", action="store_true", help="print the plan, what is already done and its compute plan")
    p.add_argument("--gpu", choices=("a100", "h100", "h200", "l40s"), default="a100",
                   help="throughput profile of the compute plan's GPU-hours (amuro/study/cost.py)")
    p.add_argument("--model", help="evaluate this repo id or folder instead of the spec's model")
    p.add_argument("--out", help="output folder (default: runs/<name>/ beside the spec)")
    p.add_argument("--keep-weights", action=argparse.BooleanOptionalAction, default=None,
                   help="keep fine-tuned weights after evaluation (default: the spec's keep_weights)")
    p.set_defaults(func=_sweep)
    p = sub.add_parser("configs", help="list the shipped run specs and DeepSpeed/accelerate configs, or print one's path")
    p.add_argument("name", nargs="?", help="a config name (zero2, accelerate_1gpu, olmo1b_paper, ...)")
    p.set_defaults(func=_configs)
    p = sub.add_parser("demo", help="pre-train a tiny OLMo, sweep it, report: the whole study offline, in minutes")
    p.add_argument("--out", default="demo", help="output folder (default: demo)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted demo in --out")
    p.add_argument("--pretrain-steps", type=int, default=400)
    p.add_argument("--checkpoints", type=int, default=4, help="pre-training checkpoints to fine-tune and evaluate")
    p.add_argument("--train-examples", type=int, default=1000, help="fine-tuning examples per training set")
    p.add_argument("--eval-examples", type=int, default=60, help="documents per evaluation task")
    p.set_defaults(func=_demo)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except AmuroError as e:
        print(f"amuro: error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
