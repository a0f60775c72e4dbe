"""The ``sciml-grow`` command: one entry point, a subcommand per job.

Errors a user can fix (bad arguments, bad configs, bad files, outputs that would be lost) end
with one line on stderr and exit status 2, before anything is written; an unexpected crash
exits 1 with its traceback; 130 means interrupted (Ctrl-C), and a re-run resumes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import errno
import json
import os
import sys
import time

from sciml_grow._version import __version__
from sciml_grow.config import apply_overrides, load_file
from sciml_grow.errors import UserError, flag_names

EXIT_CRASH = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(UserError):
    """Bad command-line input."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        command = self.prog.partition(" ")[2]
        raise UsageError(f"{command + ': ' if command else ''}{message} (see --help)")


# errors a user can fix: one line, exit 2 (config, file, output, memory, divergence); any
# other exception is a bug and keeps its traceback
_USER_ERRORS = (UserError,)
# what the system says of a path a user can fix (full disk, permissions, names): one line too
_PATH_ERRNOS = frozenset(
    {
        errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENAMETOOLONG,
        errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENOTEMPTY,
    }
)  # fmt: skip


def _path_error(exc: OSError) -> str | None:
    """One line for an OSError about a path the user can fix, else None (a crash)."""
    if exc.errno not in _PATH_ERRNOS:
        return None
    where = f"{exc.filename}: " if exc.filename else ""
    hint = (
        " (free some space; a re-run resumes)" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
    )
    return f"{where}{exc.strerror or exc}{hint}"


def _exit_rank(comm, exc: BaseException) -> None:
    """End this rank of an MPI job after ``exc`` hit it alone (the others may wait in a
    collective call): the one-line error (and for a crash its traceback) is flushed first,
    and the exit status says what happened. ``MPI_Abort`` (its own banner silenced) carries
    that status to mpiexec, which stops the other ranks: a plain exit races their SIGKILL,
    and hydra then reports signal 9 instead (seen once in ~50 runs)."""
    if isinstance(exc, KeyboardInterrupt):
        code = EXIT_INTERRUPTED
    elif isinstance(exc, _USER_ERRORS):
        code = EXIT_USAGE
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


def _mpi_rank_from_env() -> int:
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        if var in os.environ:
            return int(os.environ[var])
    return 0


def _config_dict(args: argparse.Namespace) -> dict:
    data = load_file(args.config) if args.config else {}
    return apply_overrides(data, args.set or [])


def _shared_flags() -> tuple[argparse.ArgumentParser, ...]:
    """Flags several subcommands share, defined once (argparse parents): config, device,
    progress, and --force for single-file outputs."""
    config = _Parser(add_help=False)
    config.add_argument("--config", metavar="FILE", help="JSON or TOML file with config values")
    config.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one config value, e.g. --set prior.correlation_length=0.2 (repeatable)",
    )
    device = _Parser(add_help=False)
    device.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    progress = _Parser(add_help=False)
    progress.add_argument("--no-progress", action="store_true", help="no progress bars")
    replace = _Parser(add_help=False)
    replace.add_argument(
        "--force",
        action="store_true",
        help="replace an output file sciml-grow wrote (never an input or a foreign file)",
    )
    return config, device, progress, replace


def _cmd_generate(args: argparse.Namespace) -> int:
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
            _config_dict(args),
            block_size=args.block_size,
            progress=not args.no_progress,
            force=args.force,
        )
    except (GenerationError, ConfigError, OutputError) as exc:  # raised on every rank alike
        raise UsageError(str(exc)) from None
    except BaseException as exc:
        if MPI.COMM_WORLD.size == 1:
            raise
        _exit_rank(MPI.COMM_WORLD, exc)  # may have hit one rank only: end the job, not hang
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


