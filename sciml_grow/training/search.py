"""Strategy ``search``: what a user does instead of growing, search a fixed network.

Optuna's TPE sampler proposes a depth, width, learning rate and weight decay (the space in
``search.*``, see :class:`~sciml_grow.training.config.SearchConfig`); each trial trains that
fixed network as a full run (the baseline strategy, the run's own seed: the same
training/validation split as every other strategy of that seed) in ``trials/NNNN/``, reports
its validation loss every epoch to a pruner (median or successive halving), and is scored by
its best validation loss. The test split is never looked at. The kept network is the best
trial's, as it was trained (not retrained: a retraining would cost another run).

The run directory::

    config.json       the search run's config
    search.journal    the Optuna study (JournalStorage): a killed search resumes from it,
                      keeping every finished trial; several processes may share it
    search.csv        one row per trial: parameters, state, validation loss, FLOPs
    trials/NNNN/      each trial's own run directory
    best.pt, metrics.csv, final.json   the kept trial's, with the search's summed cost

The cost of a search is the sum over its trials (pruned ones too). With budget
``match:STRATEGY`` trials run until that sum reaches ``search.factor`` times what the matched
run cost (training and decision FLOPs), so growth and search are compared at equal compute.
"""

from __future__ import annotations

from dataclasses import replace
import json
import math
import os
from pathlib import Path
import shutil
import socket
import tempfile
from typing import Any

from sciml_grow.errors import InputError, arg
from sciml_grow.growth.strategies import Strategy
from sciml_grow.outputs import OutputError
from sciml_grow.training.config import TrainConfig
from sciml_grow.training.predictor import Predictor
from sciml_grow.training.rundir import RunDir
from sciml_grow.training.trainer import Trainer, TrainingError, TrainState, config_record

TRIAL_COLUMNS = [
    "trial",
    "state",
    "depth",
    "width",
    "lr",
    "weight_decay",
    "best_val_loss",
    "epochs",
    "training_flops",
    "wall_seconds",
    "worker",
]


class Search(Strategy):
    """The name ``search`` in the strategy registry: a search runs trials, each a whole
    training run, so the lifecycle runs it (:func:`run_search`), never the trainer."""

    name = "search"
    grows = False

    def initial_model(self, data: Any, cfg: Any) -> Any:
        raise RuntimeError("strategy search runs trials: call sciml_grow.training.search")


class SearchRun:
    """A search behind the trainer's face (``run_training``, ``predictor``, ``replaces``), so
    the lifecycle runs, resumes and replaces it like any run."""

    def __init__(
        self,
        cfg: TrainConfig,
        data: Any,
        run: RunDir,
        device: str = "cpu",
        progress: bool = True,
        comm: Any = None,
    ):
        self.cfg, self.data, self.run, self.device, self.progress = cfg, data, run, device, progress
        self.replaces: str | None = None
        self.comm = comm

    def run_training(self, resume: bool = False) -> dict[str, Any]:
        """Run the search, or continue it from its journal (``resume`` changes nothing)."""
        final = run_search(
            self.cfg, self.data, self.run, self.device, self.progress, self.replaces, self.comm
        )
        self.predictor = Predictor.from_bundle(self.run.load("best.pt", self.device), self.device)
        self.predictor.final, self.predictor.run_dir = final, self.run.path
        self.predictor.history = self.run.read_csv("metrics.csv")
        self.predictor.events = []
        return final


