"""The ``sciml-grow`` command: one entry point, a subcommand per job.

Errors a user can fix (bad arguments, bad configs, bad files) end with one line on stderr and
exit status 2; nothing else is printed for them.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import os
import sys

from sciml_grow.config import ConfigError, apply_overrides, load_file
from sciml_grow.h5format import DatasetError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad command-line input."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _mpi_rank_from_env() -> int:
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        if var in os.environ:
            return int(os.environ[var])
    return 0


def _config_dict(args: argparse.Namespace) -> dict:
    data = load_file(args.config) if args.config else {}
    return apply_overrides(data, args.set or [])


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="JSON or TOML file with config values")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set prior.correlation_length=0.2 (repeatable)",
    )


def _cmd_generate(args: argparse.Namespace) -> int:
    from pde_data import require_fenicsx

    try:
        require_fenicsx()
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    from mpi4py import MPI

    from pde_data.generate import GenerationError, generate

    try:
        summary = generate(
            args.problem,
            args.samples,
            args.out,
            args.seed,
            _config_dict(args),
            block_size=args.block_size,
            progress=not args.no_progress,
            force=args.force,
        )
    except GenerationError as exc:
        raise UsageError(str(exc)) from None
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
            print(
                f"wrote {summary.written} samples to {summary.path} on {summary.ranks} ranks in "
                f"{summary.seconds:.2f} s ({summary.samples_per_second:.0f} samples/s)"
                + (f"; {summary.already_done} were there already" if summary.already_done else "")
            )
    return 0 if summary.complete else EXIT_INTERRUPTED


def _cmd_info(args: argparse.Namespace) -> int:
    from sciml_grow.info import describe

    print(describe(args.file))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from pde_data import PROBLEMS

    parser = _Parser(prog="sciml-grow", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser(
        "generate",
        help="generate a PDE dataset (run under mpiexec to spread samples)",
        description="Generate a dataset into one HDF5 file; run under 'mpiexec -n P' to spread "
        "samples over P ranks (same file for any P). Re-running an interrupted command resumes.",
    )
    p.add_argument("problem", help=f"one of: {', '.join(sorted(PROBLEMS))}")
    p.add_argument("--samples", type=int, required=True, help="number of samples N > 0")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    _add_config_args(p)
    p.add_argument("--force", action="store_true", help="replace an existing different file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--block-size", type=int, default=128, help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser(
        "info",
        help="summarize a dataset file",
        description="Print problem, sizes, noise, prior, versions and statistics.",
    )
    p.add_argument("file", help="dataset HDF5 file")
    p.set_defaults(func=_cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sciml-grow`` console script."""
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except (UsageError, ConfigError, DatasetError, ValueError) as exc:
        if _mpi_rank_from_env() == 0:
            print(f"sciml-grow: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
