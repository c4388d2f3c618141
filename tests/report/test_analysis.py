"""Each quantity of amuro.report.analysis on small hand-made tables whose answers were computed by hand."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t

from amuro.report import analysis as A
from amuro.errors import AmuroError
from amuro.tasks.registry import SETS
from amuro.study.results import COLUMNS


def row(step, train, ev, value, fmt="default", shots=4, stderr=None):
    return {"model": "m", "revision": "", "step": step, "tokens": None, "train": train, "eval": ev, "format": fmt,
            "num_fewshot": shots, "metric": SETS[ev].metrics[0], "value": value, "stderr": stderr, "n": None}


def table(*rows):
    """Each row: (step, train, eval, value[, format[, num_fewshot[, stderr]]])."""
    return pd.DataFrame([row(*r) for r in rows], columns=COLUMNS)


def test_mrc_pairs_come_from_the_registry_and_are_the_papers():
    assert set(A.MRC_PAIRS["cls_to_gen"]) == {("xsum", "mnli"), ("socialiqa", "mnli"), ("xsum", "paws"),
                                               ("socialiqa", "paws")}
    assert set(A.MRC_PAIRS["gen_to_cls"]) == {("mnli", "xsum"), ("paws", "xsum"), ("mnli", "socialiqa"),
                                               ("paws", "socialiqa")}
    for pairs in A.PAPER_GROUPS.values():
        assert all(d in SETS for d, _ in pairs)
    assert A.LEARNED_IN_PT.count(("sciq_mc", "tulu")) == 2  # the authors' double count (docs/study.md §5)


# MRC, classification -> generation: 2 checkpoints x 4 pairs = 8 cells.
#   xsum BASE 0.10, 0.20; socialiqa BASE 0.05, 0.0 (zero: no ratio at step 2000)
#   mnli -> xsum 0.05 (-0.5), 0.05 (-0.75); mnli -> socialiqa 0.0 (-1.0), 0.01 (zero base)
#   paws -> xsum 0.12 (+0.2), missing;      paws -> socialiqa 0.05 (0.0), 0.02 (zero base)
MRC_TABLE = table(
    (1000, "base", "xsum", 0.10), (2000, "base", "xsum", 0.20),
    (1000, "base", "socialiqa", 0.05), (2000, "base", "socialiqa", 0.0),
    (1000, "mnli", "xsum", 0.05), (2000, "mnli", "xsum", 0.05),
    (1000, "mnli", "socialiqa", 0.0), (2000, "mnli", "socialiqa", 0.01),
    (1000, "paws", "xsum", 0.12),
    (1000, "paws", "socialiqa", 0.05), (2000, "paws", "socialiqa", 0.02),
    (1000, "mnli", "xsum", 0.9, "io"),  # another format: not part of the MRC
)


def test_mrc_by_hand_with_a_missing_cell_and_zero_base():
    m = A.mrc(MRC_TABLE, "cls_to_gen")
    ratios = [-0.5, -0.75, -1.0, 0.2, 0.0]
    assert m["n"] == 5 and m["n_missing"] == 1 and m["n_zero_base"] == 2
    assert m["mean"] == pytest.approx(-0.41)  # -2.05 / 5
    assert m["median"] == pytest.approx(-0.5)
    assert m["ratio_of_means"] == pytest.approx(-0.23 / 0.50)  # changes -.05 -.15 -.05 +.02 0; BASE .1 .2 .05 .1 .05
    # t = mean / (sd / sqrt(n)), sd^2 = sum of squared deviations (.0081 .1156 .3481 .3721 .1681) / 4 = 0.253
    t = -0.41 / math.sqrt(0.253 / 5)
    assert m["p_value"] == pytest.approx(2 * student_t.sf(abs(t), 4))
    # The bootstrap CI against the exact bootstrap distribution: all 5^5 equally likely resamples of the 5 ratios,
    # whose 2.5% and 97.5% percentiles (-0.8, -0.02) the 10,000 seeded resamples hit at this granularity.
    exact = [sum(c) / 5 for c in itertools.product(ratios, repeat=5)]
    assert np.percentile(exact, [2.5, 97.5]) == pytest.approx([-0.8, -0.02])
    assert (m["ci_low"], m["ci_high"]) == pytest.approx((-0.8, -0.02))


def test_mrc_with_no_cells_is_nan_and_counts_them():
    m = A.mrc(MRC_TABLE, "gen_to_cls")
    assert m["n"] == 0 and m["n_missing"] == 8 and math.isnan(m["mean"]) and math.isnan(m["p_value"])
    with pytest.raises(AmuroError, match="unknown MRC direction"):
        A.mrc(MRC_TABLE, "sideways")


def test_mrc_by_step():
    s = A.mrc_by_step(MRC_TABLE).set_index(["direction", "step"])
    assert s.loc[("cls_to_gen", 1000), "mrc"] == pytest.approx((-0.5 - 1.0 + 0.2 + 0.0) / 4)
    assert s.loc[("cls_to_gen", 2000), "mrc"] == pytest.approx(-0.75)
    assert s.loc[("cls_to_gen", 2000), "n_zero_base"] == 2 and s.loc[("cls_to_gen", 2000), "n_missing"] == 1


def test_cells_and_changes():
    c = A.cells(MRC_TABLE, [("xsum", "mnli"), ("xsum", "paws")])
    assert c["status"].tolist() == ["ok", "ok", "ok", "missing"]
    assert c["change"].iloc[:3].tolist() == pytest.approx([-0.05, 0.02, -0.15])
    ch = A.changes(MRC_TABLE)
    assert len(ch) == 7  # every fine-tuned row with a BASE row; the io row has none
    zero = ch[(ch["eval"] == "socialiqa") & (ch["step"] == 2000)]
    assert zero["ratio"].isna().all() and zero["change"].tolist() == pytest.approx([0.01, 0.02])


# Fine-tuning gain, one group, steps 1000, 738000 and 738020 (OLMo-1B's `main`, 750,000 in the slope):
#   mnli:  BASE .33 .34 .35, fine-tuned .53 .84 .80 -> change .20 .50 .45, ratio .20/.33 .50/.34 .45/.35
#   boolq: BASE .60 .00 .62, Tulu .66 .70 (missing) -> change .06 .70 -, ratio .10, (zero base), -
GAIN_TABLE = table(
    (1000, "base", "mnli", 0.33), (738000, "base", "mnli", 0.34), (738020, "base", "mnli", 0.35),
    (1000, "mnli", "mnli", 0.53), (738000, "mnli", "mnli", 0.84), (738020, "mnli", "mnli", 0.80),
    (1000, "base", "boolq", 0.60), (738000, "base", "boolq", 0.0), (738020, "base", "boolq", 0.62),
    (1000, "tulu", "boolq", 0.66), (738000, "tulu", "boolq", 0.70),
)


def test_ft_gain_by_hand():
    g = A.ft_gain(GAIN_TABLE, {"g": [("mnli", "mnli"), ("boolq", "tulu")]}).set_index("step")
    assert g.loc[1000, "avg_raw_change"] == pytest.approx(0.13)
    assert g.loc[1000, "avg_ratio"] == pytest.approx((0.20 / 0.33 + 0.10) / 2)
    assert g.loc[1000, "n_pairs"] == 2 and g.loc[1000, "slope_per_100k"] == 0.0
    # zero BASE: the raw change counts, the ratio does not
    assert g.loc[738000, "avg_raw_change"] == pytest.approx(0.60)
    assert g.loc[738000, "avg_ratio"] == pytest.approx(0.50 / 0.34)
    assert g.loc[738000, "n_pairs"] == 2 and g.loc[738000, "n_zero_base"] == 1
    assert g.loc[738000, "slope_per_100k"] == pytest.approx((0.60 - 0.13) / (738000 - 1000) * 1e5)
    # missing boolq: averaged over the one pair left; the final checkpoint counts as step 750,000 in the slope
    assert g.loc[738020, "avg_raw_change"] == pytest.approx(0.45) and g.loc[738020, "n_pairs"] == 1
    assert g.loc[738020, "n_missing"] == 1 and g.loc[738020, "avg_ratio"] == pytest.approx(0.45 / 0.35)
    assert g.loc[738020, "slope_per_100k"] == pytest.approx(-0.15 / 12000 * 1e5)  # -1.25


def test_ft_gain_paper_groups_count_sciq_twice():
    t = table((1000, "base", "sciq_mc", 0.5), (1000, "tulu", "sciq_mc", 0.6),
              (1000, "base", "hellaswag", 0.4), (1000, "tulu", "hellaswag", 0.4))
    g = A.ft_gain(t)
    pt = g[g["group"] == "learned in pre-training"].iloc[0]
    assert pt["n_pairs"] == 3 and pt["avg_raw_change"] == pytest.approx(0.2 / 3)
    assert pt["avg_ratio"] == pytest.approx((0.2 + 0.2 + 0.0) / 3) and pt["n_missing"] == 3
    assert (g["group"] == "learned in fine-tuning").sum() == 0  # no pair of that group is in the table


def test_pt_improvement_by_hand():
    t = table((1000, "base", "hellaswag", 0.25), (18000, "base", "hellaswag", 0.55),
              (342000, "base", "hellaswag", 0.65),  # gain .60-.25 = .35 = 47% of the headroom .75
              (1000, "base", "mnli", 0.34), (18000, "base", "mnli", 0.33), (342000, "base", "mnli", 0.36),
              (1000, "base", "boolq", 0.50, "default", 4, 0.05), (18000, "base", "boolq", 0.56, "default", 4, 0.05),
              (342000, "base", "boolq", 0.56, "default", 4, 0.05))  # 12% of the headroom, but < 2 stderr
    p = A.pt_improvement(t).set_index("eval")
    assert p.loc["hellaswag", "gain"] == pytest.approx(0.35)
    assert p.loc["hellaswag", "headroom_share"] == pytest.approx(0.35 / 0.75)
    assert p.loc["mnli", "gain"] == pytest.approx(0.005)
    assert p.loc["boolq", "gain_stderr"] == pytest.approx(math.sqrt(0.0025 + 2 * 0.0025 / 4))
    assert p["group"].to_dict() == {"mnli": A.FLAT, "hellaswag": A.IMPROVES, "boolq": A.FLAT}
    assert p.loc["hellaswag", "paper_group"] == "learned in pre-training"
    assert A.auto_groups(t) == {}  # no fine-tuned model in the table


def test_pt_improvement_needs_two_standard_errors():
    # gain .06 = 12% of the headroom .5; stderr .03 at every step: se = sqrt(.03^2 + 2 * .03^2 / 4) = .0367, so
    # the gain is over one standard error but under two: flat. With stderr .02 (se .0245) it is over two.
    def boolq(stderr):
        return table((1000, "base", "boolq", 0.50, "default", 4, stderr),
                     (18000, "base", "boolq", 0.56, "default", 4, stderr),
                     (342000, "base", "boolq", 0.56, "default", 4, stderr))

    noisy, clear = A.pt_improvement(boolq(0.03)).iloc[0], A.pt_improvement(boolq(0.02)).iloc[0]
    assert noisy["gain_stderr"] == pytest.approx(math.sqrt(0.0009 * 1.5)) and noisy["group"] == A.FLAT
    assert clear["gain_stderr"] == pytest.approx(math.sqrt(0.0004 * 1.5)) and clear["group"] == A.IMPROVES


def test_auto_groups_pair_in_domain_sets_with_their_training_set():
    t = pd.concat([table((1000, "base", "hellaswag", 0.25), (2000, "base", "hellaswag", 0.6),
                         (1000, "base", "boolq", 0.6), (2000, "base", "boolq", 0.6),
                         (1000, "base", "mnli", 0.33), (2000, "base", "mnli", 0.33)),
                   table((1000, "tulu", "hellaswag", 0.3), (1000, "tulu", "boolq", 0.7))])
    assert A.auto_groups(t) == {A.IMPROVES: (("hellaswag", "tulu"),), A.FLAT: (("boolq", "tulu"),)}


def test_ood_transfer_by_family_by_hand():
    t = table((1000, "base", "cnn", 0.10), (2000, "base", "cnn", 0.10),
              (1000, "xsum", "cnn", 0.09), (2000, "xsum", "cnn", 0.07),
              (1000, "base", "rte", 0.50), (2000, "base", "rte", 0.50), (1000, "mnli", "rte", 0.60))
    o = A.ood_transfer(t).set_index("family")
    assert o.loc["summarization", "mean_change"] == pytest.approx(-0.02)
    assert o.loc["summarization", "mean_ratio"] == pytest.approx(-0.2) and o.loc["summarization", "n"] == 2
    assert o.loc["nli", "mean_change"] == pytest.approx(0.10) and o.loc["nli", "mean_ratio"] == pytest.approx(0.2)
    assert o.loc["nli", "n"] == 1 and o.loc["nli", "n_missing"] == 3  # rte@2000, gpt3nli x 2
    assert o.loc["question_generation", "n"] == 0 and o.loc["question_generation", "n_missing"] == 4


def test_format_sensitivity_by_hand():
    t = table((1000, "base", "mnli", 0.33, "default"), (1000, "base", "mnli", 0.35, "io"),
              (1000, "base", "mnli", 0.40, "instruct"), (1000, "mnli", "mnli", 0.80, "default"),
              (1000, "mnli", "mnli", 0.50, "io"), (1000, "mnli", "mnli", 0.70, "instruct"),
              (1000, "base", "xsum", 0.1, "default"))  # one format only: not in the table
    f = A.format_sensitivity(t).set_index("model")
    assert f.loc["base", "spread"] == pytest.approx(0.07) and f.loc["fine-tuned", "spread"] == pytest.approx(0.30)
    assert f.loc["fine-tuned", "io"] == 0.5 and set(f["eval"]) == {"mnli"}
    s = A.format_spread_by_step(A.format_sensitivity(t)).set_index("model")
    assert s.loc["fine-tuned", "mean_spread"] == pytest.approx(0.30)


def test_format_sensitivity_counts_the_harness_format_of_the_instruction_tuning_sets():
    t = table((1000, "base", "arc_easy", 0.30, "default"), (1000, "base", "arc_easy", 0.45, "harness"),
              (1000, "tulu", "arc_easy", 0.40, "default"), (1000, "tulu", "arc_easy", 0.42, "harness"))
    f = A.format_sensitivity(t).set_index("model")
    assert f.loc["base", "harness"] == 0.45 and f.loc["base", "spread"] == pytest.approx(0.15)
    assert f.loc["fine-tuned", "n_formats"] == 2 and math.isnan(f.loc["fine-tuned", "io"])


def test_one_shot_count_per_set_and_the_runs_of_a_cell_averaged():
    t = table((1000, "base", "mnli", 0.30), (1000, "mnli", "mnli", 0.50),
              (1000, "mnli", "mnli", 0.60),  # a second fine-tuning seed: a run of the same cell, averaged
              (1000, "base", "mnli", 0.99, "default", 0), (1000, "mnli", "mnli", 0.10, "default", 0))
    t["seed"] = ["", "0", "1", "", "0"]
    a = A.analysed(t)
    assert a["num_fewshot"].tolist() == [4, 4] and a["value"].tolist() == pytest.approx([0.30, 0.55])
    info = A.input_summary(t)
    assert info["rows_ignored"] == 2 and info["seeds"] == ["0", "1"] and info["runs_per_cell"] == 2
    assert A.cells(t, [("mnli", "mnli")])["change"].tolist() == pytest.approx([0.25])
    assert A.cells(t, [("mnli", "mnli")], num_fewshot=0)["change"].tolist() == pytest.approx([-0.89])


def test_a_key_held_twice_within_one_model_is_an_error_that_names_it():
    t = table((1000, "base", "mnli", 0.30), (1000, "mnli", "mnli", 0.50), (1000, "mnli", "mnli", 0.60))
    with pytest.raises(AmuroError, match=r"model 'm': 2 rows share one key \(step 1000, train mnli, method full, "
                                         r"eval mnli, format default, num_fewshot 4, metric acc, seed -, "
                                         r"fewshot_seed -; revision ''\)"):
        A.analysed(t)
    two_models = pd.concat([table((1000, "base", "mnli", 0.3)), table((1000, "base", "mnli", 0.4)).assign(model="n")])
    with pytest.raises(AmuroError, match=r"the table holds 2 models \(m, n\); analyse one at a time, never pooled"):
        A.analysed(two_models)


def test_a_tie_of_shot_counts_goes_to_the_larger():
    t = table((1000, "base", "mnli", 0.30, "default", 0), (1000, "mnli", "mnli", 0.50, "default", 0),
              (1000, "base", "mnli", 0.40, "default", 4), (1000, "mnli", "mnli", 0.80, "default", 4))
    assert A.shots_by_set(t) == {"mnli": 4}
    assert A.cells(t, [("mnli", "mnli")])["change"].tolist() == pytest.approx([0.40])


def test_only_the_primary_metric_counts():
    t = table((1000, "base", "arc_easy", 0.5), (1000, "tulu", "arc_easy", 0.6))
    extra = t.assign(metric="acc_norm", value=[0.1, 0.9])
    c = A.cells(pd.concat([t, extra]), [("arc_easy", "tulu")])
    assert c["change"].tolist() == pytest.approx([0.1])


def test_summary_is_plain_json():
    import json

    from amuro.report.tables import build

    s = build(pd.concat([MRC_TABLE, GAIN_TABLE])).summary()
    text = json.dumps(s, allow_nan=False)  # NaN became null
    assert json.loads(text)["mrc"]["gen_to_cls"]["mean"] is None
    assert {"step", "group", "avg_raw_change", "avg_ratio", "n_pairs", "slope_per_100k"} <= set(s["ft_gain"][0])