def space(cfg: TrainConfig) -> dict[str, Any]:
    """The search space with its defaults resolved (see SearchConfig)."""
    s, m = cfg.search, cfg.model
    depth, lr = cfg.search_space_bounds()  # checked non-empty by the config
    widths = s.widths or sorted({max(1, m.width // 2), m.width, 2 * m.width})
    if m.kind == "vit":  # a token dimension must split into the heads
        widths = [w for w in widths if w % m.heads == 0] or [m.width]
    return {
        "depth": depth,
        "width": widths,
        "lr": lr,
        "weight_decay": (s.weight_decay_min, s.weight_decay_max),
    }


def _distributions(cfg: TrainConfig) -> dict[str, Any]:
    import optuna.distributions as d

    sp = space(cfg)
    return {
        "depth": d.IntDistribution(*sp["depth"]),
        "width": d.CategoricalDistribution(sp["width"]),
        "lr": d.FloatDistribution(*sp["lr"], log=True),
        "weight_decay": d.FloatDistribution(*sp["weight_decay"], log=True),
    }


def trial_config(cfg: TrainConfig, params: dict[str, Any]) -> TrainConfig:
    """The fixed network a trial trains: the baseline strategy at the trial's depth, width,
    learning rate and weight decay, with the search run's seed, data and epochs."""
    return replace(
        cfg,
        strategy="baseline",
        baseline_blocks=int(params["depth"]),
        baseline_from=None,
        model=replace(cfg.model, width=int(params["width"])),
        optim=replace(cfg.optim, lr=float(params["lr"]), weight_decay=params["weight_decay"]),
    )


def matched_cost(cfg: TrainConfig) -> float | None:
    """The FLOPs the budget allows (None for a number of trials): ``factor`` times the
    matched run's training and decision FLOPs."""
    s = cfg.search
    if s.matched is None:
        return None
    if not s.match_run:
        raise InputError(
            f"search.match_run: budget {s.budget} needs the finished {s.matched} run whose "
            "cost it matches (compare sets it; with train, --set search.match_run=DIR)"
        )
    run = RunDir(s.match_run)
    if not run.finished():
        raise InputError(f"search.match_run {s.match_run}: not a finished run (no final.json)")
    final = run.read_json("final.json")
    if final.get("training_flops") is None:
        raise InputError(
            f"search.match_run {s.match_run}: made before runs counted their FLOPs; train it again"
        )
    return s.factor * (final["training_flops"] + final["decision_flops"])


def _sampler(cfg: TrainConfig, index: int) -> Any:
    """The TPE sampler that proposes trial ``index``: seeded by (seed, index), so its draws
    depend on the trials before it and not on how often the search was started (a resumed
    search proposes what the uninterrupted one did)."""
    import numpy as np
    import optuna

    seed = int(np.random.SeedSequence([cfg.seed, index]).generate_state(1)[0])
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=cfg.search.startup_trials)


def _sampler_and_pruner(cfg: TrainConfig) -> tuple[Any, Any]:
    import optuna

    sampler = _sampler(cfg, 0)
    warmup = max(1, cfg.growth.min_phase_epochs)
    pruner = {
        "median": lambda: optuna.pruners.MedianPruner(
            n_startup_trials=cfg.search.startup_trials, n_warmup_steps=warmup
        ),
        "halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=warmup),
        "none": optuna.pruners.NopPruner,
    }[cfg.search.pruner]()
    return sampler, pruner


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(worker: str) -> bool:
    """Whether a trial's worker process still runs (on another host: assumed so)."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _retry_stale(study: Any, trials_dir: Path) -> None:
    """Trials left running by a killed process of this host are marked failed, their run
    directories removed, and their parameters queued again: a resumed search repeats no
    finished trial and loses only the interrupted one's partial training."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _alive(t.user_attrs.get("worker", "")):
            continue
        # Optuna has no public call to end another process's trial (its heartbeat, which
        # does this, is for RDB storages only): the storage's own, as its callbacks use it
        study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        stale = RunDir(trials_dir / f"{_index(t.number, _interrupted(study)):04d}")
        if stale.path.exists() and not stale.foreign_files():
            shutil.rmtree(stale.path)
        study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})


def _interrupted(study: Any) -> set[int]:
    """Numbers of the trials a kill interrupted (each was queued again: see _retry_stale)."""
    return {
        t.user_attrs["retry_of"]
        for t in study.get_trials(deepcopy=False)
        if "retry_of" in t.user_attrs
    }


def _index(number: int, interrupted: set[int]) -> int:
    """A trial's place in the search, the interrupted trials left out: what names its
    directory and its row, the same in a resumed search as in an uninterrupted one."""
    return number - sum(n < number for n in interrupted)


