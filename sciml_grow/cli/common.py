"""What every subcommand shares: exit codes, one-line errors, shared flags, MPI helpers."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import errno
import os
import sys
import time

from sciml_grow.config import apply_overrides, load_file
from sciml_grow.errors import UserError

EXIT_CRASH = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(UserError):
    """Bad command-line input."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        command = self.prog.partition(" ")[2]
        raise UsageError(f"{command + ': ' if command else ''}{message} (see --help)")


# errors a user can fix: one line, exit 2 (config, file, output, memory, divergence); any
# other exception is a bug and keeps its traceback
USER_ERRORS = (UserError,)
# what the system says of a path a user can fix (full disk, permissions, names): one line too
PATH_ERRNOS = frozenset(
    {
        errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENAMETOOLONG,
        errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENOTEMPTY,
    }
)  # fmt: skip


def path_error(exc: OSError) -> str | None:
    """One line for an OSError about a path the user can fix, else None (a crash)."""
    if exc.errno not in PATH_ERRNOS:
        return None
    where = f"{exc.filename}: " if exc.filename else ""
    hint = (
        " (free some space; a re-run resumes)" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
    )
    return f"{where}{exc.strerror or exc}{hint}"


USER_ERROR_DELAY_S = 3.0  # a rank other than 0 waits so long before saying a user error


def exit_rank(comm, exc: BaseException) -> None:
    """End this rank of an MPI job after ``exc`` hit it alone (the others may wait in a
    collective call): the one-line error (and for a crash its traceback) is flushed first,
    and the exit status says what happened. ``MPI_Abort`` (its own banner silenced) carries
    that status to mpiexec, which stops the other ranks: a plain exit races their SIGKILL,
    and hydra then reports signal 9 instead (seen once in ~50 runs). A user error that every
    rank hits (a bad value, a refused card) is said once: the other ranks wait before saying
    it, and rank 0's abort ends them first; an error of theirs alone is still said."""
    if isinstance(exc, KeyboardInterrupt):
        code = EXIT_INTERRUPTED
    elif isinstance(exc, USER_ERRORS):
        code = EXIT_USAGE
        if comm.rank != 0:
            time.sleep(USER_ERROR_DELAY_S)
        print(f"sciml-grow: error: {exc}", file=sys.stderr)
    else:
        import traceback

        code = EXIT_CRASH
        traceback.print_exc()
        print(f"sciml-grow: error (rank {comm.rank}): {type(exc).__name__}: {exc}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(0.5)  # let mpiexec forward those lines: an abort may drop what it has not read
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    comm.Abort(code)
    os._exit(code)  # not reached: Abort ends the process


def mpi_rank_from_env() -> int:
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        if var in os.environ:
            return int(os.environ[var])
    return 0


def config_dict(args: argparse.Namespace) -> dict:
    data = load_file(args.config) if args.config else {}
    return apply_overrides(data, args.set or [])


@dataclass(frozen=True)
class Flags:
    """Flags several subcommands share, defined once (argparse parents): config, device,
    progress, and --force for single-file outputs."""

    config: argparse.ArgumentParser
    device: argparse.ArgumentParser
    progress: argparse.ArgumentParser
    replace: argparse.ArgumentParser
    pretrained: argparse.ArgumentParser  # finetune and transfer: a run and target data


def shared_flags() -> Flags:
    """The shared flags' parent parsers."""
    config = Parser(add_help=False)
    config.add_argument("--config", metavar="FILE", help="JSON or TOML file with config values")
    config.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set prior.correlation_length=0.2 (repeatable)",
    )
    device = Parser(add_help=False)
    device.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    progress = Parser(add_help=False)
    progress.add_argument("--no-progress", action="store_true", help="no progress bars")
    replace = Parser(add_help=False)
    replace.add_argument(
        "--force",
        action="store_true",
        help="replace an output file sciml-grow wrote (never an input or a foreign file)",
    )
    pretrained = Parser(add_help=False)
    pretrained.add_argument("--run", required=True, help="pretrained run directory")
    pretrained.add_argument("--data", required=True, help="target dataset HDF5 file")
    return Flags(config, device, progress, replace, pretrained)


def run_collective(comm, fn, lock=None):
    """``fn()`` on every rank, holding ``lock`` (rank 0) until it returns; an error that hit
    only some ranks ends the job (no hang) after the lock is released."""
    try:
        return fn()
    except BaseException as exc:
        if comm is None:
            raise
        if lock:
            lock.release()
        exit_rank(comm, exc)
    finally:
        if lock:
            lock.release()


def world():
    """MPI.COMM_WORLD when started under mpiexec (several ranks), else None."""
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    return MPI.COMM_WORLD if MPI.COMM_WORLD.size > 1 else None


def print_study(result) -> int:
    """What compare and transfer print on rank 0 (None elsewhere): the table, then where the
    runs, results and plots are."""
    if result is None:
        return 0
    out = result.out
    print()
    print(result.summary or result.table)
    every = " (every column, notes and the references' ratios)" if result.summary else ""
    print(f"{len(result.rows)} runs in {out / 'runs'}; results: {out / 'results.csv'}, "
          f"{out / 'table.md'}{every}")  # fmt: skip
    if result.plots:
        print("plots: " + ", ".join(str(p) for p in result.plots))
    return 0
