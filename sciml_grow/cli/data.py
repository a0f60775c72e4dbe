"""Data subcommands: generate, import, info, check, export (each parser beside its handler)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sciml_grow.cli.common import EXIT_INTERRUPTED, Flags, UsageError, config_dict, exit_rank


def add_generate(sub: Any, flags: Flags) -> None:
    from pde_data import registered

    p = sub.add_parser(
        "generate",
        parents=[flags.config, flags.progress],
        help="generate a PDE dataset (run under mpiexec to spread samples)",
        description="Generate a dataset into one HDF5 file; run under 'mpiexec -n P' to spread "
        "samples over P ranks (same file for any P). Re-running an interrupted command resumes.",
    )
    p.add_argument(
        "problem",
        help=f"one of: {', '.join(sorted(registered()))} (any case, - for _), or your own "
        "Problem class as package.module:Class or path/to/file.py:Class",
    )
    p.add_argument("--samples", type=int, required=True, help="number of samples N > 0")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a dataset made with another setup (only sciml-grow datasets; the old "
        "file stays until the new one is complete)",
    )
    p.add_argument("--block-size", type=int, default=128, help=argparse.SUPPRESS)
    p.set_defaults(func=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    from pde_data import require_fenicsx

    try:
        require_fenicsx()
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    from mpi4py import MPI

    from pde_data.generate import GenerationError, generate
    from sciml_grow.config import ConfigError
    from sciml_grow.outputs import OutputError

    try:
        summary = generate(
            args.problem,
            args.samples,
            args.out,
            args.seed,
            config_dict(args),
            block_size=args.block_size,
            progress=not args.no_progress,
            force=args.force,
        )
    except (GenerationError, ConfigError, OutputError) as exc:  # raised on every rank alike
        raise UsageError(str(exc)) from None
    except BaseException as exc:
        if MPI.COMM_WORLD.size == 1:
            raise
        exit_rank(MPI.COMM_WORLD, exc)  # may have hit one rank only: end the job, not hang
    if MPI.COMM_WORLD.rank == 0:
        if not summary.complete:
            done = summary.already_done + summary.written
            print(
                f"interrupted: {done} of {summary.n_samples} samples in {summary.path}; "
                "re-run the same command to resume",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        if summary.written == 0:
            print(f"{summary.path} is already complete ({summary.n_samples} samples)")
        else:
            ranks = f"{summary.ranks} rank{'s' if summary.ranks > 1 else ''}"
            print(
                f"wrote {summary.written} samples to {summary.path} on {ranks} in "
                f"{summary.seconds:.2f} s ({summary.samples_per_second:.0f} samples/s)"
                + (f"; {summary.already_done} were there already" if summary.already_done else "")
            )
    return 0 if summary.complete else EXIT_INTERRUPTED


def add_import(sub: Any, flags: Flags) -> None:
    p = sub.add_parser(
        "import",
        parents=[flags.replace],
        help="write your own arrays, or an image-classification set, as a dataset file",
        description="arrays: your inputs and targets from .npy, .npz, .csv/.txt, .mat or "
        "HDF5 files (FILE or FILE:NAME), with an optional fixed test set or split; or "
        "digits (ships with scikit-learn), MNIST IDX / CIFAR-10 python batches from a local "
        "folder (nothing is downloaded).",
    )
    p.add_argument("name", help="arrays, digits, mnist or cifar10")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--path", help="folder with the local files (mnist, cifar10)")
    a = p.add_argument_group("arrays")
    a.add_argument("--inputs", help="FILE[:NAME]: what a network maps from, (N, ...)")
    a.add_argument("--targets", help="FILE[:NAME]: what it maps to, (N, ...) or class labels")
    a.add_argument("--test-inputs", help="FILE[:NAME]: a fixed (published) test set's inputs")
    a.add_argument("--test-targets", help="FILE[:NAME]: ... and its targets")
    a.add_argument("--split", help="FILE[:NAME]: a label per sample, train/val/test or 0/1/2")
    a.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of the training part that validates where no sample is "
                   "labelled val (default 0.1)")  # fmt: skip
    a.add_argument("--seed", type=int, default=0, help="draws that validation share")
    a.add_argument("--task", default="auto", choices=("auto", "regression", "classification"),
                   help="auto: 1-D integer targets are class labels")  # fmt: skip
    a.add_argument("--header", default="auto", choices=("auto", "yes", "no"),
                   help="whether .csv/.txt files start with a row of column names; auto: "
                   "when a cell of the first row is not a number (a first row 0,1,...,k-1, "
                   "as pandas names columns, is refused as ambiguous)")  # fmt: skip
    a.add_argument("--mesh-points", help="FILE[:NAME]: mesh vertex coordinates (V, d)")
    a.add_argument("--mesh-cells", help="FILE[:NAME]: mesh cells (C, vertices per cell)")
    a.add_argument("--sensor-points", help="FILE[:NAME]: sensor coordinates (k, d)")
    a.add_argument("--problem", default="arrays", help="the name the file gives its problem")
    p.set_defaults(func=run_import)


def run_import(args: argparse.Namespace) -> int:
    from sciml_grow.data.imports import LOADERS, import_dataset
    from sciml_grow.data.info import describe

    name = args.name.lower()
    if name == "arrays":
        from sciml_grow.data.arrays import from_arrays

        if args.inputs is None or args.targets is None:
            raise UsageError("import arrays needs --inputs FILE[:NAME] and --targets FILE[:NAME]")
        out = from_arrays(
            args.inputs, args.targets, out=args.out, test_inputs=args.test_inputs,
            test_targets=args.test_targets, split=args.split, mesh_points=args.mesh_points,
            mesh_cells=args.mesh_cells, sensor_points=args.sensor_points, task=args.task,
            header=args.header, name=args.problem, val_fraction=args.val_fraction,
            seed=args.seed, force=args.force,
        )  # fmt: skip
    else:
        own = [f for f in ("inputs", "targets", "split") if getattr(args, f) is not None]
        if own and name in LOADERS:
            raise UsageError(f"--{own[0]} belongs to 'import arrays', not 'import {name}'")
        out = import_dataset(name, args.out, args.path, force=args.force)
    for line in _text_sources(out):
        print(line)
    print(describe(out))
    return 0


def _text_sources(out: Any) -> list[str]:
    """What was read of each text file an import used: its rows, and the header skipped."""
    from sciml_grow import format as fmt

    lines = []
    for what, src in fmt.read_metadata(out).config.get("sources", {}).items():
        if "rows" in src:
            head = f"header skipped ({src['header'][:60]})" if src["header"] else "no header"
            lines.append(f"read {what} from {src['path']}: {src['rows']} rows, {head}")
    return lines


def add_info(sub: Any, flags: Flags) -> None:
    p = sub.add_parser(
        "info",
        help="summarize a dataset file",
        description="Print problem, sizes, noise, prior, versions and statistics.",
    )
    p.add_argument("file", help="dataset HDF5 file")
    p.set_defaults(func=run_info)


def run_info(args: argparse.Namespace) -> int:
    from sciml_grow.data.info import describe

    print(describe(args.file))
    return 0


def add_check(sub: Any, flags: Flags) -> None:
    p = sub.add_parser(
        "check",
        help="validate a dataset file against the format",
        description="Check any HDF5 file (sciml-grow's or your own) against the dataset format: "
        "what is missing or wrong, and what the file supports (training, forward operator, "
        "reference, plots). Exit 0 if valid, 2 if not.",
    )
    p.add_argument("file", help="HDF5 file")
    p.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    from sciml_grow.format import check_file

    report = check_file(args.file)
    print(report.text())
    if not report.ok:
        raise UsageError(f"{args.file}: {report.errors[0]}")
    return 0


def add_export(sub: Any, flags: Flags) -> None:
    p = sub.add_parser(
        "export",
        parents=[flags.replace],
        help="write an XDMF file for ParaView beside a dataset or predictions file",
        description="Write FILE.xdmf pointing into the HDF5 data (nothing copied): the mesh and "
        "the per-vertex fields (targets, states, predictions) of the chosen samples, one time "
        "step per sample.",
    )
    p.add_argument("file", help="dataset HDF5 file, or a predictions file from 'predict --out'")
    p.add_argument("--samples", help="comma-separated sample indices (default: the first 10)")
    p.add_argument("--out", help="XDMF file to write (default: FILE with .xdmf)")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from sciml_grow.data.export import export_xdmf

    samples = None
    if args.samples:
        try:
            samples = [int(v) for v in args.samples.split(",") if v.strip()]
        except ValueError:
            raise UsageError(
                f"--samples must be comma-separated indices, got {args.samples!r}"
            ) from None
    out = export_xdmf(args.file, samples, args.out, force=args.force)
    print(f"wrote {out} (open it in ParaView; the fields stay in {args.file})")
    return 0


ADD = (add_generate, add_import, add_info, add_check, add_export)
