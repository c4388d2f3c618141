"""`amuro sweep SPEC --watch`: a tiny pre-training fills a folder in the background while the sweep watches it; every
checkpoint written after the watch started is evaluated and reported; Ctrl-C is one line and exit 130; a restart
resumes with nothing to redo."""

import os
import signal
import subprocess
import sys
import time

import pytest

from amuro.study.results import read_results

SPEC = """name: live
model: {model}
checkpoints: {{uniform: 1}}
train: []
evaluate: {{formats: [default], base: [mnli], num_fewshot: 0, limit: 4, batch_size: 4,
           model_args: {{dtype: float32}}}}
"""

PRETRAIN = """import sys
from amuro.demo.pretrain import pretrain
from amuro.demo.synthetic import pretraining_corpus
pretrain(sys.argv[1], pretraining_corpus(400), steps=90, checkpoint_steps=[30, 60, 90], hidden_size=32,
         vocab_size=600, seed=1, naming="olmo")
"""


def wait_for(condition, timeout, what):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def start_watch(spec, out, log):
    """The watch as a user starts it; its console goes to files (a pipe could fill and block it)."""
    command = [sys.executable, "-m", "amuro.cli", "sweep", str(spec), "--watch", "--interval", "1", "--out", str(out)]
    return subprocess.Popen(command, stdout=open(f"{log}.out", "w"), stderr=open(f"{log}.err", "w"), text=True)


def stop(proc, log):
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    proc.wait(timeout=120)
    return open(f"{log}.out").read(), open(f"{log}.err").read()


@pytest.mark.slow
def test_watch_runs_checkpoints_written_after_it_started_and_stops_on_ctrl_c(tmp_path):
    model, out = tmp_path / "model", tmp_path / "sweep"
    model.mkdir()  # the training run's folder exists; no checkpoint (no revisions.txt) yet
    spec = tmp_path / "live.yaml"
    spec.write_text(SPEC.format(model=model))
    watcher = start_watch(spec, out, tmp_path / "watch")
    try:
        wait_for(lambda: "jobs known" in open(tmp_path / "watch.out").read(), 120, "the watch to start")
        time.sleep(2)  # a poll or two over the empty folder
        trainer = subprocess.run([sys.executable, "-c", PRETRAIN, str(model)], capture_output=True, text=True,
                                 timeout=600)
        assert trainer.returncode == 0, trainer.stderr[-2000:]
        names = (model / "revisions.txt").read_text().split()
        assert names == ["step30-tokens30K", "step60-tokens61K", "step90-tokens92K"]

        def all_rows():
            try:
                return set(read_results(out / "results.csv")["revision"]) == set(names)
            except Exception:
                return False

        wait_for(all_rows, 600, "rows of every checkpoint")
        wait_for(lambda: (out / "report" / "report.md").is_file(), 300, "the report")
        time.sleep(1.5)
    finally:
        stdout, stderr = stop(watcher, tmp_path / "watch")
    assert watcher.returncode == 130, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == "amuro: interrupted; the same command resumes the watch"
    assert "Traceback" not in stderr
    assert "new checkpoints: step30-tokens30K" in stdout and "report refreshed" in stdout
    assert (out / "watched.txt").read_text().split() == names
    table = read_results(out / "results.csv")
    assert sorted(table["step"].unique()) == [30, 60, 90] and set(table["train"]) == {"base"}

    # Started again: the adopted checkpoints are all done, nothing is evaluated again.
    stamps = {p: p.stat().st_mtime_ns for p in (out / "lm_eval").rglob("*.json")}
    again = start_watch(spec, out, tmp_path / "again")
    wait_for(lambda: "jobs known" in open(tmp_path / "again.out").read(), 120, "the restarted watch")
    time.sleep(3)
    stdout, _ = stop(again, tmp_path / "again")
    assert again.returncode == 130 and "(3 jobs known;" in stdout and "  step " not in stdout
    assert {p: p.stat().st_mtime_ns for p in (out / "lm_eval").rglob("*.json")} == stamps
    assert os.path.getsize(out / "results.csv") > 0
