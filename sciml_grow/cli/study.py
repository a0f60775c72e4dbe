"""Study subcommands: compare, transfer, map, benchmark (each parser beside its handler)."""

from __future__ import annotations

import argparse
from typing import Any

from sciml_grow.cli.common import Flags, UsageError, config_dict, print_study, run_collective, world


def add_compare(sub: Any, flags: Flags) -> None:
    p = sub.add_parser(
        "compare",
        parents=[flags.config],
        help="compare growth strategies side by side",
        description="Train every (strategy, seed) with the same split, standardization and "
        "epoch budget, add the classical reference (MAP for heat, POD least squares for wind), "
        "and write results.csv, table.md and plots. Run "
        "under 'mpiexec -n P' to spread runs over P ranks; re-run to resume.",
    )
    p.add_argument("--data", required=True, help="dataset HDF5 file")
    p.add_argument(
        "--strategies",
        default="baseline,td,random-1,random-2,net2deeper,forward-thinking,layerwise,layerwise+srl",
        help="comma-separated list",
    )
    p.add_argument(
        "--seeds", type=int, default=10, help="paired seeds per strategy and size (default 10)"
    )
    p.add_argument(
        "--train-sizes",
        metavar="N,N,...",
        help="a training-size sweep, e.g. 20,50,100,all: seed k draws N training samples (the "
        "same for every strategy) and validation scales with N; the test split is fixed",
    )
    p.add_argument(
        "--against",
        help="the strategy every other is compared with (default baseline, else the first)",
    )
    p.add_argument(
        "--all-pairs", action="store_true", help="statistics for every pair of strategies too"
    )
    p.add_argument("--out", required=True, help="comparison directory")
    p.add_argument("--epochs", type=int, help="epoch budget of every run")
    p.add_argument(
        "--reference-samples",
        "--map-samples",
        dest="reference_samples",
        type=int,
        default=100,
        help="test samples for the classical reference (0: none; default 100)",
    )
    p.add_argument(
        "--floor-samples",
        type=int,
        default=0,
        help="test samples for the Bayes floor, posterior means by MCMC, where the file's "
        "forward map allows (heat); minutes per sample (default 0: none)",
    )
    p.add_argument(
        "--budgets",
        metavar="F,F,...",
        help="compute budgets in FLOPs (1e8,1e9) or as shares of the reference strategy's "
        "FLOPs (0.1x,0.3x,1x): every strategy is also compared at each, by the "
        "best-validation network each run had seen within it",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=run_compare)


def _train_sizes(text: str | None) -> list[int | None] | None:
    """--train-sizes 20,50,all -> [20, 50, None] (None: the whole training split)."""
    if text is None:
        return None
    sizes: list[int | None] = []
    for item in (t.strip().lower() for t in text.split(",") if t.strip()):
        if item == "all":
            sizes.append(None)
            continue
        try:
            n = int(item)
        except ValueError:
            n = 0
        if n <= 0:
            raise UsageError(f"--train-sizes: {item!r} is not a positive integer or 'all'")
        sizes.append(n)
    if not sizes or len(set(sizes)) != len(sizes):
        raise UsageError(f"--train-sizes: give distinct sizes, got {text!r}")
    return sizes


def run_compare(args: argparse.Namespace) -> int:
    from sciml_grow import api

    kwargs = {
        "out": args.out,
        "seeds": args.seeds,
        "config": config_dict(args),
        "epochs": args.epochs,
        "train_sizes": _train_sizes(args.train_sizes),
        "against": args.against,
        "all_pairs": args.all_pairs,
        "reference_samples": args.reference_samples,
        "floor_samples": args.floor_samples,
        "budgets": args.budgets.split(",") if args.budgets is not None else None,
        "plots": not args.no_plots,
    }
    strategies = args.strategies.split(",")
    api.check_compare(args.data, strategies, **kwargs)  # on every rank alike: one line
    comm = world()
    result = run_collective(comm, lambda: api.compare(args.data, strategies, comm=comm, **kwargs))
    return print_study(result)


def add_transfer(sub: Any, flags: Flags) -> None:
    p = sub.add_parser(
        "transfer",
        parents=[flags.pretrained, flags.config],
        help="fine-tuning methods side by side over target set sizes",
        description="Run 'finetune' for every (method, N, seed) on N target samples (and N "
        "for validation); write results.csv, table.md and transfer.png. Run under "
        "'mpiexec -n P' to spread runs; re-run to resume.",
    )
    p.add_argument("--out", required=True, help="comparison directory")
    p.add_argument(
        "--methods",
        default="td-adapters,random-init-adapters,random-adapters,head,full,scratch",
        help="comma-separated list",
    )
    p.add_argument("--samples", default="50,100,200", help="target training-set sizes")
    p.add_argument("--seeds", type=int, default=3, help="seeds per (method, N) (default 3)")
    p.add_argument("--epochs", type=int, help="epoch budget of every run")
    p.set_defaults(func=run_transfer)


