"""Learning-rate schedules (``optim.schedule``), torch.optim's own schedulers stepped once an
epoch, and what becomes of a schedule when growth replaces the optimizer.

- ``none``: the constant ``optim.lr``.
- ``cosine``: ``CosineAnnealingLR`` from ``optim.lr`` to ``optim.min_lr_ratio * optim.lr``
  over the run's epochs.
- ``warmup-cosine``: ``LinearLR`` from ``optim.warmup_start * optim.lr`` up to ``optim.lr``
  over ``optim.warmup_epochs``, then the cosine over the rest (``SequentialLR``).
- ``plateau``: ``ReduceLROnPlateau`` on the validation loss (``optim.plateau_factor``,
  ``optim.plateau_patience``, floor ``optim.min_lr_ratio * optim.lr``).

An insertion rebuilds the optimizer over the trainable parameters (new blocks join, frozen
layers leave). ``optim.on_insert`` says what the schedule does then: ``continue`` (the same
schedule goes on over the run's epochs, new parameters at the current rate) or ``restart``
(a new schedule from ``optim.lr`` over the epochs left); ``optim.insert_state`` whether the
old parameters keep their optimizer state (``keep``: Adam's moments) or start afresh
(``reset``). A scheduler's state is saved in every checkpoint, so a resumed run is bitwise
the uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim import lr_scheduler

from sciml_grow.training.config import TrainConfig

Scheduler = Any  # an LRScheduler (ReduceLROnPlateau included), or None for "none"


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, start: int = 0) -> Scheduler:
    """The schedule of ``cfg`` for ``opt``, spanning the epochs from ``start`` to the end."""
    o = cfg.optim
    span = max(1, cfg.epochs - start)
    floor = o.min_lr_ratio * o.lr
    if o.schedule == "none":
        return None
    if o.schedule == "plateau":
        return lr_scheduler.ReduceLROnPlateau(
            opt, factor=o.plateau_factor, patience=o.plateau_patience, min_lr=floor
        )
    warmup = min(o.warmup_epochs, span - 1) if o.schedule == "warmup-cosine" else 0
    cosine = lr_scheduler.CosineAnnealingLR(opt, T_max=span - warmup, eta_min=floor)
    if warmup == 0:
        return cosine
    ramp = lr_scheduler.LinearLR(opt, start_factor=o.warmup_start, total_iters=warmup)
    return lr_scheduler.SequentialLR(opt, [ramp, cosine], milestones=[warmup])


def step(scheduler: Scheduler, val_loss: float) -> None:
    """The end of an epoch: the schedule moves on (a plateau schedule reads the validation
    loss)."""
    if scheduler is None:
        return
    if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
        scheduler.step(val_loss)
    else:
        scheduler.step()


def after_insertion(
    old_opt: torch.optim.Optimizer,
    new_opt: torch.optim.Optimizer,
    scheduler: Scheduler,
    cfg: TrainConfig,
    epoch: int,
    start: int,
) -> tuple[Scheduler, int]:
    """The schedule of the optimizer that replaces ``old_opt`` at ``epoch`` (``start``: where
    the current schedule began), and where it begins: the same schedule continued at its
    current rate, or a new one from ``optim.lr`` over the epochs left."""
    if cfg.optim.on_insert == "restart":
        for g in new_opt.param_groups:
            g["lr"] = cfg.optim.lr
            g.pop("initial_lr", None)
        return make_scheduler(new_opt, cfg, epoch), epoch
    rate = old_opt.param_groups[0]["lr"]
    initial = old_opt.param_groups[0].get("initial_lr", cfg.optim.lr)
    for g in new_opt.param_groups:
        g["initial_lr"] = initial
    new = make_scheduler(new_opt, cfg, start)
    if new is not None:
        new.load_state_dict(scheduler.state_dict())
    for g in new_opt.param_groups:  # building it stepped the rate: set it where it was
        g["lr"] = rate
    return new, start
