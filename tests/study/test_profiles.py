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


@pytest.mark.slow
def test_the_paper_profiles_metrics_dtypes_and_training_as_the_authors_had_them(tiny_checkpoints, tmp_path):
    """On the fixture rows: catwalk's metric per instruction-tuning set in results.csv, BASE models evaluated in
    float32 and fine-tuned ones in bfloat16 (lm-eval's JSONs), training clipped at 1.0 with rounded rotary
    frequencies (run cards)."""
    spec = tmp_path / "paper_it.yaml"
    text = TINY.read_text().replace("name: tiny", "name: paper_it\nprofile: paper")
    text = text.replace("  base: [in_domain, ood, cross_task]", "  base: [mnli, arc_easy, arc_challenge, openbookqa, "
                        "hellaswag, boolq, sciq_mc]").replace("  finetuned: [in_domain, ood, cross_task]",
                                                              "  finetuned: [mnli]")
    text = text.replace("  model_args: {dtype: float32}\n", "")  # the profile's own dtypes
    spec.write_text(text)
    out = tmp_path / "out"
    run_sweep(tiny_checkpoints, out, spec=spec)
    table = read_results(out / "results.csv")
    harness = table[(table["format"] == "harness")]
    assert dict(zip(harness["eval"], harness["metric"])) == {
        "arc_easy": "acc_uncond", "arc_challenge": "acc_uncond", "openbookqa": "acc_uncond",
        "hellaswag": "acc_per_token", "boolq": "acc", "sciq_mc": "acc"}
    assert len(harness) == 6 * 2  # one row per set and checkpoint: catwalk's metric only
    dtypes = {}
    for path in (out / "lm_eval").glob("*/*.json"):
        data = json.loads(path.read_text())
        dtypes[data["amuro"]["train"]] = data["config"]["model_args"]["dtype"]
    assert dtypes == {"base": "float32", "mnli": "bfloat16"}
    cards = list((out / "models").glob("*/mnli/run_card.json"))
    assert len(cards) == 2  # kept when the weights go
    for card in cards:
        card = json.loads(card.read_text())
        assert (card["gradient_clipping"], card["hyperparameters"]["max_grad_norm"]) == (1.0, 1.0)
        assert card["round_rotary_to_bf16"] and card["loss_averaging"] == "per_example"