def run_transfer(args: argparse.Namespace) -> int:
    from sciml_grow import api

    try:
        sizes = [int(v) for v in args.samples.split(",")]
    except ValueError:
        raise UsageError(
            f"--samples must be comma-separated integers, got {args.samples!r}"
        ) from None
    kwargs = {
        "out": args.out,
        "methods": args.methods.split(","),
        "sizes": sizes,
        "seeds": args.seeds,
        "config": config_dict(args),
        "epochs": args.epochs,
    }
    api.check_transfer(args.run, args.data, **kwargs)  # on every rank alike: one line
    comm = world()
    result = run_collective(comm, lambda: api.transfer(args.run, args.data, comm=comm, **kwargs))
    return print_study(result)


def add_map(sub: Any, flags: Flags) -> None:
    p = sub.add_parser(
        "map",
        parents=[flags.replace],
        help="classical MAP estimates of a dataset's samples",
        description="Minimize noise-weighted misfit + prior by L-BFGS per sample.",
    )
    p.add_argument("--data", required=True, help="dataset HDF5 file")
    p.add_argument("--split", choices=["test", "all"], default="test")
    p.add_argument("--samples", type=int, default=0, help="at most this many (0: all)")
    p.add_argument("--out", help="write the MAP fields to this (new) HDF5 file")
    p.set_defaults(func=run_map)


def run_map(args: argparse.Namespace) -> int:
    from sciml_grow import api

    result, rel, idx = api.map_estimates(
        args.data, split=args.split, samples=args.samples, out=args.out, force=args.force
    )
    iterations = sum(result.iterations) / len(result.iterations)
    print(
        f"MAP on {len(idx)} {args.split} samples: relative L2 error mean {rel.mean():.4f} "
        f"median {rel.median():.4f}; {result.seconds_per_sample:.3f} s per sample, "
        f"{iterations:.0f} L-BFGS iterations on average"
    )
    if args.out:
        print(f"wrote MAP fields to {args.out}")
    return 0


def add_benchmark(sub: Any, flags: Flags) -> None:
    p = sub.add_parser(
        "benchmark",
        help="named inversion benchmarks: list them, or run one",
        description="Named, versioned benchmarks: data with a fixed stored split, a comparison "
        "protocol and a reference card (docs/benchmarks.md).",
    )
    bsub = p.add_subparsers(dest="action", required=True)
    ls = bsub.add_parser("list", help="every built-in benchmark with its card")
    ls.set_defaults(func=run_benchmark_list)
    run = bsub.add_parser(
        "run",
        help="generate a benchmark's data if missing, then run its comparison",
        description="Generate the benchmark's data (fixed seed and split, resumable; under "
        "'mpiexec -n P' on P ranks) unless it is there, check it against the benchmark's card, "
        "and run the comparison it defines into OUT/compare; re-run to resume.",
    )
    run.add_argument("name", help="a built-in benchmark's name, or the path of your own .toml")
    run.add_argument("--out", required=True, help="benchmark directory")
    run.add_argument("--data", help="the data file (default OUT/NAME-vVERSION.h5)")
    run.add_argument("--strategies", help="comma-separated: a subset of the protocol's")
    run.add_argument("--seeds", type=int, help="paired seeds (default: the protocol's)")
    run.add_argument("--train-sizes", metavar="N,N,...", help="sizes (default: the protocol's)")
    run.add_argument("--epochs", type=int, help="epoch budget of every run")
    run.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    run.set_defaults(func=run_benchmark_run)


def run_benchmark_list(args: argparse.Namespace) -> int:
    from sciml_grow.bench import BUILTIN, get_benchmark

    for name in BUILTIN:
        b = get_benchmark(name)
        d, p = b.data, b.protocol
        sizes = ", ".join(map(str, p.train_sizes)) if p.train_sizes else "all"
        print(f"{b.name} (version {b.version}): {d.problem}, {d.samples} samples, seed {d.seed}")
        print(f"  protocol: {', '.join(p.strategies)}; N = {sizes}; {p.seeds} seeds")
        print("  regime: " + " ".join(b.regime.split()))
        card = b.card
        if card is None:
            print("  card: not measured yet")
        else:
            print("  card: " + ", ".join(f"{k} {v:.4g}" for k, v in card["errors"].items()))
    return 0


def run_benchmark_run(args: argparse.Namespace) -> int:
    from sciml_grow import api

    comm = world()
    strategies = args.strategies.split(",") if args.strategies is not None else None
    result = run_collective(
        comm,
        lambda: api.run_benchmark(
            args.name, out=args.out, data=args.data, strategies=strategies, seeds=args.seeds,
            train_sizes=_train_sizes(args.train_sizes), epochs=args.epochs,
            plots=not args.no_plots, progress=False, comm=comm,
        ),
    )  # fmt: skip
    return print_study(result)


ADD = (add_compare, add_transfer, add_map, add_benchmark)
