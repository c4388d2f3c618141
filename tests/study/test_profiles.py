"""The same tiny spec in both profiles, end to end: each run's rows and lm-eval JSON carry the profile's knobs, and
`amuro report A.csv --compare B.csv` writes which findings survive."""

import json

from amuro.cli import main
from amuro.study.results import read_results

import pytest

from conftest import TINY, run_sweep


@pytest.mark.slow
def test_a_tiny_spec_in_each_profile_and_their_comparison(reference, tiny_checkpoints, tmp_path):
    spec = tmp_path / "tiny_paper.yaml"
    spec.write_text(TINY.read_text().replace("name: tiny", "name: tiny_paper\nprofile: paper"))
    out = tmp_path / "paper"
    plan = run_sweep(tiny_checkpoints, out, spec=spec).stdout
    assert "profile paper: the authors' pipeline" in plan and "demonstrations paper" in plan
    paper, corrected = read_results(out / "results.csv"), read_results(reference / "results.csv")
    assert set(paper["profile"]) == {"paper"} and set(corrected["profile"]) == {"corrected"}
    assert len(paper) == len(corrected)  # the same cells, scored two ways
    knobs = json.loads(next((out / "lm_eval").glob("*/mnli.json")).read_text())["amuro"]["provenance"]
    assert (knobs["fewshot"], knobs["model_args"]["tokenprob"], knobs["gen_kwargs"]) == ("paper", "paper",
                                                                                          {"until": []})
    assert knobs["training"]["loss_averaging"] == "per_example"
    card = json.loads(next((out / "models").glob("*/mnli/run_card.json")).read_text())
    assert card["loss_averaging"] == "per_example" and card["total_batch_size"] == 8
    assert main(["report", str(out / "results.csv"), "--compare", str(reference / "results.csv"), "--out",
                 str(tmp_path / "compare")]) == 0
    md = (tmp_path / "compare" / "report.md").read_text()
    assert "## Which findings survive: paper (tiny_paper) vs corrected (tiny)" in md
    summary = json.loads((tmp_path / "compare" / "summary.json").read_text())
    rows = {r["finding"]: r for r in summary["compare"]["findings"]}
    gain = rows["gain: learned in fine-tuning"]  # (mnli, mnli) and (mnli_mm, mnli) at both checkpoints
    assert gain["n_paired"] == gain["n_a"] == gain["n_b"] == 4 and gain["verdict"]
    assert "MRC: cls_to_gen" in rows  # every headline finding is listed, with or without cells
