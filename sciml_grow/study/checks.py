"""What a study (``compare``, ``transfer``) checks before it creates anything, and how it
holds its folder: arguments, config, the data's shapes and split, memory and disk for every
run, the output directory and its lock. A refused study leaves nothing behind."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
import math
from pathlib import Path
import shutil
from typing import Any

import numpy as np

from sciml_grow import format as fmt
from sciml_grow.config import from_dict
from sciml_grow.errors import InputError, UserError, arg
from sciml_grow.growth import STRATEGIES
from sciml_grow.outputs import OutputError, OutputLock
from sciml_grow.study.plan import Job, job_config
from sciml_grow.training.config import FINETUNE_METHODS, TrainConfig
from sciml_grow.training.lifecycle import check_run_resources
from sciml_grow.training.rundir import finished_architecture


def check_compare(
    data: str | Path,
    strategies: Sequence[str],
    *,
    out: str | Path,
    seeds: int = 10,
    config: dict[str, Any] | None = None,
    epochs: int | None = None,
    train_sizes: Sequence[int | None] | None = None,
    against: str | None = None,
    reference_samples: int = 100,
    floor_samples: int = 0,
    mcmc: dict[str, Any] | None = None,
    budgets: Sequence[float] | None = None,
    **_: Any,
) -> dict[str, Any]:
    """Everything :func:`compare` checks before it starts, without side effects: the
    strategies, sizes, reference, config, the data's shapes and the memory a run needs, and
    the output directory; returns them normalized."""
    from sciml_grow.inverse.mcmc import McmcConfig
    from sciml_grow.study.plan import default_reference

    base = dict(config or {})
    variants = _variants(base)
    elsewhere = {"finetune": "fine-tuning methods are compared by transfer, not compare"}
    names = _names(strategies, "strategies", (*COMPARED, *variants), elsewhere)
    seeds = _count(seeds, "seeds", 1)
    _count(reference_samples, "reference_samples", 0)
    _count(floor_samples, "floor_samples", 0)
    from_dict(McmcConfig, mcmc or {}, prefix="mcmc.")  # ConfigError naming the key
    sizes = None if train_sizes is None else [_size(n) for n in train_sizes]
    if sizes is not None and (not sizes or len(set(sizes)) != len(sizes)):
        raise InputError(f"{arg('train_sizes')}: give distinct sizes, got {sizes}")
    against = (against or default_reference(names)).lower()
    if against not in names:
        raise InputError(
            f"{arg('against')} {against}: not among the strategies ({', '.join(names)})"
        )
    for key in ("strategy", "seed"):
        if key in base:
            raise InputError(f"config key {key} is set by compare itself; remove it")
    if epochs is not None:
        base["epochs"] = epochs
    shares = None
    if budgets is not None:
        kind, values = _budgets(budgets)
        if kind == "flops":
            base["budgets"] = values
        else:  # read off every run's trajectory once the reference runs are done
            base["trace_test"], shares = True, values
    cfgs = [from_dict(TrainConfig, job_config(Job(s, 0), base)) for s in names]
    for name, cfg in zip(names, cfgs, strict=True):
        matched = cfg.strategy == "search" and not cfg.search.match_run and cfg.search.matched
        if matched and matched not in names:
            raise InputError(
                f"{arg('strategies')}: {name} matches the compute of {matched}, which is not "
                f"compared ({', '.join(names)}); add it, or give search.budget = trials"
            )
    runs = len(names) * seeds * len(sizes or [None])
    n_train = _check_study_data(data, cfgs[0], Path(out) / "runs", runs)
    for n in sizes or []:
        if n is not None and n > n_train:
            raise InputError(
                f"{arg('train_sizes')}: {n} is more than the {n_train} training samples of "
                f"{data} (use 'all' for every one)"
            )
    check_comparison_dir(out, (data,))
    return {"strategies": names, "train_sizes": sizes, "against": against, "config": base,
            "budget_shares": shares}  # fmt: skip


COMPARED = tuple(s for s in STRATEGIES if s != "finetune")  # fine-tuning: transfer()


def _variants(base: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The config's ``variants`` table (a name for a strategy with settings of its own),
    checked: each names a compared strategy and none reuses a registered name."""
    variants = base.get("variants", {})
    if not isinstance(variants, dict):
        raise InputError("config key variants must be a table of named variants")
    for name, v in variants.items():
        where = f"config variants.{name}"
        if name in STRATEGIES:
            raise InputError(f"{where}: {name} is a strategy's own name; choose another")
        if not isinstance(v, dict) or v.get("strategy") not in COMPARED:
            raise InputError(
                f"{where}: needs strategy = one of {', '.join(COMPARED)} (and its settings)"
            )
        if "seed" in v:
            raise InputError(f"{where}: seed is set by compare itself; remove it")
    return variants


