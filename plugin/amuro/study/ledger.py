"""The differences ledger: every known way each profile differs from the authors' release, as data.

One `Difference` per knob: what the authors did, what the `paper` and `corrected` profiles do, why, and the evidence
(file and line of their release, github.com/KaiserWhoLearns/AmuroCharPTFTRelationship at 8b79c39, or of catwalk
v1.0.0rc0, their scorer of the instruction-tuning sets). `observe(spec)` (amuro.study.knobs) reads each knob's value off the code paths a
run spec selects (the lm-eval arguments, the rendered rows, the training flags as `amuro.train.sft` parses them), so
`amuro sweep SPEC --dry-run` and the report show what a run really does, overrides included; a test checks that
`observe` of each profile equals the ledger's column. docs/ledger.md is generated from `LEDGER`
(`python -m amuro.study.ledger > docs/ledger.md`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Difference:
    knob: str
    what: str
    authors: str
    paper: str
    corrected: str
    why: str
    evidence: str


LENIENT = "lenient: any sub-token of a label or ' '+label"
FIRST_K = "the first k rows of the scored split, scored too"
WHOLE = "whole prompt, past the trained positions"
CATWALK_DRAW = "catwalk's: Random(document index) over train, the document dropped"
CATWALK_PROMPTS = "catwalk's: SciQ stripped whole; context.strip() + ' ' + answer.strip()"
CATWALK_METRICS = "acc_uncond: arc_easy, arc_challenge, openbookqa; acc_per_token: hellaswag; acc: boolq, sciq_mc"
AUTHORS_DTYPES = "BASE float32, SFT bfloat16, Tulu float32"
SETFIT = "SetFit/qqp test, SetFit/stsb test (label -1 on every row)"

LEDGER = (
    Difference("tokenprob", "TokenProb (classification)", LENIENT, LENIENT, "first sub-token",
               "the paper defines TokenProb as the label's first sub-token; the release scores every piece",
               "eval/predict_classification.py:241, eval/utils.py:108"),
    Difference("long_prompts", "prompts longer than the context", WHOLE, WHOLE, "cut from the left",
               "4-shot xsum/xlsum/cnn prompts average 3,000-5,400 tokens; the release never truncates "
               "(no truncation=True), so OLMo-1B ran past its 2,048 positions",
               "eval/utils.py:42"),
    Difference("sft_demonstrations", "demonstrations (SFT sets)", FIRST_K, FIRST_K,
               "one seeded draw from another split, shared",
               "scored rows must not be their own demonstrations; the paper says random",
               "eval/predict.py:149-157"),
    Difference("sft_join", "demonstration join (SFT sets)", "prompt + completion + '\\n'",
               "prompt + completion + '\\n'", "prompt + delimiter + completion + '\\n'",
               "the release's join glues the label to the prompt (io: '...year.contradiction')",
               "eval/predict.py:157"),
    Difference("generation_stop", "generation stop", "none (60 new tokens)", "none (60 new tokens)",
               "where a next demonstration begins",
               "a 4-shot model writes the next '### Input:' block into its summary",
               "eval/predict.py:191 (no stop_id_sequences)"),
    Difference("qqp_stsb", "QQP and STS-B rows", SETFIT, SETFIT, "GLUE validation (labelled)",
               "GLUE withholds its test labels: every gold answer is 'no' in the SetFit test splits",
               "open_instruct/format_generalization.py:713, :724, :760, :770"),
    Difference("rte", "RTE not_entailment", "neutral only", "neutral only", "neutral or contradiction",
               "the release writes not_entailment as 'neutral', so 'contradiction' counts wrong",
               "open_instruct/format_generalization.py:528"),
    Difference("harness_demonstrations", "demonstrations (instruction-tuning sets)", CATWALK_DRAW, CATWALK_DRAW,
               "one seeded draw from train, shared",
               "catwalk seeds its draw with the document's index (no --fewshot-seed in their runs)",
               "catwalk/models/language_model.py (predict_chunk_rank_classification), catwalk/task.py "
               "(get_fewshot_instances); scripts/exp_scripts/evaluate_it_model.sh:11, :25"),
    Difference("harness_prompts", "prompts (instruction-tuning sets)", CATWALK_PROMPTS, CATWALK_PROMPTS,
               "lm-eval 0.4's tasks and join",
               "catwalk bundles its own copy of the EleutherAI harness prompts",
               "catwalk/tasks/eleuther.py (instance_as_rank_classification), "
               "catwalk/dependencies/lm_eval/tasks/sciq.py (doc_to_text)"),
    Difference("harness_metric", "metric (instruction-tuning sets)", CATWALK_METRICS, CATWALK_METRICS,
               "acc: all six",
               "their table reads catwalk's primary metric (rc_metrics.acc), not raw accuracy",
               "analysis/produce_tables.py:124, environment_eval.yml:29; catwalk/tasks/tasks_lm.py"),
    Difference("dtype", "evaluation dtype", AUTHORS_DTYPES, AUTHORS_DTYPES, "bfloat16",
               "torch_dtype='auto' loads fp32 BASE checkpoints and bf16 DeepSpeed saves; catwalk loads fp32",
               "eval/utils.py:229, :327"),
    Difference("loss", "loss averaging", "per example, averaged over the step", "per example, averaged over the step",
               "per token (TRL)", "batch 1 x 8 accumulation steps averages each example's mean token loss",
               "scripts/exp_scripts/fine_tune_olmo.sh:42-43, open_instruct/finetune.py:266"),
    Difference("clipping", "gradient clipping", "1.0", "1.0", "1.0",
               "finetune.py's own clipping is off, but accelerate fills DeepSpeed's 'auto' clipping with 1.0",
               "open_instruct/finetune.py:810; scripts/exp_scripts/fine_tune_olmo.sh:36 (--use_deepspeed)"),
    Difference("rotary", "rotary frequencies in training", "rounded to bf16", "rounded to bf16", "exact (fp32)",
               "DeepSpeed 0.14.2's bf16 engine casts every buffer, inv_freq included; the saved model recomputes it",
               "environment_eval.yml (deepspeed 0.14.2); scripts/exp_scripts/fine_tune_olmo.sh:33"),
    Difference("batch", "training batch", "1 example x 8 accumulation steps", "8 examples per step, padding-free",
               "8 examples per step, padding-free", "the same examples per step, one forward instead of eight",
               "scripts/exp_scripts/fine_tune_olmo.sh:42-43"),
    Difference("tulu_fraction", "Tulu v2 subsample", "5% (seed 42) in the main block; 10% by default",
               "5% (seed 42)", "5% (seed 42)", "the fraction they trained on is not recorded",
               "open_instruct/format_generalization.py:805, :934"),
    Difference("score", "reported score", "midpoint of an unseeded bootstrap CI", "plain mean; seeded CIs",
               "plain mean; seeded CIs", "the midpoint is not the mean, and an unseeded bootstrap is not repeatable",
               "eval/eval_pred.py:35, :53"),
    Difference("table6", "Table 6 groups", "SciQ counted twice; main at step 750,000",
               "SciQ counted twice; main at step 750,000", "SciQ counted twice; main at step 750,000",
               "kept so the paper's numbers come out; `amuro report --groups` counts it once",
               "analysis/gen_paper_figs.ipynb (avg_change_table_by_checkpoint)"),
    Difference("datasets", "dataset ids", "legacy ids (EdinburghNLP/xsum's loading script, social_i_qa, ...)",
               "ids that load under datasets 5.x", "ids that load under datasets 5.x",
               "the legacy loading scripts no longer run; the rows are the same",
               "open_instruct/format_generalization.py"),
    Difference("training", "training code", "open-instruct finetune.py", "TRL SFTTrainer", "TRL SFTTrainer",
               "the same recipe in the ecosystem's trainer", "open_instruct/finetune.py"),
)


def observe(spec) -> dict[str, str]:
    """Every knob's value in a run spec, read off the code paths it selects (amuro.study.knobs)."""
    from amuro.study.knobs import OBSERVERS

    return {d.knob: OBSERVERS[d.knob](spec) for d in LEDGER}


