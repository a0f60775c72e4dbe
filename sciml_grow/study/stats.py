"""Paired statistics of a comparison: is strategy A better than B, by how much, how sure.

Seed k is the same experiment for every strategy (see :mod:`sciml_grow.study.plan`), so the
per-seed test errors come in pairs and their differences d_k = e_A,k - e_B,k carry the
comparison. For each pair of strategies:

- the mean paired difference, absolute and relative to B's mean error;
- its 95 % confidence interval by the bootstrap (``scipy.stats.bootstrap``, BCa, a fixed seed
  so tables reproduce; the percentile interval where BCa is undefined, e.g. all d equal);
- the Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon``, exact for small samples);
- the probability of improvement: the fraction of seeds where A beats B (ties count half);
- the verdict: ``better`` or ``worse`` only when the interval excludes 0 *and* the signed-rank
  test rejects "no difference" at 5 %, else ``no difference``. Requiring both keeps the rate
  of false verdicts at or below 5 % even for 5-10 seeds, where bootstrap intervals are narrow;
- corrected for multiple comparisons: a table makes many tests at once, so the p-values of a
  family (the comparisons against the reference at one training size; the extra pairs of
  ``all_pairs`` at that size, a family of their own) are adjusted by Holm's step-down method
  (``statsmodels.stats.multitest.multipletests``), which keeps the chance of *any* false
  verdict in the family at or below 5 %; the verdict uses the adjusted p-value;
- the smallest difference the comparison could resolve: the interval's half-width.

Lower is better for every quantity compared here (errors; for classification the error rate
1 - accuracy).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import math
from typing import Any
import warnings

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

from sciml_grow.errors import InputError

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE


def seeds_for_verdict(family_size: int = 1) -> int:
    """The fewest paired seeds with which a verdict is possible at all in a family of
    ``family_size`` tests: the two-sided exact signed-rank test's smallest p-value is 2 / 2^n,
    and Holm multiplies the smallest p-value of the family by its size."""
    n = 1
    while family_size * 2.0 ** (1 - n) >= ALPHA:
        n += 1
    return n


STATS_COLUMNS = [
    "strategy",
    "against",
    "train_size",
    "n_seeds",
    "mean_diff",
    "rel_diff",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "family_size",
    "p_improve",
    "verdict",
]


@dataclass
class PairedResult:
    """``strategy`` against ``against`` on ``n_seeds`` paired seeds (differences A - B)."""

    strategy: str
    against: str
    train_size: int | str
    n_seeds: int
    mean_diff: float
    rel_diff: float
    ci_low: float
    ci_high: float
    p_value: float
    p_improve: float
    verdict: str
    p_adjusted: float = math.nan  # p_value corrected over its family (Holm)
    family_size: int = 1

    def __post_init__(self) -> None:
        if math.isnan(self.p_adjusted):  # a comparison on its own: a family of one
            self.p_adjusted = self.p_value

    @property
    def half_width(self) -> float:
        """The smallest difference this comparison resolves (half the interval's width)."""
        return (self.ci_high - self.ci_low) / 2

    @property
    def identical(self) -> bool:
        """The two strategies erred identically in every seed (e.g. both kept the same
        starting network): an interval [0, 0] that says nothing about resolution."""
        return self.mean_diff == 0 and self.ci_low == 0 and self.ci_high == 0

    def row(self) -> dict:
        return asdict(self)

    def relative_text(self, base: float) -> str:
        """'-1.2 % [-2.0, -0.4]': the difference and its interval in % of ``base`` (the
        reference's mean error)."""
        pct = 100 / base if base else math.nan
        return (
            f"{self.mean_diff * pct:+.1f} % [{self.ci_low * pct:+.1f}, {self.ci_high * pct:+.1f}]"
        )


def mean_interval(
    values: np.ndarray, confidence: float = CONFIDENCE, seed: int = 0, n_resamples: int = 9999
) -> tuple[float, float]:
    """Bootstrap interval of the mean of ``values`` (BCa, percentile where BCa is undefined)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2 or np.all(values == values[0]):
        return float(values.mean()), float(values.mean())
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # BCa's degenerate-jackknife warnings
            ci = stats.bootstrap(
                (values,),
                np.mean,
                confidence_level=confidence,
                n_resamples=n_resamples,
                method=method,
                rng=np.random.default_rng(seed),
            ).confidence_interval
        if math.isfinite(ci.low) and math.isfinite(ci.high):
            return float(ci.low), float(ci.high)
    return float(values.mean()), float(values.mean())


def paired(
    errors: np.ndarray,
    reference: np.ndarray,
    strategy: str = "A",
    against: str = "B",
    train_size: int | str = "all",
    *,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    n_resamples: int = 9999,
) -> PairedResult:
    """Compare per-seed errors of a strategy with a reference's on the same seeds."""
    a, b = np.asarray(errors, dtype=float), np.asarray(reference, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise InputError(f"paired errors need equal 1-D shapes, got {a.shape} and {b.shape}")
    d = a - b
    low, high = mean_interval(d, confidence, seed, n_resamples)
    p_value = 1.0 if np.all(d == 0) else float(stats.wilcoxon(d).pvalue)
    base = float(b.mean())
    return PairedResult(
        strategy=strategy,
        against=against,
        train_size=train_size,
        n_seeds=len(d),
        mean_diff=float(d.mean()),
        rel_diff=float(d.mean() / base) if base != 0 else math.nan,
        ci_low=low,
        ci_high=high,
        p_value=p_value,
        p_improve=float(np.mean(d < 0) + 0.5 * np.mean(d == 0)),
        verdict=verdict(p_value, low, high, 1 - confidence),
    )


def verdict(p: float, low: float, high: float, alpha: float = ALPHA) -> str:
    """``better``/``worse`` where p < alpha and the interval [low, high] excludes 0."""
    if p < alpha and (high < 0 or low > 0):
        return "better" if high < 0 else "worse"
    return "no difference"


def holm(family: list[PairedResult]) -> list[PairedResult]:
    """The family's p-values adjusted by Holm's method and its verdicts redone with them (in
    place): the chance of any false verdict in the family stays at or below 5 %."""
    if not family:
        return family
    adjusted = multipletests([r.p_value for r in family], alpha=ALPHA, method="holm")[1]
    for r, p in zip(family, adjusted, strict=True):
        r.p_adjusted, r.family_size = float(p), len(family)
        r.verdict = verdict(r.p_adjusted, r.ci_low, r.ci_high)
    return family


def iqm(values: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle half (robust to one diverged seed)."""
    return float(stats.trim_mean(np.asarray(values, dtype=float), 0.25))


def _nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def error_of(row: dict[str, Any]) -> float:
    """The error a row is ranked by: the test relative L2 error, or 1 - accuracy."""
    accuracy = row.get("accuracy")
    if accuracy is not None and not _nan(accuracy):
        return 1.0 - float(accuracy)
    return float(row["rel_l2_mean"])


def paired_stats(
    rows: list[dict[str, Any]], against: str, all_pairs: bool = False, n_resamples: int = 9999
) -> list[PairedResult]:
    """Every strategy against ``against`` (and, with ``all_pairs``, every pair), per training
    size, on the seeds both ran; each family (the comparisons against ``against`` at one size,
    the extra pairs at one size) corrected by :func:`holm`."""
    out: list[PairedResult] = []
    for n in dict.fromkeys(r["train_size"] for r in rows):
        errors: dict[str, dict[int, float]] = {}
        for r in rows:
            if r["train_size"] == n:
                errors.setdefault(r["strategy"], {})[int(r["seed"])] = error_of(r)
        names = list(errors)
        families = [[(a, against) for a in names if a != against and against in errors]]
        if all_pairs:
            others = [a for a in names if a != against]
            families.append([(a, b) for i, a in enumerate(others) for b in others[i + 1 :]])
        for pairs in families:
            family = []
            for a, b in pairs:
                seeds = sorted(set(errors[a]) & set(errors[b]))
                ea = np.array([errors[a][k] for k in seeds])
                eb = np.array([errors[b][k] for k in seeds])
                family.append(paired(ea, eb, a, b, n, n_resamples=n_resamples))
            out += holm(family)
    return out
