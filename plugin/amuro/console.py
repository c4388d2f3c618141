"""What a long amuro command shows on the console, and where everything else goes.

A sweep (and the demo around it) prints one line per job that names it; the libraries' own logs, warnings and
progress bars (lm-eval, transformers, datasets, accelerate, TRL, Python warnings) go to `amuro.log` in the run
folder instead, for debugging. Scoped: `quiet()` restores every logger, warning filter and setting it changed.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from contextlib import contextmanager, redirect_stderr
from pathlib import Path

LOG_FILE = "amuro.log"
# logger -> the level kept in the file: INFO where it tells what happened, WARNING for the chatty ones
LIBRARIES = {"lm_eval": logging.INFO, "transformers": logging.INFO, "datasets": logging.WARNING,
             "accelerate": logging.INFO, "trl": logging.INFO, "huggingface_hub": logging.WARNING,
             "peft": logging.WARNING, "filelock": logging.WARNING, "urllib3": logging.WARNING,
             "torch": logging.WARNING, "deepspeed": logging.WARNING, "py.warnings": logging.WARNING}


@contextmanager
def quiet(log_file: str | os.PathLike):
    """Send the libraries' logging, Python warnings and tqdm bars to `log_file` for the duration."""
    log_file = Path(log_file)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    stream = open(log_file, "a", encoding="utf-8", buffering=1)  # one writer for the logs, warnings, bars, fd 2
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_Redacting("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    saved = []
    for name, level in LIBRARIES.items():
        logger = logging.getLogger(name)
        saved.append((logger, logger.handlers[:], logger.level, logger.propagate))
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(level)
    # tqdm reads TQDM_* when it is imported: this reaches the subprocesses (training); in this process the bars that
    # remain (lm-eval's, ours) and lm-eval's own stream handler write to sys.stderr, which points at the file meanwhile,
    # and so does file descriptor 2, for what child processes print there (lm-eval runs `git describe`: "fatal: not a
    # git repository" from a user's folder).
    env = {"TQDM_DISABLE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
    # Without a GPU, DeepSpeed prints "Setting accelerator to CPU ..." on stdout, from a handler of its own, the
    # first time anything asks for its accelerator; naming the one it would pick keeps that line off the console.
    if "DS_ACCELERATOR" not in os.environ and not _has_gpu():
        env["DS_ACCELERATOR"] = "cpu"
    saved_env = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    bars = _progress_bars(False)
    sys.stderr.flush()
    saved_fd = os.dup(2)
    os.dup2(stream.fileno(), 2)
    with warnings.catch_warnings(), redirect_stderr(_RedactingStream(stream)):
        logging.captureWarnings(True)  # warnings.warn -> the py.warnings logger -> the file
        try:
            yield log_file
        finally:
            stream.flush()
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            logging.captureWarnings(False)
            for logger, handlers, level, propagate in saved:
                logger.handlers, logger.level, logger.propagate = handlers, level, propagate
            for k, v in saved_env.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
            _progress_bars(bars)
            handler.close()
            stream.close()


class _RedactingStream:
    """sys.stderr while quiet: what is written goes to the log file, secrets redacted."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        from amuro.files import redact

        self.stream.write(redact(text))
        return len(text)

    def __getattr__(self, name):  # flush, fileno, isatty, encoding: the file's
        return getattr(self.stream, name)


class _Redacting(logging.Formatter):
    """The log file never holds a secret: lm-eval logs its model_args (a `token=` among them) at INFO."""

    def format(self, record) -> str:
        from amuro.files import redact

        return redact(super().format(record))


def _progress_bars(on: bool) -> bool:
    """Switch datasets' and transformers' own progress bars (they pass `disable=` to tqdm themselves); returns
    whether they were on."""
    import datasets
    from transformers.utils import logging as hf_logging

    was = not datasets.are_progress_bars_disabled()
    for enable, disable in ((datasets.enable_progress_bars, datasets.disable_progress_bars),
                            (hf_logging.enable_progress_bar, hf_logging.disable_progress_bar)):
        (enable if on else disable)()
    return was


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()
