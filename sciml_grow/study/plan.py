"""Planning a comparison: which runs, named how, with which training subset and config.

Seed k is the same experiment for every strategy (see docs/statistics.md): a job's config is
the base config with the strategy, the seed and, for a training-size sweep, the subset of the
training split seed k draws (``data.max_train`` / ``data.subset_seed``; validation scales with
it). The baseline waits for the td run of its seed, whose kept architecture it retrains.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Any

from sciml_grow.config import from_dict
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


def jobs(
    strategies: list[str], seeds: int, sizes: list[int | None] | None = None
) -> list[list[Job]]:
    """Waves of jobs: the baseline needs the finished td run of its seed, so it runs later."""
    sizes = sizes or [None]
    first = [
        Job(s, k, n) for n in sizes for s in strategies if s != "baseline" for k in range(seeds)
    ]
    later = (
        [Job("baseline", k, n) for n in sizes for k in range(seeds)]
        if "baseline" in strategies
        else []
    )
    return [w for w in (first, later) if w]


def validation_size(train_size: int, val_fraction: float) -> int:
    """Validation samples for a training subset: the split's own ratio, at least 5."""
    return max(5, round(train_size * val_fraction / (1 - val_fraction)))


def job_config(job: Job, base: dict[str, Any]) -> dict[str, Any]:
    """The run's raw config: the base config, the strategy and seed, and its training subset
    (seed k draws it, the same for every strategy)."""
    raw = {**base, "strategy": job.strategy, "seed": job.seed}
    data = dict(base.get("data", {}))
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