def _cmd_info(args: argparse.Namespace) -> int:
    from sciml_grow.data.info import describe

    print(describe(args.file))
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from sciml_grow.format import check_file

    report = check_file(args.file)
    print(report.text())
    if not report.ok:
        raise UsageError(f"{args.file}: {report.errors[0]}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
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


def _cmd_finetune(args: argparse.Namespace) -> int:
    """``train`` with strategy finetune: the options fill finetune.* and the few-shot split."""
    if args.samples is not None and args.samples <= 0:
        raise UsageError(f"--samples must be positive, got {args.samples}")
    sets = [
        "strategy=finetune",
        f"finetune.pretrained={json.dumps(str(args.run))}",
        f"finetune.method={json.dumps(args.method.lower())}",
        f"finetune.adapters={args.adapters}",
    ]
    if args.samples is not None:  # validate on as many samples as there are to train on
        sets += [f"data.max_train={args.samples}", f"data.max_val={args.samples}"]
    args.set = sets + list(args.set or [])
    args.strategy, args.baseline_from, args.resume = None, None, None
    return _cmd_train(args)


def _run_collective(comm, fn, lock=None):
    """``fn()`` on every rank, holding ``lock`` (rank 0) until it returns; an error that hit
    only some ranks ends the job (no hang) after the lock is released."""
    try:
        return fn()
    except BaseException as exc:
        if comm is None:
            raise
        if lock:
            lock.release()
        _exit_rank(comm, exc)
    finally:
        if lock:
            lock.release()


def _cmd_transfer(args: argparse.Namespace) -> int:
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
        "config": _config_dict(args),
        "epochs": args.epochs,
    }
    api.check_transfer(args.run, args.data, **kwargs)  # on every rank alike: one line
    comm = _world()
    result = _run_collective(comm, lambda: api.transfer(args.run, args.data, comm=comm, **kwargs))
    return _print_study(result)


def _print_study(result) -> int:
    """What compare and transfer print on rank 0 (None elsewhere): the table, then where the
    runs, results and plots are."""
    if result is None:
        return 0
    out = result.out
    print()
    print(result.table)
    print(f"{len(result.rows)} runs in {out / 'runs'}; results: {out / 'results.csv'}, "
          f"{out / 'table.md'}")  # fmt: skip
    if result.plots:
        print("plots: " + ", ".join(str(p) for p in result.plots))
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
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
            name=args.problem, val_fraction=args.val_fraction, seed=args.seed, force=args.force,
        )  # fmt: skip
    else:
        own = [f for f in ("inputs", "targets", "split") if getattr(args, f) is not None]
        if own and name in LOADERS:
            raise UsageError(f"--{own[0]} belongs to 'import arrays', not 'import {name}'")
        out = import_dataset(name, args.out, args.path, force=args.force)
    print(describe(out))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from sciml_grow import api
    from sciml_grow.config import from_dict
    from sciml_grow.training.config import TrainConfig

    device = api.check_device(args.device)
    if args.resume:
        return _resume(args, device)
    if not args.data or not args.out:
        raise UsageError("train needs --data FILE and --out RUNDIR (or --resume RUNDIR)")
    raw = _config_dict(args)
    for key in ("strategy", "seed", "epochs"):
        if getattr(args, key) is not None:
            raw[key] = getattr(args, key)
    if args.strategy:
        raw["strategy"] = args.strategy.lower()
    if args.baseline_from:
        raw["baseline_from"] = args.baseline_from
    model = api.fit(
        args.data,
        from_dict(TrainConfig, raw),
        out=args.out,
        force=args.force,
        device=device,
        progress=not args.no_progress,
    )
    _print_final(model.final, model.run_dir)
    return 0


def _print_final(final: dict, path) -> None:
    from sciml_grow.training.evaluation import headline

    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun: rank 0 speaks for the run
        return
    print(
        f"{final['strategy']} seed {final['seed']}: {headline(final)}, depth "
        f"{final['final_depth']}, {final['n_params']} params, {final['wall_seconds']:.1f} s "
        f"-> {path}"
    )


