"""Seeded synthetic data for `amuro demo`: a small made-up world of sentences, a pre-training corpus, and the
demo's task sets as JSONL in their real Hugging Face schemas (`AMURO_DATA_DIR/<set>/<split>.jsonl`).

The tasks are learnable, so that fine-tuning has something to find:
- NLI (mnli, mnli_mm, rte, gpt3nli): the hypothesis restates part of the premise (entailment), adds "not"
  (contradiction), or says what "might" happen (neutral); mnli_mm, rte and gpt3nli use other sentence shapes.
- Summarization (xsum, xlsum, cnn): the summary is the document's first sentence (cnn: its first two).
The pre-training corpus holds the same kind of sentences but never a task's format or label words in context, so a
base model knows the language and not the tasks.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from amuro.study.diagnostics import DATA_NOTE
from amuro.tasks.registry import get_set

NAMES = "Anna Ben Carla David Emma Frank Grace Henry Iris Jack Kate Leo Mia Noah Olga Paul".split()
NOUNS = "farmer teacher doctor child dog cat player student baker pilot singer driver nurse painter".split()
ADJECTIVES = "old young tall quiet happy busy small clever brave tired".split()
VERBS = "found bought sold painted cleaned carried opened closed watched visited".split()
OBJECTS = "box door car book house boat letter garden window table bridge lamp".split()
PLACES = "market school river station village harbour library park museum farm".split()
TIMES = "Monday morning, On Friday, Last week, Early today, After lunch, In the evening,".split(",")

# The label rule of the NLI sets, by label word (GLUE MNLI label ids: 0 entailment, 1 neutral, 2 contradiction).
NLI_IDS = {"entailment": 0, "neutral": 1, "contradiction": 2}


class World:
    """A seeded sentence generator."""

    def __init__(self, seed: int):
        self.rnd = random.Random(seed)

    def pick(self, words):
        return self.rnd.choice(words)

    def event(self) -> dict:
        return {"who": f"the {self.pick(ADJECTIVES)} {self.pick(NOUNS)}", "did": self.pick(VERBS),
                "what": f"the {self.pick(OBJECTS)}", "where": f"the {self.pick(PLACES)}",
                "name": self.pick(NAMES), "when": self.pick(TIMES).strip()}

    def sentence(self, e: dict | None = None) -> str:
        e = e or self.event()
        shape = self.rnd.randrange(3)
        if shape == 0:
            s = f"{e['who']} {e['did']} {e['what']} near {e['where']}."
        elif shape == 1:
            s = f"{e['when']} {e['name']} {e['did']} {e['what']} at {e['where']}."
        else:
            s = f"{e['name']} and {e['who']} {e['did']} {e['what']} together."
        return s[0].upper() + s[1:]

    def document(self, n_sentences: int) -> list[str]:
        return [self.sentence() for _ in range(n_sentences)]

    def nli_pair(self, label: str, mismatched: bool = False) -> tuple[str, str]:
        e = self.event()
        if mismatched:  # other sentence shapes, same rule
            premise = f"{e['name']} says that {e['who']} {e['did']} {e['what']} by {e['where']}."
        else:
            premise = f"{e['when']} {e['who']} {e['did']} {e['what']} near {e['where']}."
        subject = e["who"]
        hypothesis = {
            "entailment": f"{subject} {e['did']} {e['what']}.",
            "contradiction": f"{subject} did not touch {e['what']}.",
            "neutral": f"{subject} might visit {e['where']} again.",
        }[label]
        return premise[0].upper() + premise[1:], hypothesis[0].upper() + hypothesis[1:]


def pretraining_corpus(n_documents: int, seed: int = 0) -> list[str]:
    world = World(seed)
    return [" ".join(world.document(world.rnd.randint(2, 6))) for _ in range(n_documents)]


def _nli_rows(set_name: str, world: World, n: int) -> list[dict]:
    rows = []
    for i in range(n):
        label = list(NLI_IDS)[i % 3] if set_name != "rte" else ("entailment", "contradiction", "neutral")[i % 3]
        premise, hypothesis = world.nli_pair(label, mismatched=set_name in ("mnli_mm", "gpt3nli"))
        if set_name in ("mnli", "mnli_mm"):
            rows.append({"premise": premise, "hypothesis": hypothesis, "label": NLI_IDS[label], "idx": i})
        elif set_name == "rte":  # GLUE RTE: 0 entailment, 1 not_entailment
            rows.append({"sentence1": premise, "sentence2": hypothesis, "label": int(label != "entailment"),
                         "idx": i})
        else:  # gpt3nli
            rows.append({"text_a": premise, "text_b": hypothesis, "label": NLI_IDS[label], "guid": i})
    world.rnd.shuffle(rows)
    return rows


def _summary_rows(set_name: str, world: World, n: int) -> list[dict]:
    rows = []
    for i in range(n):
        sentences = world.document(world.rnd.randint(3, 5))
        if set_name == "xsum":
            rows.append({"document": " ".join(sentences), "summary": sentences[0], "id": str(i)})
        elif set_name == "xlsum":
            rows.append({"id": str(i), "url": f"https://example.org/{i}", "title": sentences[0][:-1],
                         "summary": sentences[0], "text": " ".join(sentences)})
        else:  # cnn: highlights are the first two sentences, one per line
            rows.append({"article": " ".join(sentences), "highlights": "\n".join(sentences[:2]), "id": str(i)})
    return rows


GENERATORS = {"mnli": _nli_rows, "mnli_mm": _nli_rows, "rte": _nli_rows, "gpt3nli": _nli_rows,
              "xsum": _summary_rows, "xlsum": _summary_rows, "cnn": _summary_rows}


def write_sets(root: str | Path, n_train: int, n_eval: int, seed: int = 0) -> Path:
    """Every split the demo's sets read, `n_train` rows for training splits, `n_eval` for the others."""
    from tqdm.auto import tqdm

    root = Path(root)
    for k, (set_name, make) in enumerate(tqdm(GENERATORS.items(), desc="synthetic sets", unit="set", disable=None)):
        ts = get_set(set_name)
        for j, split in enumerate(ts.splits()):
            rows = make(set_name, World(seed * 1000 + k * 10 + j), n_train if split == ts.train_split else n_eval)
            path = root / set_name / f"{split}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    # So that a sweep on this folder, and its report, say that the data is made up.
    (root / DATA_NOTE).write_text(json.dumps({"synthetic": True, "what": f"amuro demo's seeded synthetic sets, "
                                              f"seed {seed}"}) + "\n")
    return root
