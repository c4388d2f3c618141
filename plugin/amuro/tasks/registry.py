"""The 19 task sets of the study: one source of truth for evaluation and training.

Each `TaskSet` says where its data lives on the Hugging Face Hub (ids that load under `datasets` 5.x, docs/study.md
§7), which split is scored, which split few-shot demonstrations come from, which split trains, the real HF columns
of a row, the label words, the task family, and its role for each training set. The prompt formats are in
`templates.py`; both read this module.

Where the authors read something else, the registry holds both and the task options choose
(`amuro.tasks.options`; the differences ledger, `amuro.study.ledger`, lists them all):
- qqp and stsb are scored on the labelled GLUE `validation` splits; `authors_eval` is the SetFit `test` split the
  authors scored (`amuro_splits: authors`), whose label is -1 on every row (GLUE withholds its test labels).
- stsb is binarised as `yes` when the 0-5 similarity score is > 3.5, the authors' threshold.
- the six instruction-tuning sets are read at `catwalk_metric` in the paper profile, the metric catwalk reported.
- gpt3nli has a single split, so its demonstrations come from it with the scored document excluded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from amuro.errors import AmuroError

FORMATS = ("default", "io", "instruct")  # the three formats every set has
# The EleutherAI harness prompts (lm-eval's built-in tasks) that OLMo-Eval/catwalk scored the instruction-tuning
# sets with in the paper (docs/study.md §3): a fourth format, only for the sets marked `harness`.
HARNESS = "harness"
ALL_FORMATS = (*FORMATS, HARNESS)

# How a set is scored. classification: TokenProb over label words (acc); multiple_choice: lm-eval's summed
# log-likelihood over the answer options (acc, acc_norm); generation: greedy decoding scored by Rouge-L.
CLASSIFICATION, MULTIPLE_CHOICE, GENERATION = "classification", "multiple_choice", "generation"

NLI_LABELS = ("entailment", "neutral", "contradiction")
# The authors' order: ties go to the first word, and their candidate list is ['yes', 'no'].
YES_NO = ("yes", "no")

TRAINING_SETS = ("xsum", "socialiqa", "mnli", "paws")
INSTRUCTION_TUNING = "tulu"

STSB_THRESHOLD = 3.5

# catwalk's ranked-classification scores (catwalk/metrics/accuracy.py at v1.0.0rc0), computed by the harness tasks
# beside lm-eval's acc and acc_norm (`acc` is catwalk's raw score: the summed log-probability).
CATWALK_METRICS = ("acc_per_token", "acc_per_char", "acc_uncond")


@dataclass(frozen=True)
class Between:
    """The allowed values of a numeric column: lo <= value <= hi."""

    lo: float
    hi: float

    def __contains__(self, value) -> bool:
        return self.lo <= value <= self.hi

    def __str__(self) -> str:
        return f"a number in [{self.lo:g}, {self.hi:g}]"


@dataclass(frozen=True)
class Source:
    """Another copy of a set's scored split (the one the authors read): its Hub id and split, its own columns, and
    how they are renamed into the set's schema. Offline it is `AMURO_DATA_DIR/<set>/<local>.jsonl`."""

    hf_path: str
    hf_name: str | None
    split: str
    local: str
    columns: dict[str, type | tuple[type, ...]]
    rename: dict[str, str]  # its column -> the set's column
    rows: int
    note: str = ""