def _resume(args: argparse.Namespace, device: str) -> int:
    """Continue an interrupted run exactly as it was configured, on the data it began with;
    only a larger or smaller epoch budget may be applied, and is reported."""
    from sciml_grow import api
    from sciml_grow.training.rundir import RunDir

    fixed = {
        "--strategy": args.strategy,
        "--seed": args.seed,
        "--set": args.set,
        "--config": args.config,
        "--baseline-from": args.baseline_from,
        "--out": args.out,
        "--force": args.force or None,
    }
    given = [flag for flag, value in fixed.items() if value is not None]
    if given:
        raise UsageError(
            f"--resume continues a run as it was configured; {given[0]} cannot change it "
            "(start a new run with --out)"
        )
    run = RunDir(args.resume)
    if run.exists() and run.finished() and args.epochs is None:
        print(f"{run.path} is already finished; see {run.path / 'final.json'}")
        return 0
    model = api.resume(
        args.resume, data=args.data, epochs=args.epochs, device=device,
        progress=not args.no_progress,
    )  # fmt: skip
    _print_final(model.final, model.run_dir)
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from sciml_grow import api
    from sciml_grow.training.evaluation import headline

    pred, summary = api.predict_file(
        args.run, args.data, out=args.out, force=args.force, device=args.device,
        split=args.split,
    )  # fmt: skip
    if summary is not None:
        print(f"{len(pred)} samples: " + headline({"test": summary}))
    else:
        print(f"{len(pred)} samples predicted (no targets in {args.data} to score against)")
    if args.out:
        print(f"wrote predictions {tuple(pred.shape)} to {args.out}")
    return 0


def _world():
    """MPI.COMM_WORLD when started under mpiexec (several ranks), else None."""
    try:
        from mpi4py import MPI
    except ImportError:
        return None
    return MPI.COMM_WORLD if MPI.COMM_WORLD.size > 1 else None


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


def _cmd_compare(args: argparse.Namespace) -> int:
    from sciml_grow import api

    kwargs = {
        "out": args.out,
        "seeds": args.seeds,
        "config": _config_dict(args),
        "epochs": args.epochs,
        "train_sizes": _train_sizes(args.train_sizes),
        "against": args.against,
        "all_pairs": args.all_pairs,
        "reference_samples": args.reference_samples,
        "floor_samples": args.floor_samples,
        "plots": not args.no_plots,
    }
    strategies = args.strategies.split(",")
    api.check_compare(args.data, strategies, **kwargs)  # on every rank alike: one line
    comm = _world()
    result = _run_collective(comm, lambda: api.compare(args.data, strategies, comm=comm, **kwargs))
    return _print_study(result)


def _cmd_map(args: argparse.Namespace) -> int:
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


