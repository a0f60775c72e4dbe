"""The life of one training run, from the checks to a finished run directory.

``sg.fit``/``sciml-grow train`` (:func:`fit_run`), ``sg.resume``/``train --resume``
(:func:`resume`) and the batch drivers of ``compare`` and ``transfer``
(:func:`train_or_resume`) all go through here: every check before anything is written, one
writer per run (rank 0 under torchrun, behind a lock), replacement through a staging
directory swapped in when finished, and a full disk that says what to do next.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
import errno
from pathlib import Path
import shutil
from typing import Any

import torch

from sciml_grow import distributed
from sciml_grow.config import differences, from_dict, to_dict
from sciml_grow.data.dataset import Dataset
from sciml_grow.errors import InputError, UserError, arg
from sciml_grow.outputs import OutputError, OutputLock, swap_dir
from sciml_grow.resources import check_disk, check_memory
from sciml_grow.training.config import TrainConfig
from sciml_grow.training.predictor import Predictor
from sciml_grow.training.rundir import RunDir, check_run_output, finished_architecture
from sciml_grow.training.search import SearchRun, space
from sciml_grow.training.trainer import Trainer


def runner(
    cfg: TrainConfig,
    data: Dataset,
    run: RunDir,
    device: str = "cpu",
    progress: bool = True,
    comm: Any = None,
) -> Trainer | SearchRun:
    """What trains a run: the trainer, or for strategy search the search over its trials
    (with ``comm``, every MPI rank running trials of the one study)."""
    if cfg.strategy == "search":
        return SearchRun(cfg, data, run, device, progress=progress, comm=comm)
    return Trainer(cfg, data, run, device, progress=progress)


def train_config(config: Any, settings: dict[str, Any] | None = None) -> TrainConfig:
    """A TrainConfig from one, from a dict of config values (as a config file holds them) or
    from None (the defaults), with top-level ``settings`` on top."""

    settings = settings or {}
    if config is None:
        return TrainConfig(**settings)
    if isinstance(config, dict):
        return from_dict(TrainConfig, {**config, **settings})
    if not isinstance(config, TrainConfig):
        raise InputError(
            f"config must be a TrainConfig or a dict of config values, got {type(config).__name__}"
        )
    return replace(config, **settings)


def check_device(name: str) -> str:
    """``cpu`` or an available ``cuda[:N]``, else one clear error."""
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"{arg('device')} {name}: CUDA is not available on this machine")
    if name != "cpu" and not name.startswith("cuda"):
        raise InputError(f"{arg('device')} must be cpu or cuda[:N], got {name!r}")
    return name


def check_run_resources(
    cfg: TrainConfig,
    in_dim: int,
    out_dim: int,
    n_train: int,
    out: Path | None = None,
    runs: int = 1,
) -> None:
    """Refuse a run whose network would not fit in memory, or ``runs`` run directories that
    would not fit on the disk of ``out``, before anything starts (one line naming both)."""
    trials = 1
    if cfg.strategy == "search":  # the largest network a trial may train, a run per trial
        sp, trials = space(cfg), cfg.search.trials
        widest = replace(cfg.model, width=max(sp["width"]), initial_blocks=sp["depth"][1])
        cfg = replace(cfg, model=widest)
    m = cfg.model
    what = f"model.width = {m.width} ({m.kind}, up to {cfg.growth.max_blocks} blocks)"
    check_memory(cfg.memory_estimate(in_dim, out_dim, n_train), what)
    if out is not None:
        check_disk(runs * trials * cfg.disk_estimate(in_dim, out_dim), out)


def fit_run(
    data: Dataset | str | Path,
    cfg: TrainConfig,
    *,
    out: str | Path | None = None,
    force: bool = False,
    device: str = "cpu",
    progress: bool = True,
    comm: Any = None,
) -> Predictor:
    """Check everything, then train one run (in memory, or into the run directory ``out``,
    replacing one this toolkit made through a staging directory with ``force``); the run's
    life from check to finished, shared by ``sg.fit``, ``train`` and the DDP processes. With
    ``comm`` (MPI) and strategy search, every rank runs trials of the run's one study."""
    device = check_device(distributed.local_device(device))
    if comm is not None and cfg.strategy != "search":
        raise InputError("several MPI ranks share a run only for strategy search (use torchrun)")
    # under torchrun: one of the run's processes; under mpiexec: one of a search's workers
    group = comm if comm is not None else distributed.group(device)
    if isinstance(data, Dataset):
        cfg = replace(cfg, data=data.config)  # the split the data was loaded with
    if cfg.baseline_from:
        finished_architecture(cfg.baseline_from)  # a finished run, checked before any work
    run = None
    if out is not None:
        inputs = (getattr(data, "path", data), cfg.baseline_from, cfg.finetune.pretrained)
        run = check_run_output(out, force=force, inputs=inputs)
    if not isinstance(data, Dataset):
        data = Dataset(data, cfg.data)
    n_train = len(data.splits["train"])
    check_run_resources(cfg, data.in_dim, data.out_dim, n_train, None if run is None else run.path)
    if run is None:
        if comm is not None:
            raise InputError("a search over MPI ranks needs a run directory (out)")
        trainer = runner(cfg, data, RunDir(None), device, progress=progress)
        trainer.run_training()
        return trainer.predictor
    # a run that exists is replaced through a staging directory, swapped in when finished
    replacing = run.exists()
    work = RunDir(run.path.with_name(run.path.name + ".replacing")) if replacing else run
    trainer = runner(cfg, data, work, device, progress=progress and group.rank == 0, comm=comm)
    group.barrier()  # every rank has checked before rank 0 writes
    if group.rank != 0:  # rank 0 alone owns the run directory
        trainer.run_training()
        trainer.predictor.run_dir = run.path
        return trainer.predictor
    run.path.parent.mkdir(parents=True, exist_ok=True)
    with OutputLock(run.path):
        if not replacing and run.exists():  # another process started it meanwhile
            raise OutputError(f"{run.path} was created meanwhile by another process")
        if replacing:
            _remove_own_run(work)
            trainer.replaces = str(run.path)
        with _disk_full_says_what_next(work, replacing):
            trainer.run_training()
        if replacing:
            swap_dir(work.path, run.path)
    trainer.predictor.run_dir = run.path
    return trainer.predictor


