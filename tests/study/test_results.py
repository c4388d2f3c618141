"""The results schema: reading and validating a results table, one-line errors naming the file and the problem."""

import pandas as pd
import pytest

from amuro.errors import AmuroError
from amuro.study.results import COLUMNS, read_results, validate

HEADER = ",".join(COLUMNS)
GOOD = "allenai/OLMo-1B-hf,main,738020,,base,mnli,default,4,acc,0.33,0.005,9815"


def write(tmp_path, *lines, name="results.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_columns_are_the_sweep_schema():
    assert COLUMNS == ("model", "revision", "step", "tokens", "train", "eval", "format", "num_fewshot", "metric",
                       "value", "stderr", "n")


def test_read_types_empty_optionals_and_extra_columns(tmp_path):
    path = write(tmp_path, HEADER + ",seed,note", GOOD + ",1.0,rerun",
                 "runs/sft/x,,1000,4194304000,mnli,xsum,io,4,rougeL,0.012,,,,")
    df = read_results(path)
    # older tables: no profile, method full, no family, no seed axis
    assert list(df.columns) == [*COLUMNS, "seed", "note", "profile", "method", "family", "fewshot_seed"]
    assert df["method"].tolist() == ["full", "full"] and df["profile"].tolist() == ["", ""]
    assert df["seed"].tolist() == ["1", ""] and df["fewshot_seed"].tolist() == ["", ""]
    assert df["note"].tolist() == ["rerun", ""]
    assert df["step"].tolist() == [738020, 1000] and df["num_fewshot"].tolist() == [4, 4]
    assert df["tokens"].isna().tolist() == [True, False] and df["tokens"].iloc[1] == 4194304000
    assert df["value"].tolist() == [0.33, 0.012]
    assert df["stderr"].isna().tolist() == [False, True] and df["n"].isna().tolist() == [False, True]
    assert df["revision"].tolist() == ["main", ""]
    assert validate(df)["value"].tolist() == [0.33, 0.012]  # a typed table validates again unchanged


def test_the_harness_format_is_a_known_format(tmp_path):
    df = read_results(write(tmp_path, HEADER, GOOD.replace(",mnli,default,", ",arc_easy,harness,")))
    assert df["format"].tolist() == ["harness"]


@pytest.mark.parametrize("lines, message", [
    ((HEADER.replace(",stderr", ""), GOOD), "missing column(s) stderr"),
    ((HEADER,), "no result rows"),
    ((HEADER, GOOD.replace(",738020,", ",main,")), "line 2: step 'main' is not an integer"),
    ((HEADER, GOOD, GOOD.replace(",738020,", ",1.5,")), "line 3: step '1.5' is not an integer"),
    ((HEADER, GOOD.replace(",0.33,", ",,")), "line 2: value '' is not a number"),
    ((HEADER, GOOD.replace(",0.005,", ",n/a,")), "line 2: stderr 'n/a' is not a number or empty"),
    ((HEADER, GOOD.replace(",mnli,", ",squad,")), "line 2: unknown task set 'squad'"),
    ((HEADER, GOOD.replace(",base,", ",alpaca,")), "line 2: unknown training set 'alpaca'"),
    ((HEADER, GOOD.replace(",default,", ",chat,")), "line 2: unknown prompt format 'chat'"),
    ((HEADER, GOOD.replace(",acc,", ",f1,")), "line 2: unknown metric 'f1'"),
    ((HEADER + ",fewshot_seed", GOOD + ",1", GOOD + ",x"), "line 3: fewshot_seed 'x' is not an integer or empty"),
])
def test_bad_tables_give_one_line_naming_the_file(tmp_path, lines, message):
    path = write(tmp_path, *lines)
    with pytest.raises(AmuroError) as e:
        read_results(path)
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value) and "\n" not in str(e.value)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(AmuroError, match="no such results file"):
        read_results(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(AmuroError, match="not a readable CSV"):
        read_results(tmp_path / "empty.csv")


def test_validate_a_dataframe_names_the_row():
    df = pd.DataFrame([dict(zip(COLUMNS, GOOD.split(",")))])
    df.loc[0, "eval"] = "mnli_matched"
    with pytest.raises(AmuroError, match=r"^results table: row 0: unknown task set 'mnli_matched'"):
        validate(df)


def lm_eval_json(train="tulu"):
    """One model's lm-eval results as lm-eval 0.4 writes them (`<metric>,<filter>` keys, "N/A" where it has no
    stderr), with the sweep's `amuro` block."""
    return {
        "results": {
            "amuro_xsum_default": {"alias": "amuro_xsum_default", "rougeL,none": 0.125, "rougeL_stderr,none": "N/A"},
            "amuro_arc_easy_io": {"alias": "amuro_arc_easy_io", "acc,none": 0.5, "acc_stderr,none": 0.1,
                                  "acc_norm,none": 0.25, "acc_norm_stderr,none": 0.0833},
            "amuro_boolq_instruct": {"alias": "amuro_boolq_instruct", "acc,none": 0.75, "acc_stderr,none": "N/A"},
        },
        "n-shot": {"amuro_xsum_default": 4, "amuro_arc_easy_io": 4, "amuro_boolq_instruct": 0},
        "n-samples": {"amuro_xsum_default": {"original": 20, "effective": 8},
                      "amuro_arc_easy_io": {"original": 12, "effective": 12},
                      "amuro_boolq_instruct": {"original": 12, "effective": 4}},
        "amuro": {"model": "runs/x/models/main/tulu", "revision": "main", "step": 738020, "tokens": None,
                  "train": train},
    }


def test_rows_from_lm_eval_acc_norm_and_stderr_that_is_not_a_number(tmp_path):
    from amuro.study.results import append_rows, rows_from_lm_eval

    rows = rows_from_lm_eval(lm_eval_json(), source="lm_eval/main/tulu.json")
    common = {"model": "runs/x/models/main/tulu", "revision": "main", "step": 738020, "tokens": "", "train": "tulu",
              "source": "lm_eval/main/tulu.json", "profile": "", "method": "full",  # an older JSON: no provenance,
              "family": "", "seed": "", "fewshot_seed": "",  # no family, no seed axis
              "predictions": "", "empty_generations": "", "examples": ""}  # no samples: no diagnostics
    assert rows == [  # tasks in name order; a multiple-choice set gives acc and acc_norm
        {**common, "eval": "arc_easy", "format": "io", "num_fewshot": 4, "metric": "acc", "value": 0.5,
         "stderr": 0.1, "n": 12},
        {**common, "eval": "arc_easy", "format": "io", "num_fewshot": 4, "metric": "acc_norm", "value": 0.25,
         "stderr": 0.0833, "n": 12},
        {**common, "eval": "boolq", "format": "instruct", "num_fewshot": 0, "metric": "acc", "value": 0.75,
         "stderr": "", "n": 4},
        {**common, "eval": "xsum", "format": "default", "num_fewshot": 4, "metric": "rougeL", "value": 0.125,
         "stderr": "", "n": 8},
    ]
    path = tmp_path / "results.csv"
    append_rows(path, rows)
    append_rows(path, rows_from_lm_eval(lm_eval_json(), source="again"))  # the same keys: replaced, not added
    table = read_results(path)
    assert len(table) == 4 and set(table["source"]) == {"again"}
    assert table["stderr"].isna().tolist() == [False, False, True, True]
    assert table["metric"].tolist() == ["acc", "acc_norm", "acc", "rougeL"] and table["tokens"].isna().all()


def test_the_runs_of_a_cell_are_rows_of_their_own(tmp_path):
    """`seed` and `fewshot_seed` are in the key: a second seed's row is added, a rerun of the same seed replaces."""
    from amuro.study.results import KEY, append_rows, rows_from_lm_eval

    assert KEY[-2:] == ("seed", "fewshot_seed")
    path = tmp_path / "results.csv"
    for seed, fewshot_seed, source in ((0, 7, "a"), (1, 7, "b"), (1, 8, "c"), (1, 8, "again")):
        data = lm_eval_json()
        data["amuro"].update(seed=seed, fewshot_seed=fewshot_seed, family="olmo")
        append_rows(path, rows_from_lm_eval(data, source=source))
    table = read_results(path)
    assert len(table) == 3 * 4 and set(table["family"]) == {"olmo"}
    assert sorted(set(zip(table["seed"], table["fewshot_seed"], table["source"]))) == [
        ("0", "7", "a"), ("1", "7", "b"), ("1", "8", "again")]
