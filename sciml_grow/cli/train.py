"""Training subcommands: train (and --resume), predict, finetune (each parser beside its
handler)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from sciml_grow.cli.common import Flags, UsageError, config_dict, run_collective, world


def add_train(sub: Any, flags: Flags) -> None:
    from sciml_grow.growth import STRATEGIES

    p = sub.add_parser(
        "train",
        parents=[flags.device, flags.config, flags.progress],
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
    p.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    from sciml_grow import api
    from sciml_grow.config import from_dict
    from sciml_grow.training.config import TrainConfig

    device = api.check_device(args.device)
    if args.resume:
        return _resume(args, device)
    if not args.data or not args.out:
        raise UsageError("train needs --data FILE and --out RUNDIR (or --resume RUNDIR)")
    raw = config_dict(args)
    for key in ("strategy", "seed", "epochs"):
        if getattr(args, key) is not None:
            raw[key] = getattr(args, key)
    if args.strategy:
        raw["strategy"] = args.strategy.lower()
    if args.baseline_from:
        raw["baseline_from"] = args.baseline_from
    cfg = from_dict(TrainConfig, raw)
    # under mpiexec a search's ranks are workers of its one study; other runs use torchrun
    comm = world() if cfg.strategy == "search" else None
    model = run_collective(
        comm,
        lambda: api.fit(
            args.data, cfg, out=args.out, force=args.force, device=device,
            progress=not args.no_progress, comm=comm,
        ),
    )  # fmt: skip
    if comm is None or comm.rank == 0:
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


def add_predict(sub: Any, flags: Flags) -> None:
    p = sub.add_parser(
        "predict",
        parents=[flags.replace, flags.device],
        help="predict with a trained run",
        description="Rebuild a run's kept network and predict a dataset's fields.",
    )
    p.add_argument("--run", required=True, help="finished run directory")
    p.add_argument("--data", required=True, help="dataset HDF5 file")
    p.add_argument("--out", help="write predictions to this (new) HDF5 file")
    p.add_argument("--split", default="all", choices=("all", "test"),
                   help="test: only the file's test part (its stored split, else the run's "
                   "seeded split of it)")  # fmt: skip
    p.set_defaults(func=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    from sciml_grow import api
    from sciml_grow.training.evaluation import headline

    pred, summary = api.predict_file(
        args.run, args.data, out=args.out, force=args.force, device=args.device,
        split=args.split,
    )  # fmt: skip
    if summary is not None:
        part = "test" if args.split == "test" else ""  # all samples: not a test error
        scored = f"{len(pred)} {part} samples" if part else f"all {len(pred)} samples"
        print(f"{scored}: " + headline({"test": summary}, part))
    else:
        print(f"{len(pred)} samples predicted (no targets in {args.data} to score against)")
    if args.out:
        print(f"wrote predictions {tuple(pred.shape)} to {args.out}")
    return 0


def add_finetune(sub: Any, flags: Flags) -> None:
    p = sub.add_parser(
        "finetune",
        parents=[flags.pretrained, flags.device, flags.config, flags.progress],
        help="adapt a pretrained run to a (small) target data set",
        description="Transfer learning: start from a finished run's best network; td-adapters "
        "inserts topological-derivative-initialized blocks into the frozen network and trains "
        "them and the head; compare with random-init-adapters, random-adapters, head, full.",
    )
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
    p.set_defaults(func=run_finetune)


def run_finetune(args: argparse.Namespace) -> int:
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
    return run_train(args)


ADD = (add_train, add_predict, add_finetune)
