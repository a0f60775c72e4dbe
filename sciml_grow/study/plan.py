"""Planning a comparison: which runs, named how, with which training subset and config.

Seed k is the same experiment for every strategy (see docs/statistics.md): a job's config is
the base config with the strategy, the seed and, for a training-size sweep, the subset of the
training split seed k draws (``data.max_train`` / ``data.subset_seed``; validation scales with
it). The baseline waits for the td run of its seed, whose kept architecture it retrains; a
search waits for every other run of its seed, whose compute its budget may match.

A compared name may be a *variant*: the config's ``variants`` table names a strategy with
settings of its own (``[variants.search-5x]`` with ``strategy = "search"`` and
``search = {budget = "match:td", factor = 5}``), so one study can hold two searches.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Any

from sciml_grow.config import from_dict, merged
from sciml_grow.training.config import TrainConfig

RUN_NAME = re.compile(r"^(?P<strategy>.+?)(?:-n(?P<size>\d+))?-seed(?P<seed>\d+)$")


@dataclass(frozen=True)
class Job:
    strategy: str
    seed: int
    train_size: int | None = None  # None: the whole training split

    @property
    def name(self) -> str:
        """The run directory's name: ``<strategy>[-n<size>]-seed<k>``."""
        size = "" if self.train_size is None else f"-n{self.train_size}"
        return f"{self.strategy}{size}-seed{self.seed}"

    @classmethod
    def from_name(cls, name: str) -> Job | None:
        """The job a run directory's name stands for (None for any other name)."""
        m = RUN_NAME.match(name)
        if m is None:
            return None
        size = None if m["size"] is None else int(m["size"])
        return cls(m["strategy"], int(m["seed"]), size)


def kind(name: str, base: dict[str, Any]) -> str:
    """The registered strategy a compared name runs (itself, or a variant's strategy)."""
    return base.get("variants", {}).get(name, {}).get("strategy", name)


def jobs(
    strategies: list[str],
    seeds: int,
    sizes: list[int | None] | None = None,
    base: dict[str, Any] | None = None,
) -> list[list[Job]]:
    """Waves of jobs: the baseline needs the finished td run of its seed, a search the runs
    whose compute it matches, so they run later, in that order."""
    sizes, base = sizes or [None], base or {}
    order = {"baseline": 1, "search": 2}
    waves: list[list[Job]] = [[], [], []]
    for n in sizes:
        for s in strategies:
            waves[order.get(kind(s, base), 0)] += [Job(s, k, n) for k in range(seeds)]
    return [w for w in waves if w]


def validation_size(train_size: int, val_fraction: float) -> int:
    """Validation samples for a training subset: the split's own ratio, at least 5."""
    return max(5, round(train_size * val_fraction / (1 - val_fraction)))


def job_config(job: Job, base: dict[str, Any]) -> dict[str, Any]:
    """The run's raw config: the base config, the strategy and seed, and its training subset
    (seed k draws it, the same for every strategy)."""
    settings = {k: v for k, v in base.items() if k != "variants"}
    variant = base.get("variants", {}).get(job.strategy)
    if variant is not None:
        settings = merged(settings, variant)
    raw = {**settings, "strategy": kind(job.strategy, base), "seed": job.seed}
    data = dict(raw.get("data", {}))
    if job.train_size is not None:
        data["max_train"] = job.train_size
        if "max_val" not in data:  # validation scales with the training set
            fraction = from_dict(TrainConfig, {"data": data}).data.val_fraction
            data["max_val"] = validation_size(job.train_size, fraction)
    if data.get("max_train") is not None and "subset_seed" not in data:
        data["subset_seed"] = job.seed
    raw["data"] = data
    return raw


def default_reference(strategies: list[str]) -> str:
    """What every strategy is compared with unless told: the baseline, else the first."""
    return "baseline" if "baseline" in strategies else strategies[0]
