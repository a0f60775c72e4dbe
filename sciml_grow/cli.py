"""The ``sciml-grow`` command: one entry point, a subcommand per job.

Errors a user can fix (bad arguments, bad configs, bad files, outputs that would be lost) end
with one line on stderr and exit status 2, before anything is written; an unexpected crash
exits 1 with its traceback; 130 means interrupted (Ctrl-C), and a re-run resumes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import json
import os
import sys
import time

from sciml_grow import __version__
from sciml_grow.config import ConfigError, apply_overrides, load_file
from sciml_grow.format import DatasetError

EXIT_CRASH = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad command-line input."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line instead of usage + message
        command = self.prog.partition(" ")[2]
        raise UsageError(f"{command + ': ' if command else ''}{message} (see --help)")


# errors a user can fix: one line, exit 2 (config, file, output, memory, divergence)
_USER_ERRORS = (UsageError, ConfigError, DatasetError, ValueError)


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


def _training_config_dict(args: argparse.Namespace) -> dict:
    """A training config from --config/--set; computed keys cannot be given."""
    raw = _config_dict(args)
    if "baseline_spec" in raw:
        raise UsageError("baseline_spec is taken from --baseline-from's run; do not set it")
    return raw


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


def _comparison_dir(out: str, inputs: tuple) -> None:
    """A comparison directory to create or resume: a folder that is new, empty or already a
    comparison (it has runs/), never a file or an input."""
    from pathlib import Path

    from sciml_grow.outputs import OutputLock, check_not_input, check_parent

    path = Path(out)
    check_not_input(path, inputs)
    OutputLock(path).check_free()
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {path} is a file, not a comparison directory")
    if not path.exists():
        check_parent(path)
    elif any(path.iterdir()) and not (path / "runs").is_dir():
        raise UsageError(
            f"--out {path} is a folder that holds no comparison (no runs/); choose another"
        )


def _locked_on_root(comm, out: str):
    """An exclusive lock on a comparison directory, held by rank 0 (None elsewhere); every
    rank raises if another process holds it."""
    from pathlib import Path

    from sciml_grow.outputs import OutputError, OutputLock

    lock, error = None, None
    if comm is None or comm.rank == 0:
        try:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            lock = OutputLock(out).acquire()
        except OutputError as exc:
            error = str(exc)
    if comm is not None:
        error = comm.bcast(error, root=0)
    if error:
        raise UsageError(error)
    return lock


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
    from pathlib import Path

    from sciml_grow.study.plots import transfer_curves
    from sciml_grow.study.transfer import transfer
    from sciml_grow.training.config import FINETUNE_METHODS

    methods = [m.strip().lower() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in (*FINETUNE_METHODS, "scratch")]
    if not methods or unknown:
        raise UsageError(
            f"--methods: unknown {', '.join(unknown) or '(none given)'} "
            f"(choices: {', '.join(FINETUNE_METHODS)}, scratch)"
        )
    try:
        sizes = [int(v) for v in args.samples.split(",")]
    except ValueError:
        raise UsageError(
            f"--samples must be comma-separated integers, got {args.samples!r}"
        ) from None
    if not sizes or min(sizes) <= 0 or args.seeds <= 0:
        raise UsageError("--samples and --seeds must be positive")
    base = _training_config_dict(args)
    if args.epochs is not None:
        base["epochs"] = args.epochs
    _comparison_dir(args.out, (args.data, args.run))
    comm = _world()
    lock = _locked_on_root(comm, args.out)
    rows = _run_collective(
        comm,
        lambda: transfer(args.run, args.data, methods, sizes, args.seeds, args.out, base, comm),
        lock,
    )
    if comm is not None and comm.rank != 0:
        return 0
    out = Path(args.out)
    plot = transfer_curves(out)
    print()
    print((out / "table.md").read_text())
    print(f"{len(rows)} runs in {out / 'runs'}; results: {out / 'results.csv'}; plot: {plot}")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from sciml_grow.data.imports import import_dataset
    from sciml_grow.data.info import describe

    out = import_dataset(args.name.lower(), args.out, args.path, force=args.force)
    print(describe(out))
    return 0


def _device(name: str) -> str:
    import torch

    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: CUDA is not available on this machine")
    if name != "cpu" and not name.startswith("cuda"):
        raise UsageError(f"--device must be cpu or cuda[:N], got {name!r}")
    return name


def _cmd_train(args: argparse.Namespace) -> int:
    from sciml_grow.config import from_dict
    from sciml_grow.data.dataset import Dataset
    from sciml_grow.outputs import OutputLock
    from sciml_grow.resources import check_memory
    from sciml_grow.training.config import TrainConfig
    from sciml_grow.training.rundir import RunDir, check_run_output
    from sciml_grow.training.trainer import Trainer

    device = _device(args.device)
    if args.resume:
        return _resume(args, device)
    if not args.data or not args.out:
        raise UsageError("train needs --data FILE and --out RUNDIR (or --resume RUNDIR)")
    # everything is checked before anything is written
    raw = _training_config_dict(args)
    for key in ("strategy", "seed", "epochs"):
        if getattr(args, key) is not None:
            raw[key] = getattr(args, key)
    if args.strategy:
        raw["strategy"] = args.strategy.lower()
    if args.baseline_from:
        raw["baseline_from"] = args.baseline_from
    cfg = from_dict(TrainConfig, raw)
    if cfg.baseline_from:
        cfg.baseline_spec = _finished_architecture(cfg.baseline_from)
    inputs = (args.data, cfg.baseline_from, cfg.finetune.pretrained)
    run = check_run_output(args.out, force=args.force, inputs=inputs)
    data = Dataset(args.data, cfg.data)
    batch = len(data.splits["train"])
    m = cfg.model
    what = f"model.width = {m.width} ({m.kind}, up to {cfg.growth.max_blocks} blocks)"
    check_memory(cfg.memory_estimate(data.in_dim, data.out_dim, batch), what)
    # a run that exists is replaced through a staging directory, swapped in when finished
    replacing = run.exists()
    work = RunDir(run.path.with_name(run.path.name + ".replacing")) if replacing else run
    trainer = Trainer(cfg, data, work, device, progress=not args.no_progress)
    run.path.parent.mkdir(parents=True, exist_ok=True)
    with OutputLock(run.path):
        if not replacing and run.exists():  # another process started it meanwhile
            raise UsageError(f"{run.path} was created meanwhile by another process")
        if replacing:
            _remove_own_run(work)
            trainer.replaces = str(run.path)
        final = trainer.run_training()
        if replacing:
            from sciml_grow.outputs import swap_dir

            swap_dir(work.path, run.path)
    _print_final(cfg, final, run.path)
    return 0


def _remove_own_run(run) -> None:
    """Remove a staging run directory left by an interrupted replacement (only if it holds
    nothing but a run's files)."""
    import shutil

    if not run.path.exists():
        return
    if not run.exists() or run.foreign_files():
        raise UsageError(f"{run.path} is in the way and is not a run sciml-grow made; move it")
    shutil.rmtree(run.path)


def _print_final(cfg, final: dict, path) -> None:
    from sciml_grow.training.trainer import headline

    print(
        f"{cfg.strategy} seed {cfg.seed}: {headline(final)}, depth {final['final_depth']}, "
        f"{final['n_params']} params, {final['wall_seconds']:.1f} s -> {path}"
    )


def _resume(args: argparse.Namespace, device: str) -> int:
    """Continue an interrupted run exactly as it was configured, on the data it began with;
    only a larger or smaller epoch budget may be applied, and is reported."""
    from pathlib import Path

    from sciml_grow.config import from_dict
    from sciml_grow.data.dataset import Dataset
    from sciml_grow.outputs import OutputLock, swap_dir
    from sciml_grow.training.config import TrainConfig
    from sciml_grow.training.rundir import RunDir
    from sciml_grow.training.trainer import Trainer

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
    if not run.exists():
        raise UsageError(f"--resume {run.path}: not a run directory (no config.json)")
    if run.finished():
        print(f"{run.path} is already finished; see {run.path / 'final.json'}")
        return 0
    if not (run.path / "checkpoint.pt").exists():
        raise UsageError(f"--resume {run.path}: no checkpoint yet; start it again with --out")
    record = run.read_json("config.json")
    cfg = from_dict(TrainConfig, record["config"])
    data_path = args.data or record["data"]
    data = Dataset(data_path, cfg.data)
    began = record.get("data_fingerprint")
    if began is not None and data.fingerprint != began:
        raise UsageError(
            f"--data {data_path} is not the data this run began on ({record['data']}; "
            "its content differs); resume on that file or start a new run"
        )
    target = Path(record.get("replaces") or run.path)
    with OutputLock(target):
        if args.epochs is not None and args.epochs != cfg.epochs:
            done = run.load("checkpoint.pt")["state"]["epoch"]
            if args.epochs < done:
                raise UsageError(f"--epochs {args.epochs}: the run is already at epoch {done}")
            print(f"epochs: {cfg.epochs} -> {args.epochs} (applied to the resumed run)")
            cfg.epochs = record["config"]["epochs"] = args.epochs
            run.write_json("config.json", record)
        trainer = Trainer(cfg, data, run, device, progress=not args.no_progress)
        final = trainer.run_training(resume=True)
        if target != run.path:
            swap_dir(run.path, target)
    _print_final(cfg, final, target)
    return 0


def _finished_architecture(path: str) -> dict:
    from sciml_grow.training.rundir import RunDir

    run = RunDir(path)
    if not run.finished():
        raise UsageError(f"--baseline-from {path}: not a finished run (no final.json)")
    return run.read_json("final.json")["architecture"]


def _cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from sciml_grow.config import from_dict
    from sciml_grow.data.dataset import DataConfig
    from sciml_grow.format import check_array, open_dataset
    from sciml_grow.outputs import OutputLock, atomic_h5, check_file_output
    from sciml_grow.training.predictor import Predictor
    from sciml_grow.training.rundir import RunDir
    from sciml_grow.training.trainer import evaluate_predictions, headline

    out = None
    if args.out:
        out = check_file_output(args.out, force=args.force, inputs=(args.data, args.run))
    try:
        predictor = Predictor.from_run(args.run, _device(args.device))
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    # the run's own choice of arrays (e.g. data.inputs = samples/wT_grid for field-to-field)
    keys = from_dict(DataConfig, RunDir(args.run).read_json("config.json")["config"]["data"])
    with open_dataset(args.data, require_tag=False) as f:
        for key in (keys.inputs, keys.targets):
            if key not in f:
                raise UsageError(f"{args.data}: has no '{key}' dataset (the run's data config)")
        x = check_array(f, keys.inputs, args.data)
        x = torch.from_numpy(np.asarray(x[()], dtype=np.float64)).reshape(len(x), -1)
        y = torch.from_numpy(np.asarray(check_array(f, keys.targets, args.data)[()]))
    if x.shape[1] != predictor.net.in_dim:
        raise UsageError(
            f"{args.data}: '{keys.inputs}' has {x.shape[1]} features, the network expects "
            f"{predictor.net.in_dim}"
        )
    pred = predictor(x.to(args.device)).cpu()
    task = "regression" if y.dtype.is_floating_point else "classification"  # as Dataset
    truth = y.reshape(-1).long() if task == "classification" else y.double().reshape(len(y), -1)
    if len(truth) == len(pred) and (task == "classification" or truth.shape == pred.shape):
        print(f"{len(x)} samples: " + headline({"test": evaluate_predictions(pred, truth, task)}))
    if out is not None:
        with OutputLock(out), atomic_h5(out, "predictions") as f:
            f["predictions"] = pred.numpy()
            f.attrs["run"] = str(args.run)
            f.attrs["data"] = str(args.data)
            f.attrs["inputs"] = keys.inputs
        print(f"wrote predictions {tuple(pred.shape)} to {out}")
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
    from sciml_grow.growth import STRATEGIES
    from sciml_grow.study.compare import compare, default_reference
    from sciml_grow.study.plots import all_plots

    strategies = [s.strip().lower() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if not strategies or unknown:
        raise UsageError(
            f"--strategies: unknown {', '.join(unknown) or '(none given)'} "
            f"(choices: {', '.join(STRATEGIES)})"
        )
    if args.seeds <= 0:
        raise UsageError(f"--seeds must be positive, got {args.seeds}")
    if args.reference_samples < 0:
        raise UsageError(f"--reference-samples must be >= 0, got {args.reference_samples}")
    sizes = _train_sizes(args.train_sizes)
    against = (args.against or default_reference(strategies)).lower()
    if against not in strategies:
        raise UsageError(f"--against {against}: not among --strategies ({', '.join(strategies)})")
    base = _training_config_dict(args)
    for key in ("strategy", "seed"):
        if key in base:
            raise UsageError(f"config key {key} is set by compare itself; remove it")
    if args.epochs is not None:
        base["epochs"] = args.epochs
    _comparison_dir(args.out, (args.data,))
    comm = _world()
    lock = _locked_on_root(comm, args.out)
    rows = _run_collective(
        comm,
        lambda: compare(
            args.data,
            strategies,
            args.seeds,
            args.out,
            base,
            comm,
            args.reference_samples,
            train_sizes=sizes,
            against=against,
            all_pairs=args.all_pairs,
        ),
        lock,
    )
    if comm is not None and comm.rank != 0:
        return 0
    from pathlib import Path

    out = Path(args.out)
    plots = [] if args.no_plots else all_plots(out, Path(args.data))
    print()
    print((out / "table.md").read_text())
    print(f"{len(rows)} runs in {out / 'runs'}; results: {out / 'results.csv'}, {out / 'table.md'}")
    if plots:
        print("plots: " + ", ".join(str(p) for p in plots))
    return 0


def _cmd_map(args: argparse.Namespace) -> int:
    import numpy as np

    from sciml_grow.data.dataset import DataConfig, split_indices
    from sciml_grow.format import open_dataset
    from sciml_grow.inverse.map import map_for_dataset
    from sciml_grow.outputs import OutputLock, atomic_h5, check_file_output

    if args.samples < 0:
        raise UsageError(f"--samples must be >= 0 (0: all), got {args.samples}")
    out = check_file_output(args.out, force=args.force, inputs=(args.data,)) if args.out else None
    with open_dataset(args.data) as f:
        n = len(f["inputs"])
    idx = split_indices(n, DataConfig())["test"] if args.split == "test" else np.arange(n)
    idx = idx[: args.samples] if args.samples else idx
    result, rel = map_for_dataset(args.data, idx)
    print(
        f"MAP on {len(idx)} {args.split} samples: relative L2 error mean {rel.mean():.4f} "
        f"median {rel.median():.4f}; {result.seconds_per_sample:.3f} s per sample, "
        f"{np.mean(result.iterations):.0f} L-BFGS iterations on average"
    )
    if out is not None:
        with OutputLock(out), atomic_h5(out, "map_estimates") as f:
            f["fields"] = result.fields.numpy()
            f["indices"] = idx
            f["rel_l2"] = rel.numpy()
            f.attrs["data"] = str(args.data)
        print(f"wrote MAP fields to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from pde_data import PROBLEMS
    from sciml_grow.growth import STRATEGIES

    parser = _Parser(prog="sciml-grow", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"sciml-grow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser(
        "generate",
        help="generate a PDE dataset (run under mpiexec to spread samples)",
        description="Generate a dataset into one HDF5 file; run under 'mpiexec -n P' to spread "
        "samples over P ranks (same file for any P). Re-running an interrupted command resumes.",
    )
    p.add_argument("problem", help=f"one of: {', '.join(sorted(PROBLEMS))} (any case, - for _)")
    p.add_argument("--samples", type=int, required=True, help="number of samples N > 0")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    _add_config_args(p)
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a dataset made with another setup (only sciml-grow datasets; the old "
        "file stays until the new one is complete)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--block-size", type=int, default=128, help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_generate)

    p = sub.add_parser(
        "finetune",
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
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    _add_config_args(p)
    p.add_argument("--force", action="store_true", help="replace an existing run directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_finetune)

    p = sub.add_parser(
        "transfer",
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
    _add_config_args(p)
    p.set_defaults(func=_cmd_transfer)

    p = sub.add_parser(
        "import",
        help="write an image-classification data set as a dataset file",
        description="digits (ships with scikit-learn), or MNIST IDX / CIFAR-10 python batches "
        "from a local folder (nothing is downloaded).",
    )
    p.add_argument("name", help="digits, mnist or cifar10")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--path", help="folder with the local files (mnist, cifar10)")
    p.add_argument("--force", action="store_true", help="replace a file sciml-grow wrote")
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser(
        "info",
        help="summarize a dataset file",
        description="Print problem, sizes, noise, prior, versions and statistics.",
    )
    p.add_argument("file", help="dataset HDF5 file")
    p.set_defaults(func=_cmd_info)
    p = sub.add_parser(
        "train",
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
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    _add_config_args(p)
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a run directory sciml-grow made (swapped in when the new run finishes)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "predict",
        help="predict with a trained run",
        description="Rebuild a run's kept network and predict a dataset's fields.",
    )
    p.add_argument("--run", required=True, help="finished run directory")
    p.add_argument("--data", required=True, help="dataset HDF5 file")
    p.add_argument("--out", help="write predictions to this (new) HDF5 file")
    p.add_argument("--force", action="store_true", help="replace a file sciml-grow wrote")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser(
        "compare",
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
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    _add_config_args(p)
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser(
        "map",
        help="classical MAP estimates of a dataset's samples",
        description="Minimize noise-weighted misfit + prior by L-BFGS per sample.",
    )
    p.add_argument("--data", required=True, help="dataset HDF5 file")
    p.add_argument("--split", choices=["test", "all"], default="test")
    p.add_argument("--samples", type=int, default=0, help="at most this many (0: all)")
    p.add_argument("--out", help="write the MAP fields to this (new) HDF5 file")
    p.add_argument("--force", action="store_true", help="replace a file sciml-grow wrote")
    p.set_defaults(func=_cmd_map)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sciml-grow`` console script."""
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except _USER_ERRORS as exc:
        if _mpi_rank_from_env() == 0:
            print(f"sciml-grow: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
