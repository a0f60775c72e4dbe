"""The report of a comparison: ``table.md``, rendered from the result rows, the paired
statistics and the references (what a table can resolve is in docs/statistics.md)."""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np

from sciml_grow.study import tables
from sciml_grow.study.linear import LINEAR
from sciml_grow.study.plan import default_reference
from sciml_grow.study.stats import (
    PairedResult,
    _nan,
    error_of,
    iqm,
    paired,
    paired_stats,
    seeds_for_verdict,
)

# table column: (results key, header, format)
SHARED = [
    ("final_depth", "depth", "{:.1f}"),
    ("n_params", "params", "{:.0f}"),
    ("wall_seconds", "train time (s)", "{:.1f}"),
]


TABLE = [
    ("rel_l2_mean", "test rel. L2 error", "{:.4f}"),
    ("mse", "test MSE", "{:.4g}"),
    ("obs_misfit", "obs. misfit", "{:.3g}"),
    *SHARED,
]


CLASS_TABLE = [
    ("accuracy", "test accuracy", "{:.4f}"),
    ("cross_entropy", "test cross-entropy", "{:.4g}"),
    *SHARED,
]


HIGHER_IS_BETTER = {"accuracy"}


def table(
    rows: list[dict[str, Any]],
    ref: dict[str, Any] | None = None,
    results: list[PairedResult] | None = None,
    against: str | None = None,
    linear: list[dict[str, Any]] | None = None,
    floor: dict[str, Any] | None = None,
) -> str:
    """Markdown: per training size, one row per strategy with mean ± std and IQM over seeds,
    the paired difference against ``against`` with its 95 % interval and verdict, and the
    classical reference's ratios; the ``linear`` reference's rows after the strategies (never
    the best: it is what the networks should beat); with a ``floor`` (posterior means by MCMC)
    its row and a column "error / floor"; a sweep starts with a summary over sizes."""
    sizes = list(dict.fromkeys(r["train_size"] for r in rows))
    against = against or default_reference(list(dict.fromkeys(r["strategy"] for r in rows)))
    rows = rows + [r for r in linear or [] if r["train_size"] in sizes]
    if results is None:
        results = paired_stats(rows, against)
    if len(sizes) == 1:
        return _size_table(rows, ref, results, against, floor)
    parts = [_sweep_summary(rows, results, against, sizes)]
    for n in sizes:
        mine = [r for r in rows if r["train_size"] == n]
        parts.append(f"### {int(n)} training samples\n")
        mine_results = [p for p in results if p.train_size == n]
        parts.append(_size_table(mine, ref, mine_results, against, floor))
    return "\n".join(parts)


