"""Checkpoint discovery: branch names of the three families parsed into step and tokens, and the selection."""

import pytest

from amuro.study.checkpoints import list_revisions, parse_revision, select
from amuro.errors import AmuroError

from conftest import ROOT

REVISIONS = ROOT / "tests" / "fixtures" / "revisions"
OLMO, OLMO2, PYTHIA = "allenai/OLMo-1B-hf", "allenai/OLMo-2-0425-1B", "EleutherAI/pythia-1b"


def names(repo):
    return list_revisions(repo, REVISIONS / f"{repo.replace('/', '_')}.txt")


def test_names_of_the_three_families_parse():
    assert parse_revision("step342000-tokens1433B") == {"step": 342000, "tokens": 1433 * 10**9, "trajectory": ""}
    assert parse_revision("stage1-step1000000-tokens2098B") == {"step": 1000000, "tokens": 2098 * 10**9,
                                                                 "trajectory": ""}
    assert parse_revision("stage2-ingredient1-step2000-tokens5B")["trajectory"] == "stage2-ingredient1"
    assert parse_revision("step143000") == {"step": 143000, "tokens": None, "trajectory": ""}
    assert parse_revision("step100-tokens1M")["tokens"] == 10**6
    assert parse_revision("main") is None and parse_revision("v1.0") is None


def test_revisions_file_ignores_comments_and_blank_lines():
    got = names(OLMO)
    assert got[0] == "main" and "step342000-tokens1433B" in got and not any(n.startswith("#") for n in got)


def test_the_papers_checkpoints_by_step_plus_main():
    chosen = select(OLMO, names(OLMO), steps=[1000, 18000, 342000, 424000, 505000, 592000, 738000], final=True)
    assert [c.revision for c in chosen] == [
        "step1000-tokens4B", "step18000-tokens75B", "step342000-tokens1433B", "step424000-tokens1777B",
        "step505000-tokens2117B", "step592000-tokens2482B", "step738000-tokens3094B", "main"]
    assert (chosen[-1].step, chosen[-1].tokens) == (738020, 3094 * 10**9)  # main is the last checkpoint
    assert chosen[0].load_args() == {"pretrained": OLMO, "revision": "step1000-tokens4B"}


def test_uniform_includes_first_and_last_and_keeps_to_the_main_trajectory():
    olmo2 = select(OLMO2, names(OLMO2), uniform=3)
    assert [c.step for c in olmo2] == [10000, 1000000, 1907359]  # stage-2 annealing branches are not pre-training
    pythia = select(PYTHIA, names(PYTHIA), uniform=4)
    assert [c.step for c in pythia][0] == 0 and pythia[-1].revision == "step143000" and len(pythia) == 4
    assert len(select(PYTHIA, names(PYTHIA), uniform=100)) == 10  # no more than there are
    # `final` replaces the last step's branch by main (the same weights), unless that branch was named too
    assert [c.revision for c in select(PYTHIA, names(PYTHIA), uniform=2, final=True)] == ["step0", "main"]


def test_explicit_revisions_are_checked_against_the_repo():
    got = select(OLMO2, names(OLMO2), revisions=["stage2-ingredient1-step2000-tokens5B", "main"])
    assert [c.revision for c in got] == ["stage2-ingredient1-step2000-tokens5B", "main"]
    # a name formatted with the other rounding (allenai/OLMo-1B's, not the -hf repo's) is refused with the right one
    with pytest.raises(AmuroError, match=r"revision 'step342000-tokens1434B' is not a branch of allenai/OLMo-1B-hf "
                                         r"\(did you mean step342000-tokens1433B\?\)"):
        select(OLMO, names(OLMO), revisions=["step342000-tokens1434B"])
    with pytest.raises(AmuroError, match=r"no revision of allenai/OLMo-1B-hf is at step 342001 "
                                         r"\(nearest: step342000-tokens1433B\)"):
        select(OLMO, names(OLMO), steps=[342001])


def test_a_local_folder_lists_its_revisions(tmp_path):
    (tmp_path / "revisions.txt").write_text("step100-tokens1M\nstep200-tokens2M\n")
    chosen = select(str(tmp_path), list_revisions(str(tmp_path)), final=True)
    assert [c.revision for c in chosen] == ["step200-tokens2M"]
    assert chosen[0].load_args() == {"pretrained": str(tmp_path / "step200-tokens2M")}
    (tmp_path / "bare").mkdir()
    with pytest.raises(AmuroError, match="bare is a folder without revisions.txt"):
        list_revisions(str(tmp_path / "bare"))
    with pytest.raises(AmuroError, match="revisions file .*nope.txt does not exist"):
        list_revisions(OLMO, tmp_path / "nope.txt")


def test_an_unreachable_hub_is_a_one_line_error():
    with pytest.raises(AmuroError, match=r"cannot list the revisions of allenai/OLMo-1B-hf: it is no folder here \(.*\) "
                       r"and the Hub did not answer \(HF_HUB_OFFLINE is set\); name a revisions_file"):
        list_revisions(OLMO)


def test_smollm2_names_parse_and_tokens_come_from_the_spec():
    assert parse_revision("step-125000") == {"step": 125000, "tokens": None, "trajectory": ""}
    names = ["main", "step-125000", "step-250000", "step-375000"]
    assert [c.step for c in select("HuggingFaceTB/SmolLM2-1.7B-intermediate-checkpoints", names, uniform=2)] == [
        125000, 375000]