def _spent(study: Any) -> tuple[float, int]:
    """The summed training FLOPs of the trials that ran to an end (complete, pruned, or
    diverged) and their count; a trial a kill interrupted counts in neither."""
    done = [t for t in study.get_trials(deepcopy=False) if "training_flops" in t.user_attrs]
    return sum(t.user_attrs["training_flops"] for t in done), len(done)


def run_search(
    cfg: TrainConfig,
    data: Any,
    run: RunDir,
    device: str = "cpu",
    progress: bool = True,
    replaces: str | None = None,
    comm: Any = None,
) -> dict[str, Any]:
    """Run (or resume) the search of ``cfg`` into ``run`` (in a temporary directory when
    ``run.path`` is None, keeping only the summary files) and write its final.json. With an
    MPI ``comm`` every rank is a worker of the one study: rank 0 makes the run directory and
    writes the summary once every worker has finished."""
    if run.path is None:
        with tempfile.TemporaryDirectory(prefix="sciml-grow-search-") as tmp:
            summary = run_search(cfg, data, RunDir(tmp), device, progress)
            for name in ("final.json", "best.pt", "metrics.csv", "config.json"):
                run.copy_from(RunDir(tmp), name)
            return summary
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    budget = matched_cost(cfg)
    lead = comm is None or comm.rank == 0
    trials_dir = run.path / "trials"
    check_journal(run.path / "search.journal")  # every rank: a refusal is every rank's
    if lead:
        run.create()
        if not run.exists():
            run.write_json("config.json", config_record(cfg, data, device, replaces))
        _retry_stale(_study(cfg, run), trials_dir)
    if comm is not None:
        comm.barrier()  # the study exists before any other worker opens it
    study = _study(cfg, run)
    distributions = _distributions(cfg)
    while True:
        spent, done = _spent(study)
        if budget is None and done + _running(study) >= cfg.search.trials:
            break
        if budget is not None and (spent >= budget or done >= cfg.search.max_trials):
            break
        interrupted = _interrupted(study)
        study.sampler = _sampler(cfg, _index(len(study.get_trials(deepcopy=False)), interrupted))
        trial = study.ask(distributions)
        trial.set_user_attr("worker", _worker())
        index = _index(trial.number, interrupted)
        final, state = _run_trial(
            cfg, data, trial, trials_dir / f"{index:04d}", budget, spent, device, progress
        )
        trial.set_user_attr("training_flops", final["training_flops"])
        trial.set_user_attr("wall_seconds", final["wall_seconds"])
        trial.set_user_attr("epochs", final["epochs"])
        if state == "complete":
            study.tell(trial, final["best_val_loss"])
        else:  # pruned, or failed: diverged (a learning rate too high for the network)
            study.tell(trial, state=getattr(optuna.trial.TrialState, state.upper()))
        if progress:
            print(
                f"[search] trial {index} {state}: {_params_text(trial.params)}, "
                f"validation {final['best_val_loss']:.4g}, {final['training_flops']:.3g} FLOPs",
                flush=True,
            )
    if comm is None:
        return _finish(cfg, run, study, budget)
    comm.barrier()  # every worker's last trial is told
    return comm.bcast(_finish(cfg, run, study, budget) if lead else None, root=0)


def check_journal(path: Path) -> None:
    """Refuse a search journal Optuna would misread or add to: a partial last record (a kill
    while it was written), a line that is not a record, or another program's study. Nothing
    is written to a refused journal."""
    if not path.exists():
        return
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as exc:
        raise OutputError(f"{path}: cannot read it ({exc})") from None
    hint = f"start the search again with {arg('out')} {path.parent} {arg('force')}"
    if lines.pop():
        raise OutputError(f"{path}: damaged (its last record is cut off); {hint}")
    for i, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("op_code"), int):
            raise OutputError(f"{path}: damaged (line {i} is not an Optuna journal record); {hint}")
    first = json.loads(lines[0]) if lines else {}
    if first.get("op_code") != 0 or first.get("study_name") != "search":
        raise OutputError(f"{path}: not a sciml-grow search journal (no study 'search'); {hint}")