def _names(
    values: str | Sequence[str],
    what: str,
    choices: Sequence[str],
    elsewhere: dict[str, str] | None = None,
) -> list[str]:
    """Strategy or method names, from a list or a comma-separated string, in lower case; an
    unknown one is refused with the choices, one that ``elsewhere`` names with its hint."""
    if isinstance(values, str):
        values = values.split(",")
    if not isinstance(values, Sequence) or not all(isinstance(v, str) for v in values):
        raise InputError(f"{arg(what)} must be a list of names, got {values!r}")
    names = [v.strip().lower() for v in values if v.strip()]
    for v in names:
        if v in (elsewhere or {}):
            raise InputError(f"{arg(what)}: {v}: {elsewhere[v]}")
    repeated = sorted({v for v in names if names.count(v) > 1})
    if repeated:  # each would count twice in the tables
        raise InputError(f"{arg(what)}: {', '.join(repeated)} given twice; name each once")
    unknown = [v for v in names if v not in choices]
    if not names or unknown:
        raise InputError(
            f"{arg(what)}: unknown {', '.join(unknown) or '(none given)'} "
            f"(choices: {', '.join(choices)})"
        )
    return names


def _budgets(values: Any) -> tuple[str, list[float]]:
    """Compute budgets: FLOP counts ("flops", e.g. 1e9) or shares of the reference
    strategy's FLOPs in the same seed and size ("share", e.g. 0.3x); distinct, positive,
    increasing, all of one kind."""
    if isinstance(values, str):
        values = values.split(",")
    texts = [str(v).strip().lower() for v in values]
    kinds = {"share" if t.endswith("x") else "flops" for t in texts}
    try:
        out = [float(t.rstrip("x")) for t in texts]
    except ValueError:
        raise InputError(
            f"{arg('budgets')}: FLOP counts (1e9) or shares of the reference's FLOPs (0.3x) "
            f"expected, got {values!r}"
        ) from None
    if len(kinds) != 1:
        raise InputError(f"{arg('budgets')}: give FLOP counts or shares (0.3x), not both")
    if not out or any(not (v > 0 and math.isfinite(v)) for v in out) or out != sorted(set(out)):
        raise InputError(
            f"{arg('budgets')}: distinct positive values in increasing order, got {texts}"
        )
    return kinds.pop(), out


