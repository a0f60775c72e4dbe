"""Paired statistics and verdicts: known shifts are found, equal strategies are not told apart
more often than 5 % of the time, and tables mark a best only when it is resolved."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from sciml_grow.study.compare import read_results, read_stats, write_results
from sciml_grow.study.report import table
from sciml_grow.study.stats import (
    STATS_COLUMNS,
    holm,
    iqm,
    mean_interval,
    paired,
    paired_stats,
    seeds_for_verdict,
)


def test_a_known_shift_is_detected_in_both_directions():
    rng = np.random.default_rng(0)
    base = rng.normal(0.5, 0.05, 10)  # seed-to-seed spread shared by both (paired)
    better = base - 0.01 + rng.normal(0, 0.002, 10)
    p = paired(better, base, "td", "baseline", 100)
    assert p.verdict == "better" and p.ci_high < 0 < p.p_improve
    assert p.ci_low < p.mean_diff < p.ci_high
    assert p.mean_diff == pytest.approx(np.mean(better - base))
    assert p.rel_diff == pytest.approx(p.mean_diff / base.mean())
    assert p.p_value < 0.01 and p.p_improve == 1.0
    assert paired(base, better).verdict == "worse"
    # the same shift is far below the seed spread (0.05): unpaired, it would not be seen
    assert base.std() > 0.01


def test_equal_strategies_get_no_difference_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    draws = 400
    verdicts = [
        paired(rng.normal(1, 0.1, 10), rng.normal(1, 0.1, 10), seed=i, n_resamples=1000).verdict
        for i in range(draws)
    ]
    no_difference = verdicts.count("no difference") / draws
    assert 0.92 <= no_difference <= 0.995, no_difference
    assert "better" in verdicts and "worse" in verdicts  # both errors occur, rarely


def test_too_few_seeds_never_give_a_verdict():
    a = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    p = paired(a - 1.0, a)  # always better by a lot, but 5 seeds
    assert p.p_value == pytest.approx(2 / 2**5) and p.verdict == "no difference"
    assert seeds_for_verdict(1) == 6
    assert paired(np.arange(6.0) - 1, np.arange(6.0) + 0.1 * np.arange(6)).verdict == "better"


def test_interval_of_constant_differences_and_iqm():
    assert mean_interval(np.full(8, 0.25)) == (0.25, 0.25)
    p = paired(np.ones(6), np.ones(6))
    assert (p.verdict, p.p_value, p.p_improve, p.half_width) == ("no difference", 1.0, 0.5, 0.0)
    assert iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert iqm([1.0, 1.0, 1.0, 100.0]) == pytest.approx(1.0)  # one diverged seed


def test_bootstrap_interval_is_reproducible_and_covers_the_mean():
    x = np.random.default_rng(3).normal(2.0, 1.0, 30)
    assert mean_interval(x, seed=5) == mean_interval(x, seed=5)
    low, high = mean_interval(x)
    assert low < x.mean() < high and high - low < 1.5


def rows_for(errors: dict[str, list[float]], size: int = 100) -> list[dict]:
    return [
        {
            "strategy": s,
            "seed": k,
            "train_size": size,
            "rel_l2_mean": e,
            "rel_l2_median": e,
            "mse": e,
            "accuracy": None,
            "cross_entropy": None,
            "obs_misfit": None,
            "final_depth": 3,
            "srl_stages": 0,
            "n_params": 100,
            "zero_weight_fraction": 0.0,
            "insertions": 1,
            "wall_seconds": 1.0,
            "inference_seconds_per_sample": 1e-5,
            "rel_l2_on_reference_samples": None,
        }
        for s, errs in errors.items()
        for k, e in enumerate(errs)
    ]


def test_table_marks_a_best_only_when_resolved_and_stats_csv_round_trips(tmp_path):
    rng = np.random.default_rng(4)
    base = rng.normal(0.5, 0.05, 10)
    rows = rows_for(
        {
            "td": list(base - 0.02),
            "net2deeper": list(base + rng.normal(0, 0.002, 10)),
            "baseline": list(base),
        }
    )
    results = paired_stats(rows, "baseline", all_pairs=True)
    assert [(p.strategy, p.against) for p in results] == [
        ("td", "baseline"),
        ("net2deeper", "baseline"),
        ("td", "net2deeper"),
    ]
    write_results(tmp_path, rows, results, "baseline")
    with open(tmp_path / "stats.csv", newline="") as fh:
        assert next(csv.reader(fh)) == STATS_COLUMNS
    back = read_stats(tmp_path / "stats.csv")
    assert [p.verdict for p in back] == ["better", "no difference", "better"]
    assert back[0].ci_high == pytest.approx(results[0].ci_high)
    text = (tmp_path / "table.md").read_text()
    lines = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("|")}
    assert "**" in lines["td"] and "better (p = " in lines["td"]
    assert "**" not in lines["net2deeper"] and "no difference" in lines["net2deeper"]
    assert f"{-2 / base.mean():+.1f} % [" in lines["td"]  # -0.02 relative to baseline's mean
    assert "Best: **td**" in text and "Resolvable here" in text
    # the same table with td only a little better than net2deeper: no best
    close = rows_for({"td": list(base), "net2deeper": list(base + rng.normal(0, 0.01, 10))})
    text = table(close)
    assert "**" not in text.split("\n\n")[0] and "No strategy is best at 95 %" in text


def test_strategies_identical_to_the_reference_are_named_not_counted_as_resolution(tmp_path):
    # every growing strategy kept the starting network: per-seed errors equal the baseline's;
    # the interval of a zero difference is [0, 0] and says nothing of what can be resolved
    rng = np.random.default_rng(7)
    base = rng.normal(0.8, 0.04, 10)
    rows = rows_for(
        {
            "td": list(base),
            "random-1": list(base),
            "layerwise": list(base + rng.normal(0.004, 0.003, 10)),
            "baseline": list(base),
        }
    )
    write_results(tmp_path, rows, paired_stats(rows, "baseline"), "baseline")
    text = (tmp_path / "table.md").read_text()
    assert "larger than about 0 (" not in text
    assert "Identical to baseline in every seed: td, random-1." in text
    half = [p.half_width for p in paired_stats(rows, "baseline") if p.strategy == "layerwise"]
    assert f"larger than about {half[0]:.3g} (" in text
    assert "No strategy is best at 95 %: td, random-1 and baseline tie (identical errors)" in text
    # nothing but identical strategies: no resolution to speak of
    text = table(rows_for({"td": list(base), "baseline": list(base)}))
    assert "Identical to baseline in every seed: td." in text and "Resolvable" not in text


def test_sweep_table_has_a_summary_and_a_table_per_size(tmp_path):
    rng = np.random.default_rng(5)
    base = rng.normal(0.8, 0.05, 8)
    rows = rows_for({"td": list(base - 0.05), "baseline": list(base)}, 20)
    rows += rows_for({"td": list(base - 0.2), "baseline": list(base - 0.2)}, 200)
    write_results(tmp_path, rows, paired_stats(rows, "baseline"), "baseline")
    back = read_results(tmp_path / "results.csv")
    assert {r["train_size"] for r in back} == {20.0, 200.0}
    text = table(back)
    assert "| strategy | N = 20 | N = 200 |" in text
    assert "### 20 training samples" in text and "### 200 training samples" in text
    summary = text.split("###")[0]
    td = next(line for line in summary.splitlines() if line.startswith("| td"))
    assert "(better)" in td.split("|")[2] and "(better)" not in td.split("|")[3]


def test_holm_adjusts_as_the_step_down_procedure_by_hand():
    ps = [0.01, 0.04, 0.03, 0.2]
    family = [paired(np.arange(8.0), np.arange(8.0) + 1, str(i)) for i in range(4)]
    for r, p in zip(family, ps, strict=True):
        r.p_value = p
    holm(family)
    # sorted 0.01, 0.03, 0.04, 0.2 times 4, 3, 2, 1: 0.04, 0.09, 0.08 -> 0.09 (monotone), 0.2
    assert [r.p_adjusted for r in family] == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert [r.family_size for r in family] == [4] * 4
    # the intervals exclude 0 (every d = -1): only the first keeps its verdict
    assert [r.verdict for r in family] == ["better", *["no difference"] * 3]


def test_seeds_a_verdict_needs_grow_with_the_family():
    # Holm's smallest adjusted p is m 2 / 2^n: below 0.05 from n = 6 (m = 1), 9 (m = 7),
    # 11 (m = 28: every pair of 8 strategies, which 10 seeds can never resolve)
    assert [seeds_for_verdict(m) for m in (1, 7, 28)] == [6, 9, 11]


def _study(rng: np.random.Generator, shift: float = 0.0, strategies: int = 8, seeds: int = 10):
    """Rows of a study where every strategy errs alike (seed effect shared, paired) but the
    last, which is ``shift`` lower."""
    seed_effect = rng.normal(0.5, 0.05, seeds)
    rows = []
    for s in range(strategies):
        errors = seed_effect + rng.normal(0, 0.01, seeds) - (shift if s == strategies - 1 else 0)
        name = "baseline" if s == 0 else f"s{s}"
        rows += [
            {"strategy": name, "seed": k, "train_size": 100, "rel_l2_mean": e}
            for k, e in enumerate(errors)
        ]
    return rows


def test_a_table_of_eight_equal_strategies_has_a_false_verdict_in_at_most_5_percent():
    rng = np.random.default_rng(1)
    draws, any_false, any_false_raw = 200, 0, 0
    for _ in range(draws):
        family = paired_stats(_study(rng), "baseline", n_resamples=200)
        assert {r.family_size for r in family} == {7}
        any_false += any(r.verdict != "no difference" for r in family)
        any_false_raw += any(r.p_value < 0.05 and (r.ci_high < 0 or r.ci_low > 0) for r in family)
    # binomial(200, 0.05): mean 10, sd 3.1; uncorrected, about 1 - 0.95^7 = 30 % of tables
    assert any_false / draws <= 0.05 + 2.5 * np.sqrt(0.05 * 0.95 / draws)
    assert any_false_raw / draws > 0.15
    # a known shift (twice the sd of a paired difference, 0.014) is still found
    found = sum(
        any(r.strategy == "s7" and r.verdict == "better"
            for r in paired_stats(_study(rng, shift=0.03), "baseline", n_resamples=200))
        for _ in range(50)
    )  # fmt: skip
    assert found >= 45


def test_all_pairs_are_a_family_of_their_own_and_the_table_says_what_a_verdict_needs():
    rng = np.random.default_rng(2)
    rows = _study(rng, shift=0.05)
    results = paired_stats(rows, "baseline", all_pairs=True, n_resamples=500)
    against = [r for r in results if r.against == "baseline"]
    pairs = [r for r in results if r.against != "baseline"]
    assert {r.family_size for r in against} == {7} and {r.family_size for r in pairs} == {21}
    assert any(r.verdict == "better" for r in against)
    # 21 pairs need 10 seeds: 21 * 2 / 2^10 = 0.041; the table says so under each family
    text = table(rows, results=results, against="baseline")
    assert "Family: 7 comparisons against baseline at this size (Holm)" in text
    assert "at least 9 paired seeds" in text and "at least 10 paired seeds" in text
    assert "All pairs: s1 worse than s7 (p = 0.041)" in text
    few = [r for r in rows if r["seed"] < 8]
    text = table(few, results=paired_stats(few, "baseline", n_resamples=500), against="baseline")
    assert "With 8 seeds no verdict is possible" in text
