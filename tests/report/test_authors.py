"""The authors' released per-run scores (tests/fixtures/authors_results.csv, written by make_authors_table.py from
their release): amuro's report reproduces the paper's printed numbers from them, and says where the fine-tuning
gain of the paper's groups stops changing."""

from pathlib import Path

import pytest

from amuro.report import analysis as A
from amuro.report import signal as S
from amuro.study.results import read_results

AUTHORS = Path(__file__).parents[1] / "fixtures" / "authors_results.csv"


@pytest.fixture(scope="module")
def authors():
    return read_results(AUTHORS)


def test_the_papers_cross_task_mrc_and_table_6_come_out_of_the_authors_numbers(authors):
    mrc = {d: A.mrc(authors, d) for d in A.MRC_PAIRS}
    assert mrc["cls_to_gen"]["mean"] == pytest.approx(-0.61459, abs=5e-6) and mrc["cls_to_gen"]["n"] == 32
    assert mrc["gen_to_cls"]["mean"] == pytest.approx(0.00305, abs=5e-6) and mrc["gen_to_cls"]["n"] == 32
    gain = A.ft_gain(authors).set_index(["group", "step"])["avg_raw_change"]
    assert gain[("learned in pre-training", 1000)] == pytest.approx(0.0478, abs=5e-5)
    assert gain[("learned in pre-training", 342000)] == pytest.approx(0.0041, abs=5e-5)
    assert gain[("learned in fine-tuning", 505000)] == pytest.approx(0.3035, abs=5e-5)


def test_where_the_gain_of_the_learned_in_pre_training_sets_stops_changing(authors):
    """Their gain falls from 0.048 (steps 1k, 18k) to about 0.018 (342k to 738k) and to -0.005 at `main`, 20 steps
    after 738k: the falling fit levels off at 342k, but the drop at `main` leaves an average fall from 342k to
    `main` of 0.0057 per 100k steps, just above the 0.005 threshold, so no plateau is named; without `main` it is
    342,000. Their fine-tuned score plateaus at 342,000 either way."""
    groups = {"learned in pre-training": A.LEARNED_IN_PT}
    sig = S.build(authors, groups, n_resamples=500)["summary"]
    by = {r["quantity"]: r for r in sig["plateaus"] if r["level"] == "group"}
    assert by["gain"]["direction"] == -1 and by["gain"]["plateau_step"] is None
    assert by["finetuned"]["plateau_step"] == 342_000 and by["base"]["plateau_step"] == 342_000
    line = S.findings(sig)[0]
    assert "the fine-tuning gain (fine-tuned - BASE) shows no plateau yet: it still falls by" in line
    without_main = S.build(authors[authors["step"] != 738020], groups, n_resamples=500)["summary"]
    gain = next(r for r in without_main["plateaus"] if r["level"] == "group" and r["quantity"] == "gain")
    assert gain["plateau_step"] == 342_000
