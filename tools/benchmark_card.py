"""Measure a benchmark's reference card from a finished ``sciml-grow benchmark run``.

    .venv/bin/python tools/benchmark_card.py OUT [--command "the command that made OUT"]

Reads OUT (``benchmark.json``: which benchmark; its data file; OUT/compare: results.csv,
linear.json, reference.json, floor.json) and writes the card twice:
``sciml_grow/bench/cards/NAME.json`` (what runs are checked against: version, the data's
SHA-256 and numeric summary, the errors) and ``benchmarks/cards/NAME.md`` (for
people). At the largest training size it records the Bayes floor (posterior mean by MCMC, on its
samples) where it was computed, the classical reference (MAP, 4D-Var or POD least squares, on its
samples), ridge and the best network (lowest mean test error over the seeds), the ratios
ridge / floor and network / floor (against the classical reference where there is no floor,
on the same samples), and the sizes at which ridge and the best network cross.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path
import statistics
import sys

ROOT = Path(__file__).resolve().parents[1]


def card(out: Path, command: str) -> dict:
    from sciml_grow import api
    from sciml_grow.bench import data_summary, get_benchmark
    from sciml_grow.inverse.references import read_reference
    from sciml_grow.study.compare import read_results
    from sciml_grow.study.linear import read_linear
    from sciml_grow.study.stats import error_of

    setup = json.loads((out / "compare" / "compare.json").read_text())
    record = json.loads((out / "benchmark.json").read_text())  # written by benchmark run
    data, version = Path(record["data"]), record["version"]
    bench = get_benchmark(record["benchmark"])
    dataset = api.load(data)
    rows = read_results(out / "compare" / "results.csv")
    linear = read_linear(out / "compare") or []
    sizes = sorted({int(r["train_size"]) for r in rows})
    full = sizes[-1]

    def mean_error(strategy: str, n: int, key: str | None = None) -> float:
        pick = [r for r in rows + linear if r["strategy"] == strategy and int(r["train_size"]) == n]
        return statistics.fmean(float(r[key]) if key else error_of(r) for r in pick)

    networks = sorted({r["strategy"] for r in rows})
    best = min(networks, key=lambda s: mean_error(s, full))
    ridge = next(r["strategy"] for r in linear) if linear else None
    errors = {f"network ({best})": mean_error(best, full)}
    if ridge:
        errors["ridge"] = mean_error(ridge, full)
    ratios, references = {}, {}
    for stem in ("floor", "reference"):
        ref = read_reference(out / "compare", stem)
        if not ref:
            continue
        key = f"rel_l2_on_{stem}_samples"
        references[stem] = {"label": ref["label"], "rel_l2": ref["rel_l2_mean"],
                            "samples": len(ref["indices"])}  # fmt: skip
        errors[ref["label"]] = ref["rel_l2_mean"]
        ratios[f"network / {stem}"] = mean_error(best, full, key) / ref["rel_l2_mean"]
        if ridge and any(r.get(key) is not None for r in linear):
            ratios[f"ridge / {stem}"] = mean_error(ridge, full, key) / ref["rel_l2_mean"]
    crossing = [n for n in sizes if ridge and mean_error(best, n) < mean_error(ridge, n)]
    return {
        "name": bench.name,
        "version": int(version),
        "data_sha256": dataset.fingerprint,
        "data_summary": data_summary(dataset),  # another machine's rounding: within 1e-6
        "data_versions": dataset.meta.versions,
        "command": command,
        "measured": datetime.date.today().isoformat(),
        "train_sizes": sizes,
        "test_samples": len(dataset.splits["test"]),
        "seeds": int(setup["seeds"]),
        "errors": errors,
        "references": references,
        "ratios": ratios,
        "network_beats_ridge_from": crossing[0] if crossing else None,
        "regime": " ".join(bench.regime.split()),
    }


def markdown(c: dict) -> str:
    lines = [
        f"# Benchmark card: {c['name']} (version {c['version']})",
        "",
        c["regime"],
        "",
        f"Measured {c['measured']} with `{c['command']}`; {c['seeds']} seeds, training sizes "
        f"{', '.join(map(str, c['train_sizes']))}, {c['test_samples']} test samples (the split "
        f"stored in the data); data SHA-256 `{c['data_sha256'][:16]}...`.",
        "",
        f"| at N = {c['train_sizes'][-1]} | mean test relative L2 error |",
        "|---|---|",
        *(f"| {k} | {v:.4f} |" for k, v in c["errors"].items()),
        "",
    ]
    for stem, ref in c["references"].items():
        lines.append(f"- {stem}: {ref['label']} on {ref['samples']} test samples.")
    for k, v in c["ratios"].items():
        lines.append(f"- {k} (on the same samples): {v:.3f}")
    if c.get("data_summary_from"):
        lines.append(f"- data summary (the check across machines) from {c['data_summary_from']}")
    cross = c["network_beats_ridge_from"]
    sizes = ", ".join(map(str, c["train_sizes"]))
    lines.append(
        f"- training sizes measured: {sizes}; the best network beats ridge "
        + (f"from N = {cross} on" if cross else "at none of them")
    )
    return "\n".join(lines) + "\n"


def add_summary(name: str, data: Path) -> dict:
    """A card measured before cards held a data summary gets one from ``data``, the benchmark's
    data generated here. Only for data of the generator code the card was measured with (a
    rounding difference is all the SHA-256 may show): the tool cannot tell, the caller checks."""
    from sciml_grow import api
    from sciml_grow.bench import data_summary, get_benchmark

    c = get_benchmark(name).card
    dataset = api.load(data)
    c["data_summary"] = data_summary(dataset)
    c["data_summary_from"] = (
        "the card's data" if dataset.fingerprint == c["data_sha256"] else
        f"the same generator and seed run on another machine on {datetime.date.today()} "
        "(SHA-256 " + dataset.fingerprint[:16] + "...), with the generator code of the card"
    )  # fmt: skip
    return c


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="a finished benchmark run, or with --summary-of "
                        "the benchmark's data file")  # fmt: skip
    parser.add_argument("--command", default="")
    parser.add_argument(
        "--summary-of",
        metavar="NAME",
        help="only add a data summary to NAME's card, from the data file OUT",
    )
    args = parser.parse_args()
    c = add_summary(args.summary_of, args.out) if args.summary_of else card(args.out, args.command)
    (ROOT / "sciml_grow" / "bench" / "cards" / f"{c['name']}.json").write_text(
        json.dumps(c, indent=1) + "\n"
    )
    md = ROOT / "benchmarks" / "cards" / f"{c['name']}.md"
    md.parent.mkdir(exist_ok=True)
    md.write_text(markdown(c))
    print(markdown(c))
    return 0


if __name__ == "__main__":
    sys.exit(main())