def _size_table(
    rows: list[dict[str, Any]],
    ref: dict[str, Any] | None,
    results: list[PairedResult],
    against: str,
    floor: dict[str, Any] | None = None,
) -> str:
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    classes = any(not _nan(r.get("accuracy")) and r.get("accuracy") is not None for r in rows)
    columns = CLASS_TABLE if classes else TABLE
    stats: dict[str, dict[str, tuple[float, float]]] = {}
    for s in strategies:
        mine = [r for r in rows if r["strategy"] == s]
        stats[s] = {}
        extra = [
            ("inference_seconds_per_sample", "", ""),
            ("rel_l2_on_reference_samples", "", ""),
            ("rel_l2_on_floor_samples", "", ""),
        ]
        for key, _, _ in columns + extra:
            vals = [float(r[key]) for r in mine if r.get(key) is not None and not _nan(r[key])]
            mean = statistics.fmean(vals) if vals else math.nan
            std = statistics.stdev(vals) if len(vals) > 1 else 0.0
            stats[s][key] = (mean, std)
    versus = {p.strategy: p for p in results if p.against == against}
    errors = {s: [error_of(r) for r in rows if r["strategy"] == s] for s in strategies}
    networks = [s for s in strategies if s != LINEAR]
    best, best_line = resolved_best([r for r in rows if r["strategy"] != LINEAR], networks)
    seeds = len({r["seed"] for r in rows})
    metric = columns[0]
    head = ["strategy", metric[1], "IQM", f"vs {against} (95 % CI)", "verdict"]
    head += [h for _, h, _ in columns[1:]]
    costs = {s: _cost_cells(rows, s) for s in strategies}
    costed = any(c[0] for c in costs.values())
    if costed:
        head += ["cost (FLOPs)", f"FLOPs to {against}'s val. loss"]
    short = ref.get("short", ref["label"]) if ref else ""
    if ref:
        head += [f"error / {short}", f"inference time / {short}"]
    if floor:
        head.append("error / floor")
    lines = tables.header(head)
    for s in strategies:
        mean, std = stats[s][metric[0]]
        text = metric[2].format(mean) + (f" ± {metric[2].format(std)}" if seeds > 1 else "")
        cells = [s, f"**{text}**" if s == best else text]
        score = [1 - e for e in errors[s]] if classes else errors[s]
        cells.append(metric[2].format(iqm(score)))
        cells += _versus_cells(versus.get(s), statistics.fmean(errors.get(against, [math.nan])))
        for key, _, fmt in columns[1:]:
            mean, std = stats[s][key]
            if math.isnan(mean):  # e.g. no forward operator for this problem
                cells.append("n/a")
                continue
            cells.append(fmt.format(mean) + (f" ± {fmt.format(std)}" if seeds > 1 else ""))
        if costed:
            cells += costs[s]
        if ref:
            error = stats[s]["rel_l2_on_reference_samples"][0] / ref["rel_l2_mean"]
            ratio = stats[s]["inference_seconds_per_sample"][0] / ref["seconds_per_sample"]
            cells += [f"{error:.3f}", f"{ratio:.1e}"]
        if floor:
            cells.append(f"{stats[s]['rel_l2_on_floor_samples'][0] / floor['rel_l2_mean']:.3f}")
        lines.append(tables.row(cells))
    notes = []
    for r in (ref, floor):
        if not r:
            continue
        cells = [r["label"], f"{r['rel_l2_mean']:.4f} ± {r['rel_l2_std']:.4f}"]
        ratios = (["1", "1"] if r is ref else ["", ""]) if ref else []
        if floor:
            ratios.append(_ratio_on(r, floor))
        cells += [""] * (len(head) - len(cells) - len(ratios)) + ratios
        lines.append(tables.row(cells))
        n = len(r["indices"])
        notes.append(
            f"{r['label']}: {n} test samples, {r['seconds_per_sample']:.3g} s per sample "
            f"(± is the spread over samples); error / {r.get('short', r['label'])} compares "
            "mean errors on those same samples."
        )
    if floor:
        notes.append(_floor_note(floor))
    if costed:
        notes.append(
            "Cost: FLOPs of training (forward and backward of every step, counted by torch) "
            "and of the growth decisions, mean over seeds; a search's summed over its trials. "
            f"FLOPs to {against}'s val. loss: median over seeds of the FLOPs spent when the "
            f"validation loss first reached the best of {against}'s run of the same seed "
            "(k/n: the seeds that reached it)."
        )
    notes += _basis_note(rows)
    stops = {s: converged_cell(rows, s) for s in strategies if converged_cell(rows, s)}
    if stops:
        notes.append(
            "Converged (stopped when the validation loss no longer improved, before the epoch "
            "budget): " + ", ".join(f"{s} {c}" for s, c in stops.items()) + " runs; the others "
            "ran to their budget."
        )
    if notes:
        lines += ["", *notes]
    lines.append("")
    what = "test error rate" if classes else "test error"
    misfit = (
        ""
        if classes
        else " Obs. misfit: noise-weighted mean squared misfit of the re-simulated "
        "observations (1 = noise level)."
    )
    lines.append(
        f"Mean ± std and interquartile mean (IQM) over {seeds} paired seeds. vs {against}: mean "
        f"paired difference of the {what} (strategy - {against}), relative to {against}'s mean, "
        "with its 95 % bootstrap interval; a verdict needs the interval to exclude 0 and the "
        "Wilcoxon signed-rank p, adjusted for multiple comparisons (Holm), below 0.05 "
        f"(the p shown is the adjusted one).{misfit}"
    )
    identical = [s for s, p in versus.items() if p.identical]
    if identical:
        lines.append(f"Identical to {against} in every seed: {', '.join(identical)}.")
    family = max((p.family_size for p in versus.values()), default=0)
    widths = [p.half_width for p in versus.values() if not p.identical]
    if family:
        lines.append(family_note(family, seeds, f"against {against} at this size"))
    if widths and seeds >= seeds_for_verdict(family):  # (fewer: the family note says so)
        base = statistics.fmean(errors.get(against, [math.nan]))
        w = statistics.median(widths)
        lines.append(
            f"Resolvable here: differences larger than about {w:.3g} ({100 * w / base:.1f} % of "
            f"{against}'s {what}; median interval half-width); smaller ones need more seeds."
        )
    lines.append(best_line)
    lines += _pairs_note([p for p in results if p.against != against], seeds)
    return "\n".join(lines) + "\n"


