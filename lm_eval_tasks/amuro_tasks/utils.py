# lm-eval resolves `!function utils.<name>` to this file beside the YAMLs (lm-eval <= 0.4.11 cannot import a
# dotted package path), so it only re-exports the package's functions.
from amuro.eval.catwalk import HarnessTask  # noqa: F401
from amuro.eval.hooks import FewshotSampler, TokenProbTask, load_task_dataset, rougeL  # noqa: F401