def _count(value: Any, what: str, least: int) -> int:
    """An integer argument of at least ``least`` (numpy integers too, never a bool)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
        raise InputError(f"{arg(what)} must be an integer >= {least}, got {value!r}")
    return int(value)


MIN_TRAIN = 2  # a training set needs two samples for its standardization (a std)


def _size(n: Any) -> int | None:
    """A training-set size of a sweep: an integer >= MIN_TRAIN, or None (all)."""
    return None if n is None else _count(n, "train_sizes", MIN_TRAIN)


def _check_study_data(data: str | Path, cfg: TrainConfig, out: Path, runs: int) -> int:
    """What a study checks of its data file before it creates anything: readable, shapes
    that train, a split that holds every part, and memory for one run; returns the number of
    training samples (what a sweep or fine-tuning may draw from). ``runs`` run directories
    under ``out`` must fit on its disk."""
    from sciml_grow.data.dataset import check_data_memory, split_sizes

    with fmt.open_file(data, require_tag=False) as f:
        keys = (cfg.data.inputs, cfg.data.targets)
        x, y = (fmt.check_array(f, k, data) for k in keys)
        problem = fmt.shape_problem(x, y, *keys)
        if problem:
            raise fmt.DatasetError(f"{data}: {problem}")
        check_data_memory(x, y, Path(data))
        n_train = split_sizes(len(x), cfg.data, fmt.read_split(f, data))["train"]
        in_dim = int(np.prod(x.shape[1:], dtype=np.int64))
        out_dim = int(np.prod(y.shape[1:], dtype=np.int64))
        if y.dtype.kind in "iu":
            out_dim = int(y.attrs.get("classes", 2))
    check_run_resources(cfg, in_dim, out_dim, n_train, out, runs)
    return n_train


@contextmanager
def removed_if_refused(out: str | Path, comm: Any = None) -> Iterator[None]:
    """A study folder this call creates is removed again if the call is refused (a toolkit
    error) before any run finished: a refused command leaves nothing behind."""
    path = Path(out).absolute()
    top = path
    while not top.parent.exists() and top.parent != top:
        top = top.parent  # the highest folder this call will create
    existed = top.exists()
    try:
        yield
    except UserError:
        root = comm is None or comm.rank == 0
        if root and not existed and top.is_dir() and not any(top.rglob("final.json")):
            shutil.rmtree(top, ignore_errors=True)
        raise


def check_comparison_dir(out: str | Path, inputs: Sequence[Any]) -> None:
    """A comparison directory to create or resume: a folder that is new, empty or already a
    comparison (it has runs/), never a file or an input."""
    from sciml_grow.outputs import check_not_input, check_parent

    path = Path(out)
    check_not_input(path, inputs)
    OutputLock(path).check_free()
    if path.exists() and not path.is_dir():
        raise OutputError(f"{arg('out')} {path} is a file, not a comparison directory")
    if not path.exists():
        check_parent(path)
    elif any(path.iterdir()) and not (path / "runs").is_dir():
        raise OutputError(
            f"{arg('out')} {path} is a folder that holds no comparison (no runs/); choose another"
        )


def lock_on_root(comm: Any, out: str | Path) -> OutputLock | None:
    """An exclusive lock on a comparison directory, held by rank 0 (None elsewhere); every
    rank raises if another process holds it."""
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
        raise OutputError(error)
    return lock


TRANSFER_METHODS = (*FINETUNE_METHODS, "scratch")  # scratch: the architecture from scratch


def check_transfer(
    run: str | Path,
    data: str | Path,
    *,
    out: str | Path,
    methods: Sequence[str] = TRANSFER_METHODS,
    sizes: Sequence[int] = (50, 100, 200),
    seeds: int = 3,
    config: dict[str, Any] | None = None,
    epochs: int | None = None,
    **_: Any,
) -> list[str]:
    """Everything :func:`transfer` checks before it starts; returns the methods normalized."""

    names = _names(methods, "methods", TRANSFER_METHODS)
    _count(seeds, "seeds", 1)
    if isinstance(sizes, int | str) or not sizes:
        raise InputError(f"{arg('sizes')} must be a list of sample counts, got {sizes!r}")
    counts = [_count(n, "sizes", MIN_TRAIN) for n in sizes]
    if len(set(counts)) != len(counts):
        raise InputError(f"{arg('sizes')}: give distinct sizes, got {','.join(map(str, counts))}")
    finished_architecture(run)  # the pretrained run: finished, checked before any work
    base = {**(config or {}), **({"epochs": epochs} if epochs is not None else {})}
    for key in ("strategy", "seed"):
        if key in base:
            raise InputError(f"config key {key} is set by transfer itself; remove it")
    cfg = from_dict(TrainConfig, base)
    runs = len(names) * len(counts) * int(seeds)
    n_train = _check_study_data(data, cfg, Path(out) / "runs", runs)
    if max(counts) > n_train:
        raise InputError(
            f"{arg('sizes')}: {max(counts)} is more than the {n_train} training samples of {data}"
        )
    check_comparison_dir(out, (data, run))
    return names
