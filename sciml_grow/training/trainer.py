"""The one training loop: epochs, validation, growth decisions, checkpoints, final evaluation.

Every strategy runs through this loop with the same data split, standardization and epoch
budget. A phase trains the current network until its validation loss plateaus (or a fixed
number of epochs); then the strategy grows the network, the optimizer keeps the state of every
existing parameter, and a new phase starts. Growth stops at the maximum depth, when the
strategy finds nothing worth adding, or when a phase did not improve the best validation loss;
training then continues to the end of the budget. The best-validation network is the result.
No choice ever looks at the test split.
"""

from __future__ import annotations

from collections.abc import Callable
import copy
from dataclasses import asdict, dataclass, field, replace
import math
import sys
import time
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from sciml_grow import distributed
from sciml_grow._version import __version__
from sciml_grow.config import to_dict
from sciml_grow.data.basis import PodStandardizer, projection_errors
from sciml_grow.data.dataset import Dataset
from sciml_grow.data.rows import FileRows
from sciml_grow.errors import ModelFileError, UserError, reason
from sciml_grow.growth import get_strategy
from sciml_grow.growth.strategies import GrowthContext, GrowthEvent, Start
from sciml_grow.nets import build, spec_depth
from sciml_grow.objective import physics_term, soft_threshold_
from sciml_grow.training import cost, schedule
from sciml_grow.training.config import TrainConfig
from sciml_grow.training.evaluation import test_errors, test_summary
from sciml_grow.training.predictor import Predictor
from sciml_grow.training.rundir import RunDir, finished_architecture, pretrained_bundle

TRAJECTORY_COLUMNS = ["epoch", "flops", "best_val_loss", "rel_l2_mean", "accuracy"]
GROWTH_COLUMNS = [
    "epoch",
    "inserted",
    "stage",
    "reason",
    "position",
    "depth_after",
    "scores",
    "eps",
    "predicted_change",
    "train_loss_before",
    "train_loss_after",
    "val_loss_before",
    "val_loss_after",
    "n_params_before",
    "n_params_after",
    "seconds",
    "decision_flops",
    "sparsity",
    "objective_parts",
]


class TrainingError(UserError, ValueError):
    """Training cannot go on (it diverged); the message names the setting to change."""


@dataclass
class TrainState:
    """Loop bookkeeping saved in every checkpoint."""

    epoch: int = 0
    phase: int = 0
    phase_start: int = 0
    phase_best: float = math.inf
    stale: int = 0
    best_val: float = math.inf
    best_at_phase_start: float = math.inf
    best_epoch: int = 0
    conv_best: float = math.inf  # convergence: the best since the last insertion, and
    conv_stale: int = 0  # the epochs since it improved by early_stopping_delta
    converged: bool = False  # stopped by convergence (else: the budget, or a search's reason)
    schedule_start: int = 0  # the epoch the learning-rate schedule began at (a restart moves it)
    budget_results: list[dict[str, Any]] = field(default_factory=list)  # one per budget passed
    growing: bool = True
    stop_reason: str = ""
    elapsed: float = 0.0
    train_flops: float = 0.0  # forward + backward of every training step so far
    decision_flops: float = 0.0  # the growth decisions' (and a starting network's) own work
    best: dict[str, Any] | None = field(default=None, repr=False)


def starting_point(cfg: TrainConfig) -> Start:
    """What the strategy starts from in other runs, read here so strategies read no runs."""
    start = Start()
    if cfg.baseline_from:
        start.architecture = finished_architecture(cfg.baseline_from)
    if cfg.strategy == "finetune":
        start.pretrained = pretrained_bundle(cfg.finetune.pretrained)
    return start


_SAID: set[tuple[str, float, int]] = set()