def _pairs_note(pairs: list[PairedResult], seeds: int) -> list[str]:
    """The extra pairs of ``--all-pairs`` (a family of their own): those resolved."""
    if not pairs:
        return []
    resolved = [
        f"{p.strategy} {p.verdict} than {p.against} (p = {p.p_adjusted:.2g})"
        for p in pairs
        if p.verdict != "no difference"
    ]
    said = "; ".join(resolved) if resolved else "none resolved"
    return ["", f"All pairs: {said}.", family_note(len(pairs), seeds, "between the strategies")]


def family_note(family: int, seeds: int, what: str) -> str:
    """Under a table: the family its verdicts are corrected over and the seeds a verdict
    needs in it (none is possible with fewer)."""
    need = seeds_for_verdict(family)
    text = (
        f"Family: {family} comparison{'s' * (family != 1)} {what} (Holm); a verdict needs at "
        f"least {need} paired seeds in a family of this size"
    )
    if seeds < need:
        return (
            f"{text}. With {seeds} seeds no verdict is possible: the smallest signed-rank "
            f"p-value, 2/2^{seeds} = {2 / 2**seeds:.2g}, times {family} is not below 0.05."
        )
    return text + "."


def _cost_cells(rows: list[dict[str, Any]], strategy: str) -> list[str]:
    """A strategy's mean cost and its median cost to reach the reference ("" if uncounted)."""
    mine = [r for r in rows if r["strategy"] == strategy]
    total = [
        float(r["training_flops"]) + float(r["decision_flops"])
        for r in mine
        if _number(r.get("training_flops")) and _number(r.get("decision_flops"))
    ]
    if not total:
        return ["", ""]
    reached = [float(r["flops_to_reference"]) for r in mine if _number(r.get("flops_to_reference"))]
    median = f"{statistics.median(reached):.3g} " if reached else ""
    return [f"{statistics.fmean(total):.3g}", f"{median}({len(reached)}/{len(mine)})"]


def converged_cell(rows: list[dict[str, Any]], strategy: str) -> str:
    """ "k/n": how many of a strategy's runs stopped by convergence rather than their budget
    ("" for runs that do not say)."""
    said = [float(r["converged"]) for r in rows if r["strategy"] == strategy
            and _number(r.get("converged"))]  # fmt: skip
    return f"{int(sum(said))}/{len(said)}" if said else ""


def _number(v: Any) -> bool:
    return v not in (None, "") and not _nan(v)


def _basis_note(rows: list[dict[str, Any]]) -> list[str]:
    """What a reduced output basis allows: its modes and its own error on the test targets."""
    used = [
        r for r in rows if r.get("basis_modes") not in (None, "") and not _nan(r["basis_modes"])
    ]
    if not used:
        return []
    modes = sorted({int(float(r["basis_modes"])) for r in used})
    floor = statistics.fmean(float(r["basis_floor"]) for r in used)
    return [
        f"Reduced output basis (model.output_basis): {', '.join(map(str, modes))} POD "
        f"modes of each run's training targets (with output_basis = prior: the prior's own "
        f"modes); the test targets projected on them err by "
        f"{floor:.3g} on average, the lowest error a reduced network can reach."
    ]