def build_parser() -> argparse.ArgumentParser:
    from pde_data import registered
    from sciml_grow.growth import STRATEGIES

    parser = _Parser(prog="sciml-grow", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"sciml-grow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    config, device, progress, replace = _shared_flags()

    p = sub.add_parser(
        "generate",
        parents=[config, progress],
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
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser(
        "finetune",
        parents=[device, config, progress],
        help="adapt a pretrained run to a (small) target data set",
        description="Transfer learning: start from a finished run's best network; td-adapters "
        "inserts topological-derivative-initialized blocks into the frozen network and trains "
        "them and the head; compare with random-init-adapters, random-adapters, head, full.",
    )
    p.add_argument("--run", required=True, help="pretrained run directory")
    p.add_argument("--data", required=True, help="target dataset HDF5 file")
    p.add_argument("--out", required=True, help="run directory to create")
    p.add_argument(
        "--method",
        default="td-adapters",
        help="td-adapters (default), random-init-adapters, random-adapters, head or full",
    )
    p.add_argument("--adapters", type=int, default=2, help="blocks to insert (default 2)")
    p.add_argument(
        "--samples", type=int, help="train on N target samples and validate on N (few-shot)"
    )
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--epochs", type=int, help="epoch budget")
    p.add_argument("--force", action="store_true", help="replace an existing run directory")
    p.set_defaults(func=_cmd_finetune)

    p = sub.add_parser(
        "transfer",
        parents=[config],
        help="fine-tuning methods side by side over target set sizes",
        description="Run 'finetune' for every (method, N, seed) on N target samples (and N "
        "for validation); write results.csv, table.md and transfer.png. Run under "
        "'mpiexec -n P' to spread runs; re-run to resume.",
    )
    p.add_argument("--run", required=True, help="pretrained run directory")
    p.add_argument("--data", required=True, help="target dataset HDF5 file")
    p.add_argument("--out", required=True, help="comparison directory")
    p.add_argument(
        "--methods",
        default="td-adapters,random-init-adapters,random-adapters,head,full,scratch",
        help="comma-separated list",
    )
    p.add_argument("--samples", default="50,100,200", help="target training-set sizes")
    p.add_argument("--seeds", type=int, default=3, help="seeds per (method, N) (default 3)")
    p.add_argument("--epochs", type=int, help="epoch budget of every run")
    p.set_defaults(func=_cmd_transfer)

    p = sub.add_parser(
        "import",
        parents=[replace],
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
    a.add_argument("--mesh-points", help="FILE[:NAME]: mesh vertex coordinates (V, d)")
    a.add_argument("--mesh-cells", help="FILE[:NAME]: mesh cells (C, vertices per cell)")
    a.add_argument("--sensor-points", help="FILE[:NAME]: sensor coordinates (k, d)")
    a.add_argument("--problem", default="arrays", help="the name the file gives its problem")
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser(
        "info",
        help="summarize a dataset file",
        description="Print problem, sizes, noise, prior, versions and statistics.",
    )
    p.add_argument("file", help="dataset HDF5 file")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "check",
        help="validate a dataset file against the format",
        description="Check any HDF5 file (sciml-grow's or your own) against the dataset format: "
        "what is missing or wrong, and what the file supports (training, forward operator, "
        "reference, plots). Exit 0 if valid, 2 if not.",
    )
    p.add_argument("file", help="HDF5 file")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser(
        "export",
        parents=[replace],
        help="write an XDMF file for ParaView beside a dataset or predictions file",
        description="Write FILE.xdmf pointing into the HDF5 data (nothing copied): the mesh and "
        "the per-vertex fields (targets, states, predictions) of the chosen samples, one time "
        "step per sample.",
    )
    p.add_argument("file", help="dataset HDF5 file, or a predictions file from 'predict --out'")
    p.add_argument("--samples", help="comma-separated sample indices (default: the first 10)")
    p.add_argument("--out", help="XDMF file to write (default: FILE with .xdmf)")
    p.set_defaults(func=_cmd_export)
    p = sub.add_parser(
        "train",
        parents=[device, config, progress],
        help="train a network that grows by a strategy",
        description="Train one (strategy, seed) run into a run directory (config.json, "
        "metrics.csv, growth_events.csv, checkpoint.pt, best.pt, final.json).",
    )
    p.add_argument("--data", help="dataset HDF5 file")
    p.add_argument(
        "--strategy",
        help=f"one of {', '.join(s for s in STRATEGIES if s != 'finetune')} (default td; "
        "'sciml-grow finetune' for transfer)",
    )
    p.add_argument("--out", help="run directory to create")
    p.add_argument(
        "--resume",
        metavar="RUNDIR",
        help="continue an interrupted run as configured, on the data it began with "
        "(--epochs may change the budget)",
    )
    p.add_argument("--seed", type=int, help="training seed (default 0)")
    p.add_argument("--epochs", type=int, help="total epoch budget")
    p.add_argument(
        "--baseline-from",
        metavar="RUNDIR",
        help="baseline: train this finished run's architecture from scratch",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a run directory sciml-grow made (swapped in when the new run finishes)",
    )
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "predict",
        parents=[replace, device],
        help="predict with a trained run",
        description="Rebuild a run's kept network and predict a dataset's fields.",
    )
    p.add_argument("--run", required=True, help="finished run directory")
    p.add_argument("--data", required=True, help="dataset HDF5 file")
    p.add_argument("--out", help="write predictions to this (new) HDF5 file")
    p.add_argument("--split", default="all", choices=("all", "test"),
                   help="test: only the file's test part (its stored split, else the run's "
                   "seeded split of it)")  # fmt: skip
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser(
        "compare",
        parents=[config],
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
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser(
        "map",
        parents=[replace],
        help="classical MAP estimates of a dataset's samples",
        description="Minimize noise-weighted misfit + prior by L-BFGS per sample.",
    )
    p.add_argument("--data", required=True, help="dataset HDF5 file")
    p.add_argument("--split", choices=["test", "all"], default="test")
    p.add_argument("--samples", type=int, default=0, help="at most this many (0: all)")
    p.add_argument("--out", help="write the MAP fields to this (new) HDF5 file")
    p.set_defaults(func=_cmd_map)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sciml-grow`` console script."""
    try:
        with flag_names():  # the API's messages name arguments as this command's flags
            args = build_parser().parse_args(argv)
            return args.func(args)
    except _USER_ERRORS as exc:
        _say(f"sciml-grow: error: {exc}")
        return EXIT_USAGE
    except OSError as exc:
        line = _path_error(exc)
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
    if _mpi_rank_from_env() == 0:
        print(line, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