@dataclass(frozen=True)
class TaskSet:
    name: str
    family: str  # summarization | question_generation | nli | paraphrase | reasoning
    kind: str  # CLASSIFICATION | MULTIPLE_CHOICE | GENERATION
    hf_path: str
    hf_name: str | None
    eval_split: str
    fewshot_split: str
    columns: dict[str, type | tuple[type, ...]]  # the real HF schema of a row
    used: tuple[str, ...]  # the columns a prompt, target or label reads; a row missing one is malformed
    values: dict[str, Any] = field(default_factory=dict)  # allowed values of a column (a tuple, or Between)
    hf_kwargs: dict[str, Any] = field(default_factory=dict)  # revision / data_dir for load_dataset
    train_split: str | None = None
    label_words: tuple[str, ...] | None = None  # classification only, in the authors' order
    in_domain_for: tuple[str, ...] = ()  # training sets this set measures in-domain
    ood_for: tuple[str, ...] = ()  # training sets this set measures out-of-domain
    harness: bool = False  # also has the HARNESS format (lm-eval's built-in prompt of this dataset)
    split_rows: dict[str, int] = field(default_factory=dict)  # rows per split read (dataset cards, DATASETS.md)
    authors_eval: Source | None = None  # the authors' copy of the scored split, where it differs
    catwalk_metric: str | None = None  # the metric catwalk reported for a harness set (the paper's number)
    note: str = ""

    @property
    def formats(self) -> tuple[str, ...]:
        """The prompt formats this set has: the three of every set, plus HARNESS where it exists."""
        return ALL_FORMATS if self.harness else FORMATS

    @property
    def metrics(self) -> tuple[str, ...]:
        return {CLASSIFICATION: ("acc",), MULTIPLE_CHOICE: ("acc", "acc_norm"), GENERATION: ("rougeL",)}[self.kind]

    def splits(self) -> tuple[str, ...]:
        """Every HF split this set reads, evaluation split first."""
        out = [self.eval_split]
        for s in (self.fewshot_split, self.train_split):
            if s and s not in out:
                out.append(s)
        return tuple(out)


_GLUE_PAIR = {"sentence1": str, "sentence2": str, "label": int, "idx": int}
_MNLI = {"premise": str, "hypothesis": str, "label": int, "idx": int}
_SCIQ = {"question": str, "distractor3": str, "distractor1": str, "distractor2": str, "correct_answer": str,
         "support": str}
_ARC = {"id": str, "question": str, "choices": dict, "answerKey": str}
_SETFIT = {"text1": str, "text2": str, "label": (int, float), "idx": int}  # SetFit's ports of GLUE pairs
_NLI_VALUES = {"label": (0, 1, 2)}
_BINARY = {"label": (0, 1)}