def run_lines(observed: dict[str, str]) -> list[str]:
    """A run's knobs beside the authors', for `--dry-run` and the report."""
    rows = [(d, observed.get(d.knob, "?")) for d in LEDGER]
    n_differ = sum(v != d.authors for d, v in rows)
    lines = [f"knobs beside the authors' release: {len(rows) - n_differ} as theirs, {n_differ} differ "
             "(amuro.study.ledger, docs/ledger.md)"]
    for d, v in rows:
        lines.append(f"  same     {d.what}: {v}" if v == d.authors else
                     f"  DIFFERS  {d.what}: {v}  [authors: {d.authors}]")
    return lines


def markdown() -> str:
    """docs/ledger.md."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["# Differences from the authors' release", "",
             "Generated from `amuro.study.ledger` (`python -m amuro.study.ledger > docs/ledger.md`); a test keeps "
             "it equal to the code. Each row is one knob: what the authors' release did, what amuro's `paper` and "
             "`corrected` profiles do, why, and where the release does it (paths in "
             "github.com/KaiserWhoLearns/AmuroCharPTFTRelationship at 8b79c39, or in allenai/catwalk at "
             "v1.0.0rc0). `amuro sweep SPEC --dry-run` prints a spec's own values, overrides included.", "",
             "| knob | authors | paper | corrected | why | evidence |", "|---|---|---|---|---|---|"]
    lines += [f"| {cell(d.what)} | {cell(d.authors)} | {cell(d.paper)} | {cell(d.corrected)} | {cell(d.why)} | "
              f"{cell(d.evidence)} |" for d in LEDGER]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