def _ratio_on(r: dict[str, Any], floor: dict[str, Any]) -> str:
    """``r``'s mean error on the floor's samples over the floor's ("" if it lacks some)."""
    if r is floor:
        return "1"
    errors = dict(zip(r["indices"], r.get("rel_l2", []), strict=False))
    if not all(i in errors for i in floor["indices"]):
        return ""
    return f"{statistics.fmean(errors[i] for i in floor['indices']) / floor['rel_l2_mean']:.3f}"


def _floor_note(floor: dict[str, Any]) -> str:
    """What the floor is and whether its chains converged."""
    d = floor.get("details", {})
    per = d.get("per_rank", [])
    rhat = max((x for p in per for x in p.get("rhat_max", [])), default=math.nan)
    ess = min((x for p in per for x in p.get("ess_min", [])), default=math.nan)
    mcmc = d.get("mcmc", {})
    state = "all converged" if d.get("all_converged") else "NOT all converged"
    return (
        "Floor: the posterior mean E[m | y] (no estimator has a lower mean squared error), by "
        f"HMC, {mcmc.get('chains', '?')} chains per sample; {state} (bar: R-hat < "
        f"{mcmc.get('rhat', '?')}, ESS >= {mcmc.get('ess', '?')}; worst here: R-hat "
        f"{rhat:.4f}, ESS {ess:.0f})."
    )


def _versus_cells(p: PairedResult | None, base: float) -> list[str]:
    if p is None:
        return ["", ""]
    return [
        p.relative_text(base),
        f"{p.verdict} (p = {p.p_adjusted:.2g}, P(better) = {p.p_improve:.2f})",
    ]


def resolved_best(rows: list[dict[str, Any]], strategies: list[str]) -> tuple[str | None, str]:
    """The strategy with the lowest mean error, if it is lower than every other at 95 %
    (paired), and a sentence saying so or saying what could not be resolved."""
    errors = {
        s: {int(r["seed"]): error_of(r) for r in rows if r["strategy"] == s} for s in strategies
    }
    means = {s: statistics.fmean(e.values()) for s, e in errors.items()}
    top = min(means, key=means.get)
    if len(strategies) < 2:
        return None, ""
    tied = [s for s in strategies if errors[s] == errors[top]]
    if len(tied) > 1:
        names = ", ".join(tied[:-1]) + f" and {tied[-1]}"
        return None, f"No strategy is best at 95 %: {names} tie (identical errors)."
    unresolved = []
    for s in strategies:
        if s == top:
            continue
        seeds = sorted(set(errors[top]) & set(errors[s]))
        p = paired(
            np.array([errors[top][k] for k in seeds]), np.array([errors[s][k] for k in seeds])
        )
        if p.verdict != "better":
            unresolved.append((s, p))
    if not unresolved:
        return top, f"Best: **{top}**, lower than every other strategy at 95 % (bold)."
    s, p = unresolved[0]
    return None, (
        f"No strategy is best at 95 %: {top} has the lowest mean, but {top} - {s} = "
        f"{p.relative_text(means[s])} is not resolved"
        + (f" (nor against {len(unresolved) - 1} more)" if len(unresolved) > 1 else "")
        + "."
    )


def _sweep_summary(
    rows: list[dict[str, Any]], results: list[PairedResult], against: str, sizes: list
) -> str:
    """Mean test error per strategy and training size, with the verdict against ``against``."""
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    verdict = {(p.strategy, p.train_size): p.verdict for p in results if p.against == against}
    head = ["strategy", *(f"N = {int(n)}" for n in sizes)]
    lines = tables.header(head)
    for s in strategies:
        cells = [s]
        for n in sizes:
            e = [error_of(r) for r in rows if r["strategy"] == s and r["train_size"] == n]
            v = verdict.get((s, n), "")
            note = "" if v in ("", "no difference") else f" ({v})"
            cells.append(f"{statistics.fmean(e):.4f}{note}" if e else "")
        lines.append(tables.row(cells))
    lines += [
        "",
        f"Mean test error (classification: error rate) over paired seeds per training-set size "
        f"N; (better)/(worse): resolved at 95 % against {against} (see each size below).",
        "",
    ]
    return "\n".join(lines)