def resume(
    run_dir: str | Path,
    *,
    data: str | Path | None = None,
    epochs: int | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> Predictor:
    """Continue an interrupted run exactly as it was configured, on the data it began with
    (its content fingerprint is checked); only the epoch budget may change."""
    run = RunDir(run_dir)
    if not run.exists():
        raise OutputError(f"{arg('resume')} {run.path}: not a run directory (no config.json)")
    record = run.read_json("config.json")
    if run.finished():
        planned = record.get("config", {}).get("epochs")
        if epochs is not None and epochs != planned:
            raise OutputError(
                f"{arg('epochs')} {epochs}: {run.path} is finished ({planned} epochs) and is not "
                f"trained further; train a new run with {arg('out')} for another budget"
            )
        return Predictor.from_run(run.path, check_device(device))
    searching = record.get("config", {}).get("strategy") == "search"  # resumes from its journal
    if not searching and not (run.path / "checkpoint.pt").exists():
        raise OutputError(
            f"{arg('resume')} {run.path}: no checkpoint yet, nothing to resume; start it again "
            f"with {arg('out')} {run.path} {arg('force')}"
        )
    record["config"].pop("baseline_spec", None)  # runs made before it left the config
    cfg = from_dict(TrainConfig, record["config"])
    data_path = data or record["data"]
    dataset = Dataset(data_path, cfg.data)
    began = record.get("data_fingerprint")
    if began is not None and dataset.fingerprint != began:
        raise OutputError(
            f"{arg('data')} {data_path} is not the data this run began on ({record['data']}; "
            "its content differs); resume on that file or start a new run"
        )
    target = Path(record.get("replaces") or run.path)
    device = check_device(distributed.local_device(device))
    group = distributed.group(device)
    if epochs is not None and epochs != cfg.epochs and searching:
        raise OutputError(f"{arg('epochs')}: a search's trials keep the epochs it began with")
    if epochs is not None and epochs != cfg.epochs:
        done = run.load("checkpoint.pt")["state"]["epoch"]
        if epochs < done:
            raise OutputError(f"{arg('epochs')} {epochs}: the run is already at epoch {done}")
    group.barrier()  # every rank has checked and read before rank 0 writes
    if group.rank != 0:
        cfg.epochs = epochs if epochs is not None else cfg.epochs
        trainer = runner(cfg, dataset, run, device, progress=progress)
        trainer.run_training(resume=True)
        trainer.predictor.run_dir = target
        return trainer.predictor
    with OutputLock(target):
        if epochs is not None and epochs != cfg.epochs:
            print(f"epochs: {cfg.epochs} -> {epochs} (applied to the resumed run)")
            cfg.epochs = record["config"]["epochs"] = epochs
            run.write_json("config.json", record)
        trainer = runner(cfg, dataset, run, device, progress=progress)
        trainer.run_training(resume=True)
        if target != run.path:
            swap_dir(run.path, target)
    trainer.predictor.run_dir = target
    return trainer.predictor


def train_or_resume(cfg: TrainConfig, data: Dataset, run: RunDir) -> dict[str, Any]:
    """A finished run's final.json, or train it (resuming from its checkpoint if there is
    one) without progress bars: what batch drivers (compare, transfer) do for each run."""
    if run.exists():
        same_settings(run, cfg)
    if run.finished():
        return run.read_json("final.json")
    resume = (run.path / "checkpoint.pt").exists()
    return runner(cfg, data, run, progress=False).run_training(resume=resume)


def same_settings(run: RunDir, cfg: TrainConfig) -> None:
    """Refuse to reuse or continue a study's run made with other settings (another epoch
    budget, other budgets, another schedule): a table never mixes them. Keys added to the
    config since the run was made count at their defaults; the paths a study sets to its own
    runs (baseline_from, search.match_run) do not count, so a study folder may be moved."""
    recorded = dict(run.read_json("config.json").get("config", {}))
    recorded.pop("baseline_spec", None)  # runs made before it left the config
    try:
        theirs = to_dict(from_dict(TrainConfig, recorded))
    except UserError as exc:
        raise OutputError(f"{run.path}: its config.json no longer reads ({exc})") from None
    ours = to_dict(cfg)
    for d in (theirs, ours):  # paths to the study's own runs: a study folder may move
        d.pop("baseline_from", None)
        d["search"].pop("match_run", None)
    diffs = differences(theirs, ours, "the run")
    if diffs:
        raise OutputError(
            f"{run.path} was made with other settings ({diffs[0]}); choose another "
            f"{arg('out')} for this study"
        )


@contextmanager
def _disk_full_says_what_next(run: RunDir, replacing: bool) -> Iterator[None]:
    """A run that fails to write its files (a full disk, a quota) ends with one error that
    says what to do next, and leaves nothing half-made: a run that has a checkpoint is kept to
    be resumed; one that has none, or a replacement in the making, is removed (the run it
    would replace stays as it was)."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        what = f"{exc.filename or run.path}: {exc.strerror or exc}"
        if not replacing and (run.path / "checkpoint.pt").exists():
            raise OutputError(
                f"{what}; free some space, then continue with {arg('resume')} {run.path}"
            ) from None
        if run.path.exists() and not run.foreign_files():
            shutil.rmtree(run.path)
        kept = "; the run it was to replace is as it was" if replacing else ""
        raise OutputError(
            f"{what}; nothing was kept{kept}: free some space and run it again"
        ) from None


def _remove_own_run(run: RunDir) -> None:
    """Remove a staging run directory left by an interrupted replacement (only if it holds
    nothing but a run's files)."""
    if not run.path.exists():
        return
    if not run.exists() or run.foreign_files():
        raise OutputError(f"{run.path} is in the way and is not a run sciml-grow made; move it")
    shutil.rmtree(run.path)
