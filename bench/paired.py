"""The benchmark's ratios: paired by round, their median, and a percentile-bootstrap interval of that median."""

import numpy as np

__all__ = ["MIN_ROUNDS", "SEED", "RESAMPLES", "paired_ratios", "median_interval", "ratio_summary"]

MIN_ROUNDS = 9  # rounds a ratio needs before its interval means something (issue 26)
SEED = 20261207  # fixed: the same rounds give the same interval
RESAMPLES = 10000
LEVEL = 0.90


def paired_ratios(numerators, denominators):
    """Ratio of each round's figures (round i of the numerator over round i of the denominator); rounds where
    either is missing or not positive are left out."""
    return [float(a) / b for a, b in zip(numerators, denominators)
            if a == a and b == b and b > 0 and a >= 0]


def median_interval(values, level=LEVEL, resamples=RESAMPLES, seed=SEED):
    """The ``level`` percentile-bootstrap interval of the median of ``values``: resample the values with
    replacement ``resamples`` times (numpy RandomState(``seed``)), take each resample's median, and return the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of those medians. ``(nan, nan)`` without values."""
    values = np.asarray(values, dtype=float)
    if not values.size:
        return float("nan"), float("nan")
    draws = np.random.RandomState(seed).randint(0, values.size, size=(resamples, values.size))
    medians = np.median(values[draws], axis=1)
    low, high = np.percentile(medians, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def ratio_summary(numerators, denominators):
    """``{'median', 'low', 'high', 'rounds'}``: the median of the paired ratios, its 90 % bootstrap interval and
    every round's ratio in round order."""
    rounds = paired_ratios(numerators, denominators)
    low, high = median_interval(rounds)
    return {"median": float(np.median(rounds)) if rounds else float("nan"), "low": low, "high": high,
            "rounds": rounds}
