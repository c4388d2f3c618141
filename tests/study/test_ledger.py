"""The differences ledger (amuro.study.ledger) equals the code: each profile's column is what `observe` reads off the
code paths a spec of that profile selects (lm-eval arguments, rendered rows, the training flags as amuro.train.sft
parses them), and docs/ledger.md is generated from it."""

import pytest

from amuro.study.knobs import OBSERVERS
from amuro.study.ledger import LEDGER, markdown, observe, run_lines
from amuro.study.profiles import PROFILES
from amuro.study.spec import parse_spec

from conftest import ROOT

SPEC = {"model": "m", "checkpoints": {"uniform": 2}, "train": ["mnli", "tulu"]}


def test_every_knob_has_one_entry_and_one_observer():
    knobs = [d.knob for d in LEDGER]
    assert len(knobs) == len(set(knobs)) and set(knobs) == set(OBSERVERS)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_each_profiles_column_is_what_its_code_paths_do(profile):
    observed = observe(parse_spec({**SPEC, "profile": profile}))
    declared = {d.knob: getattr(d, profile) for d in LEDGER}
    assert observed == declared


def test_the_paper_profile_differs_from_the_authors_only_where_the_ledger_says():
    observed = observe(parse_spec({**SPEC, "profile": "paper"}))
    differ = {d.knob for d in LEDGER if observed[d.knob] != d.authors}
    assert differ == {"batch", "tulu_fraction", "score", "datasets", "training"}  # none changes what is scored


def test_a_spec_override_shows_as_a_difference():
    spec = parse_spec({**SPEC, "profile": "paper", "evaluate": {"rte": "two_way", "dtype": "bfloat16"},
                       "training": {"max_grad_norm": 0.0}})
    observed = observe(spec)
    assert (observed["rte"], observed["dtype"], observed["clipping"]) == ("neutral or contradiction", "bfloat16",
                                                                           "none")
    lines = run_lines(observed)
    assert "  DIFFERS  RTE not_entailment: neutral or contradiction  [authors: neutral only]" in lines
    assert "  DIFFERS  gradient clipping: none  [authors: 1.0]" in lines
    assert "  same     QQP and STS-B rows: SetFit/qqp test, SetFit/stsb test (label -1 on every row)" in lines


def test_docs_ledger_is_generated_from_the_code():
    assert (ROOT / "docs" / "ledger.md").read_text() == markdown(), \
        "docs/ledger.md is stale: python -m amuro.study.ledger > docs/ledger.md"


def test_a_set_specific_training_flag_is_read_where_it_applies():
    observed = observe(parse_spec({**SPEC, "train": ["tulu"], "training": {"fraction": 0.1}}))  # Tulu only
    assert observed["tulu_fraction"] == "10% (seed 42)" and observed["clipping"] == "1.0"