def fewer_modes(scaler: Any, asked: float, key: str) -> None:
    """Say (once per process) where a basis has fewer modes than a count asked for: the
    training split spans no more. final.json records both numbers."""
    used = int(scaler.modes.shape[1])
    if asked >= 1 and used < int(asked) and (key, asked, used) not in _SAID:
        _SAID.add((key, asked, used))
        print(
            f"note: {key} = {int(asked)}, but the training split spans {used} modes; using "
            f"{used} (final.json records both)",
            file=sys.stderr,
            flush=True,
        )


class Trainer:
    """Trains one (strategy, seed) run into a run directory; resumable."""

    def __init__(
        self,
        cfg: TrainConfig,
        data: Dataset,
        run: RunDir,
        device: str = "cpu",
        progress: bool = True,
    ):
        if cfg.strategy != "finetune":  # (fine-tuning keeps the pretrained run's bases)
            if cfg.model.output_basis == "pod":
                data = data.with_output_basis(cfg.model.output_modes, cfg.model.output_whiten)
                fewer_modes(data.y_scaler, cfg.model.output_modes, "model.output_modes")
            elif cfg.model.output_basis == "prior":
                data = data.with_prior_basis()
            if cfg.model.input_basis == "pod":
                data = data.with_input_basis(cfg.model.input_modes)
                fewer_modes(data.x_scaler, cfg.model.input_modes, "model.input_modes")
        self.cfg, self.data, self.run, self.progress = cfg, data, run, progress
        self.group = distributed.group(device)  # torchrun: one of several processes
        self.source = run  # where a resumed run's checkpoint is read
        if self.group.rank != 0:  # rank 0 alone writes the run directory
            self.run, self.progress = RunDir(None), False
        self.device = torch.device(device)
        self.dtype = getattr(torch, cfg.dtype)
        self.strategy = get_strategy(cfg.strategy, starting_point(cfg))
        self.strategy.prepare(data, cfg)
        self.objective = self.strategy.objective(data, cfg, self.dtype, self.device)
        self.objective.l1 = cfg.optim.l1
        if cfg.optim.physics > 0:
            self.objective.physics_weight = cfg.optim.physics
            if self.objective.physics is None:  # layerwise builds it with its own rows
                train = torch.from_numpy(data.splits["train"])
                std = data.noise_std[train] if data.noise_std is not None else None
                self.objective.physics = physics_term(
                    data, data.x[train], std, self.device, "optim.physics"
                )
        self.x_val, self.y_val = data.tensors("val", self.dtype, self.device)
        self.loss_fn = self.objective.loss_fn  # data misfit: validation and growth decisions
        self.parts: dict[str, float] = {}
        self.val_accuracy = math.nan  # classification only
        self.replaces: str | None = None  # run directory this one will replace when finished
        # called after every epoch with the state and the validation loss; a reason returned
        # ends the training there (a search's pruner and budget)
        self.on_epoch: Callable[[TrainState, float], str | None] | None = None
        self._counting_seconds = 0.0  # spent counting FLOPs: not the run's own time

    # --- setup ----------------------------------------------------------------------------
    def _fresh(self) -> None:
        torch.manual_seed(self.cfg.seed)
        cost.reset_peak_memory(self.device)
        flops = 0.0
        if self.strategy.decides_at_start:  # fine-tuning decides where its adapters go
            flops = self._summed(
                self._count(lambda: self.strategy.initial_model(self.data, self.cfg))
            )
        t0 = time.perf_counter()
        net = self.strategy.initial_model(self.data, self.cfg)
        self.model = net.to(device=self.device, dtype=self.dtype)
        self.stepper = self.group.wrap(self.model, self.device)
        self.batch_rng = torch.Generator().manual_seed(self.cfg.seed)
        self.growth_rng = torch.Generator().manual_seed(self.cfg.seed + 7919)
        # the run's time counts the initial model's construction (adapter insertion)
        self.state = TrainState(growing=self.strategy.grows, elapsed=time.perf_counter() - t0)
        self.state.decision_flops = flops
        self.opt = self._optimizer()
        self.scheduler = schedule.make_scheduler(self.opt, self.cfg)
        self._architecture_changed()

    def _optimizer(self) -> torch.optim.Optimizer:
        o = self.cfg.optim
        params = [p for p in self.model.parameters() if p.requires_grad]
        if o.name == "sgd":
            return torch.optim.SGD(params, lr=o.lr, weight_decay=o.weight_decay)
        cls = torch.optim.AdamW if o.name == "adamw" else torch.optim.Adam
        return cls(params, lr=o.lr, weight_decay=o.weight_decay)

    def _rebuild_optimizer(self) -> None:
        """New optimizer over the current trainable parameters; existing ones keep their
        state unless ``optim.insert_state`` = reset; the schedule continues or restarts
        (``optim.on_insert``)."""
        old = self.opt
        self.opt = self._optimizer()
        if self.cfg.optim.insert_state == "keep":
            for p in (p for g in self.opt.param_groups for p in g["params"]):
                if p in old.state:
                    self.opt.state[p] = old.state[p]
        s = self.state
        self.scheduler, s.schedule_start = schedule.after_insertion(
            old, self.opt, self.scheduler, self.cfg, s.epoch, s.schedule_start
        )

    def _save_checkpoint(self) -> None:
        if self.run.path is None:  # in memory (sg.fit without out, DDP ranks but 0): no resume
            return
        self.run.save(
            "checkpoint.pt",
            {
                "spec": self.model.spec(),
                "model": self.model.state_dict(),
                "optimizer": self.opt.state_dict(),
                "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
                "state": asdict(self.state),
                "rng": {
                    "batch": self.batch_rng.get_state(),
                    "growth": self.growth_rng.get_state(),
                    "torch": torch.get_rng_state(),
                },
            },
        )

    def _load_checkpoint(self) -> None:
        ck = self.source.load("checkpoint.pt", self.device)
        try:
            self.model = build(ck["spec"]).to(device=self.device, dtype=self.dtype)
            self.model.load_state_dict(ck["model"])
            self.stepper = self.group.wrap(self.model, self.device)
            self.opt = self._optimizer()
            self.opt.load_state_dict(ck["optimizer"])
            self.state = TrainState(**ck["state"])
            self.scheduler = schedule.make_scheduler(self.opt, self.cfg, self.state.schedule_start)
            if self.scheduler is not None:
                self.scheduler.load_state_dict(ck["scheduler"])
                for g, saved in zip(self.opt.param_groups, ck["optimizer"]["param_groups"],
                                    strict=True):  # fmt: skip
                    g["lr"] = saved["lr"]  # building the scheduler stepped it
            self._architecture_changed()
            self.objective.set_layer(self.state.phase)
            self.batch_rng = torch.Generator()
            self.batch_rng.set_state(ck["rng"]["batch"])
            self.growth_rng = torch.Generator()
            self.growth_rng.set_state(ck["rng"]["growth"])
            torch.set_rng_state(ck["rng"]["torch"])
        except Exception as exc:  # plain data of the wrong shape: keys, types, sizes
            where = self.source.path / "checkpoint.pt" if self.source.path else "checkpoint.pt"
            raise ModelFileError(
                f"{where}: not a checkpoint this run can resume ({reason(exc)})"
            ) from None
        for name in ("metrics.csv", "growth_events.csv", "trajectory.csv"):
            self.run.truncate_csv(name, self.state.epoch)

    def _architecture_changed(self) -> None:
        """Forget what was derived from the network's architecture (after growth, on start)."""
        self._live: dict[str, torch.Tensor] | None = None
        self._params: int | None = None
        self._flops_per_row: float | None = None  # counted again on the next batch

    def _summed(self, flops: float) -> float:
        """FLOPs of this process's share of the work summed over the ranks (with DDP)."""
        if not self.group.active:
            return float(flops)
        return float(self.group.sum_(torch.tensor([float(flops)], dtype=torch.float64))[0])

    def _n_params(self) -> int:
        if self._params is None:
            self._params = self.model.n_params()
        return self._params

    def _keep_best(self) -> None:
        """Copy the network into ``state.best``: into the tensors already there while the
        architecture is the one they were taken of (no allocation per improving epoch), into
        new ones after it changed."""
        s = self.state
        if self._live is None:
            self._live = self.model.state_dict()  # views of the live parameters and buffers
            model = {k: v.detach().clone() for k, v in self._live.items()}
            s.best = {"spec": self.model.spec(), "model": model}
            return
        torch._foreach_copy_(list(s.best["model"].values()), list(self._live.values()))

    # --- one epoch ------------------------------------------------------------------------
    def _train_epoch(self) -> float:
        """One pass over the objective's batches; returns the mean objective value."""
        self.model.train()
        total = 0.0
        parts: dict[str, float] = {}
        n = 0
        prox = self.objective.prox_weight()
        group = self.group
        for batch in self.objective.batches(self.batch_rng, self.cfg.optim.batch_size):
            idx = group.shard(batch)  # with DDP: this rank's part of the global batch
            if self._flops_per_row is None and len(idx) > 0:
                self._flops_per_row = self._step_flops(idx)
            self.opt.zero_grad(set_to_none=True)
            loss, batch_parts = self.objective.loss(self.stepper, idx)
            # DDP averages over ranks: weighting by the share of the batch makes the step the
            # whole batch's
            (loss * (len(idx) * group.size / len(batch)) if group.active else loss).backward()
            self.opt.step()
            if prox > 0:  # the L1 term's proximal step: exact zeros
                soft_threshold_(self.opt, prox)
            total += float(loss.detach()) * len(idx)
            n += len(idx)
            for k, v in batch_parts.items():
                parts[k] = parts.get(k, 0.0) + v * len(idx)
        if group.active:  # the epoch's means over all ranks' samples
            keys = sorted(parts)
            sums = torch.tensor([total, n, *(parts[k] for k in keys)], dtype=torch.float64)
            group.sum_(sums)
            total, n = float(sums[0]), float(sums[1])
            parts = {k: float(v) for k, v in zip(keys, sums[2:], strict=True)}
        self.parts = {k: v / n for k, v in parts.items()}
        self.state.train_flops += (self._flops_per_row or 0.0) * n
        return total / n

    def _count(self, work: Callable[[], Any]) -> float:
        """This process's FLOPs of ``work``, which must act on copies: the real work runs
        again outside the counter, whose hooks can change how autograd sums and so round
        differently; counting never changes a run's numbers. Its time is kept out of the
        run's wall time, and its random draws out of the run's generators."""
        t0 = time.perf_counter()
        with torch.random.fork_rng(devices=[]), cost.counter() as counted:
            work()
        self._counting_seconds += time.perf_counter() - t0
        return float(counted.get_total_flops())

    def _step_flops(self, idx: torch.Tensor) -> float:
        """FLOPs per sample of a training step's forward and backward, on a copy of the
        network (this rank's share of the batch)."""
        net = copy.deepcopy(self.model)

        def step() -> None:
            loss, _ = self.objective.loss(net, idx)
            loss.backward()

        return self._count(step) / len(idx)

    def _input_basis_summary(self) -> dict[str, Any] | None:
        """A reduced input basis: its modes (and how many were asked for) and their share of
        the training inputs' variance."""
        scaler = self.data.x_scaler
        if not isinstance(scaler, PodStandardizer):
            return None
        energy = getattr(self.data, "input_energy", None)
        modes = int(scaler.modes.shape[1])
        return {
            "kind": "pod",
            "modes": modes,
            "asked": self.cfg.model.input_modes,
            "energy": energy,
        }

    def _basis_summary(self) -> dict[str, Any] | None:
        """A reduced output basis: its modes, their share of the training targets' variance,
        and its own error on the test targets (the floor a reduced network can reach)."""
        scaler = self.data.y_scaler
        if not isinstance(scaler, PodStandardizer):
            return None
        idx = torch.from_numpy(self.data.splits["test"])
        y = self.data.y
        blocks = y.subset(idx).blocks() if isinstance(y, FileRows) else [(None, y[idx])]
        errors = [projection_errors(block, scaler) for _, block in blocks]
        prior = self.cfg.model.output_basis == "prior"
        return {
            "kind": self.cfg.model.output_basis,
            "modes": int(scaler.modes.shape[1]),
            "asked": "all of the prior's" if prior else self.cfg.model.output_modes,
            "whitened": scaler.scale is not None,
            "energy": getattr(self.data, "basis_energy", None),
            "test_projection_rel_l2": float(torch.cat(errors).mean()),
        }

    @torch.no_grad()
    def _val_loss(self) -> float:
        self.model.eval()
        if isinstance(self.x_val, torch.Tensor):
            out = self.model(self.x_val)
            if self.data.task == "classification":
                self.val_accuracy = float((out.argmax(dim=1) == self.y_val).double().mean())
            return float(self.loss_fn(out, self.y_val))
        total, right, n = 0.0, 0.0, len(self.x_val)  # read on demand: in blocks
        step = min(self.data.x.block_rows, self.data.y.block_rows)
        for i in range(0, n, step):
            out, y = self.model(self.x_val[i : i + step]), self.y_val[i : i + step]
            total += float(self.loss_fn(out, y)) * len(y)
            if self.data.task == "classification":
                right += float((out.argmax(dim=1) == y).double().sum())
        self.val_accuracy = right / n if self.data.task == "classification" else math.nan
        return total / n

    # --- growth ---------------------------------------------------------------------------
    def _time_to_grow(self) -> bool:
        g, s = self.cfg.growth, self.state
        length = s.epoch - s.phase_start
        if length < g.min_phase_epochs or self.cfg.epochs - s.epoch < g.min_phase_epochs:
            return False  # too early in the phase, or too late to train what would be added
        if (self.strategy.trigger or g.trigger) == "schedule":
            return length >= g.every
        return s.stale >= g.patience or length >= g.every

    def _grow(self, val_before: float) -> GrowthEvent:
        g, s = self.cfg.growth, self.state
        x, y, share = self.objective.x, self.objective.y, 1.0
        if self.group.active:  # decisions from sums over every rank's shard of the split
            mine = self.group.shard(torch.arange(len(x)))
            x, y, share = _rows(x, mine), _rows(y, mine), len(mine) / len(x)
        ctx = GrowthContext(
            self.model,
            x,
            y,
            self.loss_fn,
            self.cfg,
            self.growth_rng,
            at_max_depth=self.model.depth >= g.max_blocks,
            stalled=g.stop_on_stall and s.best_val >= s.best_at_phase_start * (1 - g.min_delta),
            group=self.group,
            share=share,
        )
        flops = self._summed(
            self._count(
                lambda: self.strategy.grow(
                    replace(ctx, model=copy.deepcopy(ctx.model), rng=_clone(ctx.rng))
                )
            )
        )
        event = self.strategy.grow(ctx)
        s.decision_flops += flops
        self.model = ctx.model
        self._architecture_changed()
        val_after = math.nan
        if event.inserted:
            self.stepper = None  # the old wrapper's hooks go before the new one's come
            self.stepper = self.group.wrap(self.model, self.device)
            self._rebuild_optimizer()
            val_after = self._val_loss()
            s.phase += 1
            self.objective.set_layer(s.phase)
        else:
            s.growing, s.stop_reason = False, event.reason
        s.phase_start, s.phase_best, s.stale = s.epoch, min(val_before, val_after), 0
        s.conv_best, s.conv_stale = s.phase_best, 0
        s.best_at_phase_start = s.best_val
        self.run.append_csv(
            "growth_events.csv",
            {
                "epoch": s.epoch,
                "inserted": int(event.inserted),
                "stage": event.stage,
                "reason": event.reason,
                "position": "" if event.position is None else event.position,
                "depth_after": self.model.depth,
                "scores": ";".join(f"{v:.6g}" for v in event.scores),
                "eps": event.eps,
                "predicted_change": event.predicted_change,
                "train_loss_before": event.train_loss_before,
                "train_loss_after": event.train_loss_after,
                "val_loss_before": val_before,
                "val_loss_after": val_after,
                "n_params_before": event.n_params_before or self.model.n_params(),
                "n_params_after": event.n_params_after or self.model.n_params(),
                "seconds": round(event.seconds, 4),
                "decision_flops": flops,
                "sparsity": ";".join(f"{k}={v:.4f}" for k, v in event.sparsity.items()),
                "objective_parts": ";".join(f"{k}={v:.6g}" for k, v in self.parts.items()),
            },
        )
        return event

    def _describe(self, event: GrowthEvent) -> str:
        """The one-line summary printed for a growth event."""
        if not event.inserted:
            return f"[{self.cfg.strategy}] epoch {self.state.epoch}: growth stops ({event.reason})"
        change = f"train {event.train_loss_before:.4g} -> {event.train_loss_after:.4g}"
        if not math.isnan(event.predicted_change):
            change += f" (predicted {event.predicted_change:+.3g})"
        what = (
            f"residual stage {event.position}"
            if event.stage == "srl"
            else f"block at position {event.position} -> depth {self.model.depth}"
        )
        return (
            f"[{self.cfg.strategy}] epoch {self.state.epoch}: {what}, eps {event.eps:.3g}, "
            f"{change}, {event.n_params_before} -> {event.n_params_after} params, "
            f"{event.seconds:.2f} s"
        )

    # --- the loop -------------------------------------------------------------------------
    def run_training(self, resume: bool = False) -> dict[str, Any]:
        """Train to the end of the epoch budget (from the checkpoint if ``resume``)."""
        cfg, g = self.cfg, self.cfg.growth
        if resume:
            self._load_checkpoint()
        else:
            self.run.create()
            self.run.write_json("config.json", self._config_record())
            self.run.start_csv("growth_events.csv", GROWTH_COLUMNS)
            if self.cfg.trace_test:
                self.run.start_csv("trajectory.csv", TRAJECTORY_COLUMNS)
            self._fresh()
        s = self.state
        clock = time.perf_counter() - s.elapsed
        self._counting_seconds = 0.0
        bar = self._bar()
        while s.epoch < cfg.epochs:
            t0 = time.perf_counter()
            train_loss = self._train_epoch()
            val = self._val_loss()
            if not (math.isfinite(train_loss) and math.isfinite(val)):
                bar.close()
                raise TrainingError(
                    f"training diverged at epoch {s.epoch + 1} (loss {train_loss:.3g}, "
                    f"validation {val:.3g}); lower optim.lr (now {cfg.optim.lr:g})"
                )
            s.epoch += 1
            spent = s.train_flops + s.decision_flops
            for budget in (cfg.budgets or [])[len(s.budget_results) :]:
                if spent <= budget:
                    break
                s.budget_results.append(self._at_budget(budget, reached=True))
            if cfg.max_flops is not None and spent > cfg.max_flops:
                s.epoch -= 1  # the epoch that crossed the budget does not count
                s.stop_reason = (s.stop_reason + "; " if s.stop_reason else "") + (
                    f"FLOP budget {cfg.max_flops:.4g} reached after epoch {s.epoch}"
                )
                s.elapsed = time.perf_counter() - clock - self._counting_seconds
                break
            if val < s.best_val:
                s.best_val, s.best_epoch = val, s.epoch
                self._keep_best()
                if cfg.trace_test:  # the test error of each new best, with what it cost
                    self._trace(spent)
            if val < s.phase_best * (1 - g.min_delta):
                s.phase_best, s.stale = val, 0
            else:
                s.stale += 1
            delta = g.min_delta if cfg.early_stopping_delta is None else cfg.early_stopping_delta
            if val < s.conv_best * (1 - delta):
                s.conv_best, s.conv_stale = val, 0
            else:
                s.conv_stale += 1
            self.run.append_csv(
                "metrics.csv",
                {
                    "epoch": s.epoch,
                    "train_loss": train_loss,
                    "val_loss": val,
                    **(
                        {"val_accuracy": self.val_accuracy}
                        if self.data.task == "classification"
                        else {}
                    ),
                    "depth": self.model.depth,
                    "n_params": self._n_params(),
                    "lr": self.opt.param_groups[0]["lr"],
                    "seconds": round(time.perf_counter() - t0, 5),
                    "train_flops": s.train_flops,
                },
            )
            schedule.step(self.scheduler, val)
            bar.update(1)
            bar.set_postfix(train=f"{train_loss:.4g}", val=f"{val:.4g}", refresh=False)
            if self.on_epoch is not None and (why := self.on_epoch(s, val)):
                s.stop_reason = why
                s.elapsed = time.perf_counter() - clock - self._counting_seconds
                self._save_checkpoint()
                break
            grew = False
            if s.growing and self._time_to_grow():
                event = self._grow(val)
                bar.close()
                if self.progress:
                    tqdm.write(self._describe(event))
                bar, grew = self._bar(), True
            elif not s.growing and cfg.early_stopping and s.conv_stale >= cfg.early_stopping:
                s.stop_reason += f"; converged at epoch {s.epoch}"
                s.converged = True
                s.elapsed = time.perf_counter() - clock - self._counting_seconds
                self._save_checkpoint()
                break
            s.elapsed = time.perf_counter() - clock - self._counting_seconds
            if grew or s.epoch % cfg.checkpoint_every == 0 or s.epoch == cfg.epochs:
                self._save_checkpoint()
        bar.close()
        return self._finish()

    def _bar(self) -> tqdm:
        s = self.state
        return tqdm(
            total=self.cfg.epochs,
            initial=s.epoch,
            unit="epoch",
            leave=False,
            desc=f"{self.cfg.strategy} phase {s.phase} (depth {self.model.depth})",
            disable=not self.progress,
            mininterval=0.5,
        )

    def _config_record(self) -> dict[str, Any]:
        return config_record(self.cfg, self.data, self.device, self.replaces)

    def _kept(self) -> tuple[nn.Module, dict[str, Any], Predictor]:
        """The best-validation network so far (the current one before any), as kept."""
        s = self.state
        best = s.best or {"spec": self.model.spec(), "model": self.model.state_dict()}
        net = build(best["spec"]).to(device=self.device, dtype=self.dtype)
        net.load_state_dict(best["model"])
        self.strategy.finalize(net, self.cfg)
        predictor = Predictor(net, self.data.x_scaler, self.data.y_scaler, self.data.task).to(
            self.device
        )
        return net, best, predictor

    def _trace(self, spent: float) -> None:
        """A trajectory.csv row: the new best network's test error and the FLOPs spent."""
        s = self.state
        idx = torch.from_numpy(self.data.splits["test"])
        test = test_errors(self._kept()[2], self.data, idx, self.device)
        row = {"epoch": s.epoch, "flops": spent, "best_val_loss": s.best_val}
        self.run.append_csv("trajectory.csv", {**row, **{
            k: test.get(k, "") for k in ("rel_l2_mean", "accuracy")}})  # fmt: skip

    def _at_budget(
        self, budget: float, reached: bool, test: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The test result of the best-validation network seen within ``budget`` FLOPs (the
        epochs before the one that crossed it); ``reached`` False: the run ended first, and
        ``test`` is its final result."""
        s = self.state
        if test is None:
            idx = torch.from_numpy(self.data.splits["test"])
            test = test_errors(self._kept()[2], self.data, idx, self.device) if s.best else {}
        keys = ("rel_l2_mean", "rel_l2_median", "accuracy", "cross_entropy")
        return {
            "flops": budget,
            "reached": reached,
            "epochs": s.epoch - 1 if reached else s.epoch,
            "best_epoch": s.best_epoch,
            "best_val_loss": s.best_val if s.best else math.nan,
            **{k: test[k] for k in keys if k in test},
        }

    def _finish(self) -> dict[str, Any]:
        s = self.state
        net, best, predictor = self._kept()
        self.run.save("best.pt", predictor.bundle())
        idx = torch.from_numpy(self.data.splits["test"])
        test, misfit, inference = test_summary(predictor, self.data, idx, self.device)
        for budget in (self.cfg.budgets or [])[len(s.budget_results) :]:  # the run ended first
            s.budget_results.append(self._at_budget(budget, reached=False, test=test))
        undefined = [k for k, v in test.items() if isinstance(v, float) and not math.isfinite(v)]
        if undefined:  # final.json marks a finished run: never with a NaN test result
            raise TrainingError(
                f"the test {undefined[0]} is {test[undefined[0]]}: the kept network's "
                "predictions are not finite; the run is not marked finished (lower optim.lr, "
                "or check the data's scale)"
            )
        events = self.run.read_csv("growth_events.csv")
        peak = cost.peak_memory_mb(self.device)
        weights = [p.detach() for p in net.parameters()]
        zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
        final = {
            "strategy": self.cfg.strategy,
            "seed": self.cfg.seed,
            "task": self.data.task,
            "test": test,
            "obs_misfit": misfit,
            "zero_weight_fraction": zeros,
            "n_nonzero_params": sum(int((w != 0).sum()) for w in weights),
            "best_val_loss": s.best_val,
            "best_epoch": s.best_epoch,
            "final_depth": spec_depth(best["spec"]),
            "srl_stages": len(best["spec"].get("members", [None])) - 1,
            "n_params": net.n_params(),
            "n_trainable": sum(p.numel() for p in net.parameters() if p.requires_grad),
            "depth_at_end": self.model.depth,
            "epochs": s.epoch,
            "budget_epochs": self.cfg.epochs,
            "converged": s.converged,  # stopped by convergence, not by the budget
            "budgets": s.budget_results or None,
            "insertions": sum(int(e["inserted"]) for e in events),
            "growth_stop": s.stop_reason,
            "output_basis": self._basis_summary(),
            "input_basis": self._input_basis_summary(),
            "wall_seconds": round(s.elapsed, 3),
            "training_flops": s.train_flops,
            "decision_flops": s.decision_flops,
            **dict(zip(("peak_memory_mb", "peak_memory_kind"), peak, strict=True)),
            "inference_seconds_per_sample": inference,
            "architecture": best["spec"],
        }
        self.run.write_json("final.json", final)
        predictor.final, predictor.run_dir = final, self.run.path
        predictor.history = self.run.read_csv("metrics.csv")
        predictor.events = events
        self.predictor = predictor
        return final


def config_record(
    cfg: TrainConfig, data: Dataset, device: Any, replaces: str | None = None
) -> dict[str, Any]:
    """config.json: the resolved config, the data it ran on (path, content fingerprint, split
    sizes), the device and the versions."""
    return {
        "config": to_dict(cfg),
        "data": str(data.path.resolve()),
        "data_fingerprint": data.fingerprint,
        "problem": data.problem,
        "split_sizes": {k: int(len(v)) for k, v in data.splits.items()},
        "device": str(device),
        "versions": {"sciml_grow": __version__, "torch": torch.__version__},
        **({"replaces": replaces} if replaces else {}),
    }


def _clone(rng: torch.Generator) -> torch.Generator:
    """A generator in ``rng``'s state that draws without advancing ``rng``."""
    out = torch.Generator(device=rng.device)
    out.set_state(rng.get_state())
    return out


def _rows(values: Any, idx: torch.Tensor) -> Any:
    """Rows ``idx`` of a tensor (a copy) or of rows read on demand (a view)."""
    return values.subset(idx) if hasattr(values, "subset") else values[idx]
