"""Statistics of the report: seeded percentile bootstrap CIs, a t-test, and JSON-safe values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd


def bootstrap_ci(x, level: float = 0.95, n_resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean, resampling values with a seeded numpy Generator."""
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_resamples, len(x)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def t_test_p(x) -> float:
    """Two-sided one-sample t-test of mean 0 (the MRC is a mean, so a test of the mean); nan when n < 2 or the
    values are all equal."""
    from scipy.stats import ttest_1samp

    x = np.asarray(x, dtype=float)
    if len(x) < 2 or np.all(x == x[0]):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(ttest_1samp(x, 0.0).pvalue)


def jsonable(x):
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if math.isnan(x) or math.isinf(x) else float(x)
    if x is pd.NA:
        return None
    return x