def _study(cfg: TrainConfig, run: RunDir) -> Any:
    """The run's Optuna study in its JournalStorage file (created on first use)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(run.path / "search.journal")))
    sampler, pruner = _sampler_and_pruner(cfg)
    return optuna.create_study(
        study_name="search",
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        direction="minimize",
        load_if_exists=True,
    )


def _running(study: Any) -> int:
    """Trials other workers are running now (they count toward a number of trials)."""
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def _run_trial(
    cfg: TrainConfig,
    data: Any,
    trial: Any,
    trial_dir: Path,
    budget: float | None,
    spent: float,
    device: str,
    progress: bool,
) -> tuple[dict[str, Any], str]:
    """Train one trial's network; returns its final.json and 'complete' or 'pruned'."""
    outcome = {"state": "complete"}

    def on_epoch(state: TrainState, val: float) -> str | None:
        trial.report(val, state.epoch)
        if budget is not None and spent + state.train_flops >= budget:
            return "search budget reached"
        if trial.should_prune():
            outcome["state"] = "pruned"
            return "pruned"
        return None

    trainer = Trainer(
        trial_config(cfg, trial.params), data, RunDir(trial_dir), device, progress=progress,
    )  # fmt: skip
    trainer.on_epoch = on_epoch
    try:
        return trainer.run_training(), outcome["state"]
    except TrainingError:  # diverged: the trial fails, the search goes on; its cost counts
        st = trainer.state
        spent = {"training_flops": st.train_flops, "wall_seconds": st.elapsed, "epochs": st.epoch}
        return {**spent, "best_val_loss": math.nan}, "fail"


def _finish(cfg: TrainConfig, run: RunDir, study: Any, budget: float | None) -> dict[str, Any]:
    """search.csv, and the kept trial's network and summary with the search's summed cost."""
    from optuna.trial import TrialState

    interrupted = _interrupted(study)  # each tried again: its retry is the trial
    trials = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state != TrialState.RUNNING and t.number not in interrupted
    ]
    rows = [
        {
            "trial": _index(t.number, interrupted),
            "state": t.state.name.lower(),
            **{k: t.params.get(k) for k in ("depth", "width", "lr", "weight_decay")},
            "best_val_loss": t.value if t.value is not None else "",
            **{
                k: t.user_attrs.get(k, "")
                for k in ("epochs", "training_flops", "wall_seconds", "worker")
            },
        }
        for t in trials
    ]
    run.start_csv("search.csv", TRIAL_COLUMNS)
    for row in rows:
        run.append_csv("search.csv", row)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        raise InputError(
            "search: no trial completed within the budget (every one was pruned or failed); "
            "raise search.trials or search.factor, or set search.pruner = none"
        )
    best = min(complete, key=lambda t: t.value)
    best_index = _index(best.number, interrupted)
    kept = RunDir(run.path / "trials" / f"{best_index:04d}")
    for name in ("best.pt", "metrics.csv"):
        run.copy_from(kept, name)
    run.start_csv("growth_events.csv", ["epoch"])
    spent = [t.user_attrs.get("training_flops", 0.0) for t in trials if t.state.is_finished()]
    final = dict(kept.read_json("final.json"))
    final.update(
        strategy="search",
        seed=cfg.seed,
        training_flops=float(sum(spent)),
        decision_flops=0.0,
        wall_seconds=round(sum(t.user_attrs.get("wall_seconds", 0.0) for t in trials), 3),
        epochs=int(sum(t.user_attrs.get("epochs", 0) for t in trials)),
        search={
            "budget": cfg.search.budget,
            "budget_flops": budget,
            "trials": len(trials),
            "complete": len(complete),
            "pruned": sum(t.state == TrialState.PRUNED for t in trials),
            "best_trial": best_index,
            "best_params": best.params,
            "kept": "the best trial's network as trained (selected on validation, not retrained)",
        },
    )
    run.write_json("final.json", final)
    return final


def _params_text(params: dict[str, Any]) -> str:
    return (
        f"depth {params['depth']}, width {params['width']}, lr {params['lr']:.3g}, "
        f"weight decay {params['weight_decay']:.3g}"
    )


__all__ = ["Search", "SearchRun", "run_search", "space", "trial_config", "matched_cost"]
