"""The prompt formats of every set: `render(set, format, row) -> Example`.

`default` is the authors' `### Input: ...` training format, `instruct` their natural-language instruction and `io`
the raw input. The six instruction-tuning sets also have `harness` (`HARNESS_TEMPLATES`): lm-eval's built-in
prompts, which OLMo-Eval/catwalk used for the paper's numbers on them. Strings marked [authors] are copied character for character from docs/study.md §2 (note the
space after every `\\n`, the missing spaces before `Answer C:`/`Answer D:` and the curly apostrophe in `Let’s`);
the others are ours, written in the same spirit: io for every set, and all three formats for the instruction-tuning
evaluation sets.

Both the lm-eval tasks (through `amuro.eval.hooks`) and `training/sft.py` render prompts here, so a model is always
trained and scored on the same text. A prompt is followed by its target with `target_delimiter()` between them:
nothing when the prompt ends in a space, one space otherwise (the authors' training-time rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from amuro.errors import AmuroError
from amuro.tasks.options import TaskOptions
from amuro.tasks.registry import HARNESS, NLI_LABELS, STSB_THRESHOLD, YES_NO, check_format

# Template families: sets that share a template differ only in which columns fill {text1}, {input}, ...
TEMPLATES: dict[str, dict[str, str]] = {
    "summarization": {
        "default": "### Input: {input}\n ### Summary: ",  # [authors]
        "instruct": "Please read the following text: {input} Provide a summary: ",  # [authors]
        "io": "{input}",  # [authors]
    },
    "socialiqa": {
        "default": "### Input: {context}\n ### Answer: Answer A: {answerA} Answer B: {answerB}Answer C: {answerC}\n"
                   " ### Question: ",  # [authors]
        "instruct": "Given the context: {context} And the answer: Answer A: {answerA} Answer B: {answerB}Answer C: "
                    "{answerC}Generate a suitable question: ",  # [authors]
        "io": "{context}{answerA}{answerB}{answerC}",  # [authors]
    },
    "sciq_qg": {
        "default": "### Input: {support}\n ### Answer: Answer A: {correct_answer} Answer B: {distractor1} Answer C: "
                   "{distractor2}Answer D: {distractor3}\n ### Question: ",  # [authors]
        "instruct": "Given the context: {support} And the answer: Answer A: {correct_answer} Answer B: {distractor1}"
                    "Answer C: {distractor2}Answer D: {distractor3}Generate a suitable question: ",  # [authors]
        "io": "{support} {correct_answer} {distractor1} {distractor2} {distractor3}",
    },
    "tweetqa": {
        "default": "### Input: {tweet}\n ### Answer: {answer}\n ### Question: ",  # [authors]
        "instruct": "Given the context: {tweet} And the answer: {answer}Generate a suitable question: ",  # [authors]
        "io": "{tweet} {answer}",
    },
    "nli": {
        "default": "### Input_1: {text1}\n ### Input_2: {text2}\n ### Inference: ",  # [authors]
        "instruct": "Consider the following texts: Text 1: {text1} Text 2: {text2} The relation is ",  # [authors]
        "io": "{text1} {text2}",  # [authors] (mnli)
    },
    "paraphrase": {
        "default": "### Input_1: {text1}\n ### Input_2: {text2}\n ### Paraphrase Classification: ",  # [authors]
        "instruct": "Let\u2019s compare the two sentences: Sentence_1: {text1} Sentence_2: {text2} "
                    "Are they paraphrasing?: ",  # [authors]
        "io": "{text1} {text2}",  # [authors] (paws)
    },
    "boolq": {
        "default": "### Input: {passage}\n ### Question: {question}?\n ### Answer: ",
        "instruct": "Read the passage and answer the question with yes or no. Passage: {passage} "
                    "Question: {question}? The answer is ",
        "io": "{passage} {question}?",
    },
    "question": {  # ARC, OpenBookQA
        "default": "### Input: {question}\n ### Answer: ",
        "instruct": "Answer the following question: {question} The answer is ",
        "io": "{question}",
    },
    "sciq_mc": {
        "default": "### Input: {support}\n ### Question: {question}\n ### Answer: ",
        "instruct": "Given the context: {support} Answer the following question: {question} The answer is ",
        "io": "{support} {question}",
    },
    "hellaswag": {
        "default": "### Input: {context}\n ### Continuation: ",
        "instruct": "Choose the most plausible continuation of the following text: {context} Continuation: ",
        "io": "{context}",
    },
}


# [harness] The EleutherAI harness prompts, as lm-eval 0.4's built-in tasks `arc_easy`, `arc_challenge`,
# `openbookqa`, `hellaswag` (query of the cleaned `{activity}: {ctx_a} {Ctx_b}`), `boolq` and `sciq` write them;
# each answer option follows after one space. tests/eval/test_harness.py compares them with lm-eval's own tasks.
HARNESS_TEMPLATES: dict[str, str] = {
    "arc_easy": "Question: {question}\nAnswer:",
    "arc_challenge": "Question: {question}\nAnswer:",
    "openbookqa": "{question}",
    "hellaswag": "{context}",
    "boolq": "{passage}\nQuestion: {question}?\nAnswer:",
    "sciq_mc": "{support}\nQuestion: {question}\nAnswer:",
}


@dataclass(frozen=True)
class Example:
    """One rendered row. `target` is what a model should produce after `prompt` (the training completion);
    for classification and multiple choice it is `choices[label]`, and `gold` lists every index scored correct."""

    prompt: str
    target: str
    choices: tuple[str, ...] | None = None
    label: int | None = None
    gold: tuple[int, ...] | None = None


def _classify(words: tuple[str, ...], label: int, gold: tuple[int, ...] | None = None) -> tuple:
    return words[label], words, label, gold or (label,)


def _nli(row: dict, a: str, b: str) -> tuple[dict, tuple]:
    return {"text1": row[a], "text2": row[b]}, _classify(NLI_LABELS, row["label"])


# RTE's not_entailment (GLUE label 1), by `amuro_rte`: the authors wrote it as "neutral", so only neutral is right
# for it; two-way, neutral and contradiction both are.
RTE_GOLD = {"neutral": (1,), "two_way": (1, 2)}


def _rte(row: dict, options: TaskOptions) -> tuple[dict, tuple]:
    label = row["label"]  # GLUE RTE: 0 entailment, 1 not_entailment
    return {"text1": row["sentence1"], "text2": row["sentence2"]}, _classify(
        NLI_LABELS, label, (0,) if label == 0 else RTE_GOLD[options.rte])


def _paraphrase(row: dict, a: str, b: str) -> tuple[dict, tuple]:
    # The authors' rule: yes for label 1, no otherwise (their SetFit QQP test rows, all -1, are all "no").
    return {"text1": row[a], "text2": row[b]}, _classify(YES_NO, 0 if row["label"] == 1 else 1)


def _stsb(row: dict) -> tuple[dict, tuple]:
    return {"text1": row["sentence1"], "text2": row["sentence2"]}, _classify(
        YES_NO, 0 if row["label"] > STSB_THRESHOLD else 1)


def _boolq(row: dict) -> tuple[dict, tuple]:
    return {"passage": row["passage"], "question": row["question"]}, _classify(YES_NO, 0 if row["answer"] else 1)


def _boolq_harness(row: dict) -> tuple[dict, tuple]:
    # lm-eval's boolq: options ["no", "yes"] in that order, gold = the answer as 0/1.
    fields, _ = _boolq(row)
    return fields, _options(["no", "yes"], int(row["answer"]))



def _options(options: list[str], label: int) -> tuple:
    return options[label], tuple(options), label, (label,)


def _keyed_options(row: dict, question_key: str) -> tuple[dict, tuple]:
    choices = row["choices"]  # checked by amuro.tasks.data.check_row
    return {"question": row[question_key]}, _options(choices["text"], choices["label"].index(row["answerKey"].strip()))


def _hellaswag_preprocess(text: str) -> str:
    # lm-eval's hellaswag preprocessing, step for step: WikiHow rows carry "[title]", "[step]" ... markers.
    text = text.strip().replace(" [title]", ". ")
    return re.sub(r"\[.*?\]", "", text).replace("  ", " ")


def _hellaswag_clean(text: str) -> str:
    # Ours also strips the space a dropped leading marker leaves (`[substeps] Pour` -> ` Pour`).
    return _hellaswag_preprocess(text).strip()


def _hellaswag(row: dict, clean: Callable[[str], str] = _hellaswag_clean) -> tuple[dict, tuple]:
    label = row["label"]
    context = clean(f"{row['activity_label']}: {row['ctx_a']} {row['ctx_b'].capitalize()}")
    return {"context": context}, _options([clean(e) for e in row["endings"]], int(label))


def _sciq_mc(row: dict, strip=str.lstrip) -> tuple[dict, tuple]:
    options = [row["distractor1"], row["distractor2"], row["distractor3"], row["correct_answer"]]
    return {"support": strip(row["support"]), "question": row["question"]}, _options(options, 3)


def _generation(target_key: str, **fields: str) -> Callable[[dict], tuple[dict, tuple]]:
    def extract(row: dict) -> tuple[dict, tuple]:
        return {name: row[key] for name, key in fields.items()}, (row[target_key], None, None, None)
    return extract


def _socialiqa(row: dict) -> tuple[dict, tuple]:
    keys = ("context", "answerA", "answerB", "answerC")
    return {k: row[k] for k in keys}, (row["question"], None, None, None)


def _tweetqa(row: dict) -> tuple[dict, tuple]:
    answers = row["Answer"]
    # The authors put the first reference answer in the prompt.
    return {"tweet": row["Tweet"], "answer": answers[0] if answers else ""}, (row["Question"], None, None, None)


def _sciq_qg(row: dict) -> tuple[dict, tuple]:
    keys = ("support", "correct_answer", "distractor1", "distractor2", "distractor3")
    return {k: row[k] for k in keys}, (row["question"], None, None, None)


# set name -> (template family, row -> (template fields, (target, choices, label, gold))); `_rte` also reads the
# task options (its label rule).
_EXTRACT: dict[str, tuple[str, Callable[..., tuple[dict, tuple]]]] = {
    "xsum": ("summarization", _generation("summary", input="document")),
    "xlsum": ("summarization", _generation("summary", input="text")),
    "cnn": ("summarization", _generation("highlights", input="article")),
    "socialiqa": ("socialiqa", _socialiqa),
    "tweetqa": ("tweetqa", _tweetqa),
    "sciq_qg": ("sciq_qg", _sciq_qg),
    "mnli": ("nli", lambda r: _nli(r, "premise", "hypothesis")),
    "mnli_mm": ("nli", lambda r: _nli(r, "premise", "hypothesis")),
    "rte": ("nli", None),  # _rte: by the options' label rule
    "gpt3nli": ("nli", lambda r: _nli(r, "text_a", "text_b")),
    "paws": ("paraphrase", lambda r: _paraphrase(r, "sentence1", "sentence2")),
    "qqp": ("paraphrase", lambda r: _paraphrase(r, "question1", "question2")),
    "stsb": ("paraphrase", _stsb),
    "arc_easy": ("question", lambda r: _keyed_options(r, "question")),
    "arc_challenge": ("question", lambda r: _keyed_options(r, "question")),
    "openbookqa": ("question", lambda r: _keyed_options(r, "question_stem")),
    "hellaswag": ("hellaswag", _hellaswag),
    "boolq": ("boolq", _boolq),
    "sciq_mc": ("sciq_mc", _sciq_mc),
}


# Where the harness format reads a row differently from the set's other formats.
_HARNESS_EXTRACT: dict[str, Callable[[dict], tuple[dict, tuple]]] = {
    "boolq": _boolq_harness,
    "hellaswag": lambda r: _hellaswag(r, _hellaswag_preprocess),  # lm-eval keeps the marker's leftover space
}
# catwalk's copy of the harness prompts (`amuro_harness: catwalk`) differs from lm-eval 0.4's in one set: SciQ's
# prompt is stripped as a whole, so an empty support leaves no leading newline (catwalk/dependencies/lm_eval/tasks/
# sciq.py, `doc_to_text`); lm-eval strips the support's leading whitespace only.
_CATWALK_EXTRACT: dict[str, Callable[[dict], tuple[dict, tuple]]] = {
    "sciq_mc": lambda r: _sciq_mc(r, strip=lambda text: text),
}
_CATWALK_STRIP = {"sciq_mc"}


def template(set_name: str, fmt: str) -> str:
    """The raw template string of a set in a format, with `{field}` placeholders."""
    if check_format(fmt, set_name) == HARNESS:
        return HARNESS_TEMPLATES[set_name]
    return TEMPLATES[_EXTRACT[set_name][0]][fmt]


def render(set_name: str, fmt: str, row: dict, options: TaskOptions = TaskOptions()) -> Example:
    """Render one HF row, checked by `amuro.tasks.data.check_row` (every reader of rows goes through it), under the
    task options (`amuro.tasks.options`: RTE's label rule, the harness prompts' dialect)."""
    tmpl = template(set_name, fmt)
    catwalk = fmt == HARNESS and options.harness == "catwalk"
    extract = (_CATWALK_EXTRACT.get(set_name) if catwalk else None) or \
        (_HARNESS_EXTRACT.get(set_name) if fmt == HARNESS else None)
    if extract:
        fields, (target, choices, label, gold) = extract(row)
    elif set_name == "rte":
        fields, (target, choices, label, gold) = _rte(row, options)
    else:
        fields, (target, choices, label, gold) = _EXTRACT[set_name][1](row)
    prompt = tmpl.format(**fields)
    return Example(prompt.strip() if catwalk and set_name in _CATWALK_STRIP else prompt, target, choices, label, gold)


def render_rows(set_name: str, fmt: str, rows: list[dict], where, options: TaskOptions = TaskOptions()) -> list[Example]:
    """Render many rows; a row that cannot be rendered is a one-line error that says where it comes from
    (`where(i)`, see `amuro.tasks.data.locate`)."""
    out = []
    for i, row in enumerate(rows):
        try:
            out.append(render(set_name, fmt, row, options))
        except (AmuroError, KeyError, TypeError, ValueError) as e:
            raise AmuroError(f"{where(i)}: cannot render the row ({e})") from None
    return out


def target_delimiter(set_name: str, fmt: str) -> str:
    """What goes between a prompt and its target: nothing after a trailing space, one space otherwise."""
    return "" if template(set_name, fmt)[-1:].isspace() else " "


def stop_sequences(set_name: str, fmt: str) -> list[str]:
    """Where generation stops: where a next few-shot example would begin, i.e. the demonstration separator
    `\\n` followed by the template's fixed opening words; a bare `\\n` for io formats, which have none."""
    opening = template(set_name, fmt).split("{", 1)[0].rstrip()
    return ["\n" + opening]