SETS: dict[str, TaskSet] = {s.name: s for s in [
    # --- summarization (Rouge-L) ---
    TaskSet("xsum", "summarization", GENERATION, "EdinburghNLP/xsum", None, "test", "validation",
            {"document": str, "summary": str, "id": str}, ("document", "summary"),
            hf_kwargs={"revision": "refs/convert/parquet"}, train_split="train", in_domain_for=("xsum",),
            note="main still ships a loading script; the parquet branch loads under datasets 5.x",
            split_rows={"test": 11_334, "validation": 11_332, "train": 204_045}),
    TaskSet("xlsum", "summarization", GENERATION, "csebuetnlp/xlsum", None, "test", "validation",
            {"id": str, "url": str, "title": str, "summary": str, "text": str}, ("text", "summary"),
            hf_kwargs={"revision": "refs/convert/parquet", "data_dir": "english"}, in_domain_for=("xsum",),
            split_rows={"test": 11_535, "validation": 11_535}),
    TaskSet("cnn", "summarization", GENERATION, "abisee/cnn_dailymail", "3.0.0", "test", "validation",
            {"article": str, "highlights": str, "id": str}, ("article", "highlights"), ood_for=("xsum",),
            split_rows={"test": 11_490, "validation": 13_368}),
    # --- question generation (Rouge-L) ---
    TaskSet("socialiqa", "question_generation", GENERATION, "lighteval/siqa", None, "validation", "train",
            {"context": str, "question": str, "answerA": str, "answerB": str, "answerC": str, "label": str},
            ("context", "question", "answerA", "answerB", "answerC"), train_split="train",
            in_domain_for=("socialiqa",),
            split_rows={"validation": 1_954, "train": 33_410}),
    TaskSet("tweetqa", "question_generation", GENERATION, "ucsbnlp/tweet_qa", None, "train", "validation",
            {"Question": str, "Answer": list, "Tweet": str, "qid": str}, ("Question", "Answer", "Tweet"),
            ood_for=("socialiqa",), note="the authors scored the train split (test has no answers)",
            split_rows={"train": 10_692, "validation": 1_086}),
    TaskSet("sciq_qg", "question_generation", GENERATION, "allenai/sciq", None, "test", "validation", _SCIQ,
            tuple(_SCIQ), ood_for=("socialiqa",),
            split_rows={"test": 1_000, "validation": 1_000}),
    # --- NLI (TokenProb accuracy) ---
    TaskSet("mnli", "nli", CLASSIFICATION, "nyu-mll/glue", "mnli", "validation_matched", "train", _MNLI,
            ("premise", "hypothesis", "label"), train_split="train", label_words=NLI_LABELS, values=_NLI_VALUES,
            in_domain_for=("mnli",),
            split_rows={"validation_matched": 9_815, "train": 392_702}),
    TaskSet("mnli_mm", "nli", CLASSIFICATION, "nyu-mll/glue", "mnli", "validation_mismatched", "train", _MNLI,
            ("premise", "hypothesis", "label"), label_words=NLI_LABELS, values=_NLI_VALUES, in_domain_for=("mnli",),
            split_rows={"validation_mismatched": 9_832, "train": 392_702}),
    TaskSet("rte", "nli", CLASSIFICATION, "nyu-mll/glue", "rte", "train", "validation", _GLUE_PAIR,
            ("sentence1", "sentence2", "label"), label_words=NLI_LABELS, values=_BINARY, ood_for=("mnli",),
            note="scored two-way: neutral or contradiction counts as not_entailment; the authors scored train",
            split_rows={"train": 2_490, "validation": 277}),
    TaskSet("gpt3nli", "nli", CLASSIFICATION, "pietrolesci/gpt3_nli", None, "train", "train",
            {"text_a": str, "text_b": str, "label": int, "guid": int}, ("text_a", "text_b", "label"),
            label_words=NLI_LABELS, values=_NLI_VALUES, ood_for=("mnli",),
            note="a single split: demonstrations come from it with the scored document excluded",
            split_rows={"train": 30_000}),
    # --- paraphrase (TokenProb accuracy) ---
    TaskSet("paws", "paraphrase", CLASSIFICATION, "google-research-datasets/paws", "labeled_final", "test",
            "validation", {"id": int, "sentence1": str, "sentence2": str, "label": int},
            ("sentence1", "sentence2", "label"), train_split="train", label_words=YES_NO, values=_BINARY,
            in_domain_for=("paws",),
            split_rows={"test": 8_000, "validation": 8_000, "train": 49_401}),
    TaskSet("qqp", "paraphrase", CLASSIFICATION, "nyu-mll/glue", "qqp", "validation", "train",
            {"question1": str, "question2": str, "label": int, "idx": int}, ("question1", "question2", "label"),
            label_words=YES_NO, values=_BINARY, ood_for=("paws",),
            authors_eval=Source("SetFit/qqp", None, "test", "setfit_test", _SETFIT, {"text1": "question1",
                                "text2": "question2"}, 390_965, "the label is -1 on every row (dataset card)"),
            note="labelled GLUE validation; the paper profile reads the authors' unlabelled SetFit test split",
            split_rows={"validation": 40_430, "train": 363_846}),
    TaskSet("stsb", "paraphrase", CLASSIFICATION, "nyu-mll/glue", "stsb", "validation", "train",
            {"sentence1": str, "sentence2": str, "label": (float, int), "idx": int},
            ("sentence1", "sentence2", "label"), label_words=YES_NO, values={"label": Between(0.0, 5.0)},
            ood_for=("paws",),
            authors_eval=Source("SetFit/stsb", None, "test", "setfit_test", _SETFIT, {"text1": "sentence1",
                                "text2": "sentence2"}, 1_379, "GLUE's test scores are withheld: -1 on every row"),
            note=f"labelled GLUE validation; yes when the 0-5 score is > {STSB_THRESHOLD}",
            split_rows={"validation": 1_500, "train": 5_749}),
    # --- the instruction-tuning evaluation sets ---
    TaskSet("arc_easy", "reasoning", MULTIPLE_CHOICE, "allenai/ai2_arc", "ARC-Easy", "validation", "train", _ARC,
            ("question", "choices", "answerKey"), in_domain_for=(INSTRUCTION_TUNING,), harness=True,
            catwalk_metric="acc_uncond",
            split_rows={"validation": 570, "train": 2_251}),
    TaskSet("arc_challenge", "reasoning", MULTIPLE_CHOICE, "allenai/ai2_arc", "ARC-Challenge", "validation", "train",
            _ARC, ("question", "choices", "answerKey"), in_domain_for=(INSTRUCTION_TUNING,), harness=True,
            catwalk_metric="acc_uncond",
            split_rows={"validation": 299, "train": 1_119}),
    TaskSet("openbookqa", "reasoning", MULTIPLE_CHOICE, "allenai/openbookqa", "main", "validation", "train",
            {"id": str, "question_stem": str, "choices": dict, "answerKey": str},
            ("question_stem", "choices", "answerKey"), in_domain_for=(INSTRUCTION_TUNING,), harness=True,
            catwalk_metric="acc_uncond",
            split_rows={"validation": 500, "train": 4_957}),
    TaskSet("hellaswag", "reasoning", MULTIPLE_CHOICE, "Rowan/hellaswag", None, "validation", "train",
            {"ind": int, "activity_label": str, "ctx_a": str, "ctx_b": str, "ctx": str, "endings": list,
             "source_id": str, "split": str, "split_type": str, "label": str},
            ("activity_label", "ctx_a", "ctx_b", "endings", "label"), values={"label": ("0", "1", "2", "3")},
            in_domain_for=(INSTRUCTION_TUNING,), harness=True, catwalk_metric="acc_per_token",
            split_rows={"validation": 10_042, "train": 39_905}),
    TaskSet("boolq", "reasoning", CLASSIFICATION, "google/boolq", None, "validation", "train",
            {"question": str, "answer": bool, "passage": str}, ("question", "answer", "passage"),
            label_words=YES_NO, in_domain_for=(INSTRUCTION_TUNING,), harness=True, catwalk_metric="acc",
            note="catwalk read super_glue's copy (label 0/1); google/boolq has the same rows (answer false/true)",
            split_rows={"validation": 3_270, "train": 9_427}),
    TaskSet("sciq_mc", "reasoning", MULTIPLE_CHOICE, "allenai/sciq", None, "validation", "train", _SCIQ,
            tuple(_SCIQ), in_domain_for=(INSTRUCTION_TUNING,), harness=True, catwalk_metric="acc",
            note="lm-eval's option order: the three distractors, then the correct answer",
            split_rows={"validation": 1_000, "train": 11_679}),
]}

