"""What reaching a result cost: the FLOPs a run had spent when its validation loss first
reached a target (the reference's best, same seed), read from its own logs.

A run's ``metrics.csv`` holds its cumulative training FLOPs per epoch and
``growth_events.csv`` each growth decision's FLOPs; a search's trials are laid end to end in
the order they ran. Validation, never test: the target is the reference run's best
validation loss, on the same split.
"""

from __future__ import annotations

from pathlib import Path

from sciml_grow.training.rundir import RunDir


def reach_cost(path: Path, target: float) -> float | None:
    """FLOPs spent when the run at ``path`` first had a validation loss <= ``target`` (None if
    it never did, or if its logs predate FLOP counting)."""
    trials = sorted((path / "trials").glob("[0-9]*")) if (path / "trials").is_dir() else []
    spent = 0.0
    for run in trials or [path]:
        reached, total = _reach(RunDir(run), target)
        if reached is not None:
            return spent + reached
        if total is None:
            return None
        spent += total
    return None


def _reach(run: RunDir, target: float) -> tuple[float | None, float | None]:
    """(FLOPs when the run reached ``target`` or None, its total FLOPs or None if unknown)."""
    rows = run.read_csv("metrics.csv")
    if not rows or "train_flops" not in rows[0]:
        return None, None
    events = [
        (int(e["epoch"]), float(e.get("decision_flops") or 0.0))
        for e in run.read_csv("growth_events.csv")
    ]
    for r in rows:
        epoch = int(r["epoch"])
        if float(r["val_loss"]) <= target:
            decisions = sum(f for at, f in events if at < epoch)
            return float(r["train_flops"]) + decisions, None
    return None, float(rows[-1]["train_flops"]) + sum(f for _, f in events)