def compact(
    rows: list[dict[str, Any]],
    results: list[PairedResult],
    against: str,
    refs: list[dict[str, Any] | None] = (),
) -> str:
    """The terminal's table: per training size, a line per strategy with its error (mean ±
    std over seeds), the paired difference against ``against`` with its 95 % interval, the
    verdict, the mean depth and the cost in FLOPs, then the references (MAP, floor) in a
    line each; table.md holds every column."""
    sizes = list(dict.fromkeys(r["train_size"] for r in rows))
    classes = any(_number(r.get("accuracy")) for r in rows)
    head = ["strategy", "error rate" if classes else "rel. L2 error", f"vs {against} [95 % CI]",
            "verdict", "depth", "FLOPs", "converged"]  # fmt: skip
    out = []
    for n in sizes:
        mine = [r for r in rows if r["train_size"] == n]
        versus = {p.strategy: p for p in results if p.against == against and p.train_size == n}
        base = [error_of(r) for r in mine if r["strategy"] == against]
        lines = [head]
        for s in dict.fromkeys(r["strategy"] for r in mine):
            e = [error_of(r) for r in mine if r["strategy"] == s]
            spread = f" ± {statistics.stdev(e):.4f}" if len(e) > 1 else ""
            p = versus.get(s)
            depth = [float(r["final_depth"]) for r in mine if r["strategy"] == s
                     and _number(r.get("final_depth"))]  # fmt: skip
            lines.append([
                s,
                f"{statistics.fmean(e):.4f}{spread}",
                p.relative_text(statistics.fmean(base)) if p and base else "",
                p.verdict if p else "",
                f"{statistics.fmean(depth):.1f}" if depth else "",
                _cost_cells(mine, s)[0],
                converged_cell(mine, s),
            ])  # fmt: skip
        widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
        if len(sizes) > 1:
            out.append(f"{int(n)} training samples" if _number(n) else "all training samples")
        out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                for line in lines]  # fmt: skip
        out.append("")
    for r in refs:
        if r:
            out.append(f"{r['label']}: {r['rel_l2_mean']:.4f} on {len(r['indices'])} test samples")
    return "\n".join(out).rstrip() + "\n"


def budget_key(train_size: Any, budget: str) -> str:
    """How a (training size, budget) cell is named in budget_stats.csv and the tables."""
    return f"N = {int(train_size)}, {budget}"


def budget_table(rows: list[dict[str, Any]], results: list[PairedResult], against: str) -> str:
    """Markdown: per training size, the mean test error of every strategy at every compute
    budget (the best-validation network each run had seen within it), with the verdict
    against ``against`` (Holm over the whole table)."""
    verdict = {(p.strategy, p.train_size): p for p in results if p.against == against}
    parts = ["## At equal compute", ""]
    for n in dict.fromkeys(r["train_size"] for r in rows):
        mine = [r for r in rows if r["train_size"] == n]
        budgets = sorted({(float(r["x"]), r["budget"]) for r in mine})
        lines = tables.header([f"N = {int(n)}", *(label for _, label in budgets)])
        for s in dict.fromkeys(r["strategy"] for r in mine):
            cells = [s]
            for _, label in budgets:
                at = [r for r in mine if r["strategy"] == s and r["budget"] == label]
                e = [error_of(r) for r in at]
                p = verdict.get((s, budget_key(n, label)))
                note = f" ({p.verdict})" if p and p.verdict != "no difference" else ""
                ended = sum(not int(r["reached"]) for r in at)
                done = f" [{ended}/{len(at)} ended before]" if ended else ""
                cells.append(f"{statistics.fmean(e):.4f}{note}{done}" if e else "")
            lines.append(tables.row(cells))
        parts += [*lines, ""]
    parts.append(
        "Mean test error over paired seeds of the best-validation network each run had seen "
        f'within the budget (training and decision FLOPs; "0.3x {against}": 0.3 times what '
        f"{against}'s run of the same seed and size spent), read off one run per seed: the "
        "schedule is the run's own (a cosine spans the run's epochs, not the budget). "
        f"(better)/(worse): resolved at 95 % against {against}, Holm over the whole table "
        f"({len(results)} comparisons); [k/n ended before]: runs that finished (or converged) "
        "before that budget, whose final error counts there."
    )
    return "\n".join(parts) + "\n"
