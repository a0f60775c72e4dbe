"""The ``sciml-grow`` command: one entry point, a subcommand per job.

Each subcommand's parser sits beside its handler in :mod:`.data`, :mod:`.train` and
:mod:`.study`; every handler is a thin layer over the public API (:mod:`sciml_grow.api`).

Errors a user can fix (bad arguments, bad configs, bad files, outputs that would be lost) end
with one line on stderr and exit status 2, before anything is written; an unexpected crash
exits 1 with its traceback; 130 means interrupted (Ctrl-C), and a re-run resumes.
"""

from __future__ import annotations

from collections.abc import Sequence
import sys

from sciml_grow._version import __version__
from sciml_grow.cli import data, study, train
from sciml_grow.cli.common import (
    EXIT_CRASH,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    USER_ERRORS,
    Parser,
    UsageError,
    mpi_rank_from_env,
    path_error,
    shared_flags,
)
from sciml_grow.errors import flag_names

__all__ = ["EXIT_CRASH", "EXIT_INTERRUPTED", "EXIT_USAGE", "UsageError", "build_parser", "main"]


def build_parser() -> Parser:
    """The command's parser: every subcommand of :mod:`.data`, :mod:`.train`, :mod:`.study`."""
    parser = Parser(prog="sciml-grow", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"sciml-grow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    flags = shared_flags()
    for add in (*data.ADD, *train.ADD, *study.ADD):
        add(sub, flags)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sciml-grow`` console script."""
    try:
        with flag_names():  # the API's messages name arguments as this command's flags
            args = build_parser().parse_args(argv)
            return args.func(args)
    except USER_ERRORS as exc:
        _say(f"sciml-grow: error: {exc}")
        return EXIT_USAGE
    except OSError as exc:
        line = path_error(exc)
        if line is None:
            raise
        _say(f"sciml-grow: error: {line}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _say("sciml-grow: interrupted; what was finished is kept, and re-running the command "
             "(train: --resume RUNDIR) continues from there")  # fmt: skip
        return EXIT_INTERRUPTED


def _say(line: str) -> None:
    """One line on stderr, from rank 0 only under mpiexec."""
    if mpi_rank_from_env() == 0:
        print(line, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