FAMILIES = tuple(dict.fromkeys(s.family for s in SETS.values()))


def get_set(name: str) -> TaskSet:
    try:
        return SETS[name]
    except KeyError:
        raise AmuroError(f"unknown task set {name!r}; known sets: {', '.join(SETS)}") from None


def check_format(fmt: str, set_name: str | None = None) -> str:
    """`fmt` if it is a prompt format (of `set_name`, when given), else a one-line AmuroError."""
    if fmt not in ALL_FORMATS:
        raise AmuroError(f"unknown prompt format {fmt!r}; known formats: {', '.join(ALL_FORMATS)}")
    if set_name is not None and fmt not in get_set(set_name).formats:
        harness_sets = ", ".join(s.name for s in SETS.values() if s.harness)
        raise AmuroError(f"set {set_name!r} has no {fmt!r} format (its formats: {', '.join(get_set(set_name).formats)};"
                         f" {HARNESS} exists for {harness_sets})")
    return fmt


def task_kind(set_name: str, fmt: str) -> str:
    """How a task is scored: the set's kind, except that the harness format scores whole options (lm-eval's
    summed log-likelihood, as catwalk did) for every set, boolq included."""
    return MULTIPLE_CHOICE if fmt == HARNESS else get_set(set_name).kind


TASK_PREFIX = "amuro_"


def task_name(set_name: str, fmt: str | None = None) -> str:
    """The lm-eval name of one set in one format (`amuro_mnli_instruct`), or of a set's group (`amuro_mnli`)."""
    name = f"{TASK_PREFIX}{get_set(set_name).name}"
    return name if fmt is None else f"{name}_{check_format(fmt, set_name)}"


def all_task_names() -> list[str]:
    """Every task and set-group name, for "did you mean" hints."""
    return [task_name(s.name, f) for s in SETS.values() for f in s.formats] + [task_name(s) for s in SETS]


def parse_task_name(name: str) -> tuple[str, str]:
    """`amuro_mnli_mm_io` -> ("mnli_mm", "io")."""
    for fmt in ALL_FORMATS:
        suffix = f"_{fmt}"
        if name.startswith(TASK_PREFIX) and name.endswith(suffix):
            set_name = name[len(TASK_PREFIX):-len(suffix)]
            if set_name in SETS and fmt in SETS[set_name].formats:
                return set_name, fmt
    raise AmuroError(f"{name!r} is not an amuro task name (amuro_<set>_<format>)")
