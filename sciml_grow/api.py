"""The public Python API: every main job in a few lines (``import sciml_grow as sg``).

    ds = sg.load("heat.h5")                          # typed metadata (ds.meta) and splits
    model = sg.fit(ds, sg.TrainConfig(strategy="td", epochs=200))
    fields = model.predict(observations)             # original units
    result = sg.compare("heat.h5", ["baseline", "td"], out="cmp", seeds=10)
    print(result.table)

The ``sciml-grow`` command is a thin layer over these calls: whatever it checks or decides,
they do too. Configs are validated where they are built, so ``sg.TrainConfig(epochs=0)``
fails at once with the line the command would print.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sciml_grow import format as fmt
from sciml_grow.config import from_dict
from sciml_grow.data.dataset import DataConfig, Dataset, mse
from sciml_grow.errors import InputError, arg
from sciml_grow.growth import topological as td
from sciml_grow.growth.strategies import starting_network
from sciml_grow.nets import BlockSpec, GrowableNet
from sciml_grow.nets.activations import get_activation
from sciml_grow.outputs import OutputLock, atomic_write_bytes, json_text
from sciml_grow.resources import check_disk, check_memory
from sciml_grow.study.checks import (
    TRANSFER_METHODS,
    check_compare,
    check_transfer,
    lock_on_root,
    removed_if_refused,
)
from sciml_grow.study.stats import PairedResult
from sciml_grow.training import lifecycle
from sciml_grow.training.config import ModelConfig, TrainConfig
from sciml_grow.training.lifecycle import check_device, resume  # noqa: F401 (sg.resume)
from sciml_grow.training.predictor import Predictor, check_inputs, real_tensor
from sciml_grow.training.rundir import RunDir


# --- data ----------------------------------------------------------------------------------
def load(path: str | Path, data: DataConfig | None = None, **split: Any) -> Dataset:
    """A dataset file as tensors: inputs, targets, the train/validation/test split and the
    standardizers (``split`` overrides :class:`DataConfig` fields, e.g. ``max_train=200``);
    ``.meta`` holds the file's typed metadata, ``.torch_dataset(split)`` a torch Dataset view."""
    cfg = replace(data, **split) if data is not None else DataConfig(**split)
    return Dataset(path, cfg)


def check(path: str | Path) -> fmt.CheckReport:
    """Validate any HDF5 file against the dataset format (``sciml-grow check``)."""
    return fmt.check_file(path)


def generate(
    problem: str | type,
    n_samples: int,
    out: str | Path,
    *,
    seed: int = 0,
    config: dict[str, Any] | None = None,
    force: bool = False,
    progress: bool = True,
) -> Any:
    """Generate ``n_samples`` of a PDE problem into ``out`` (needs FEniCSx; ``pde_data``):
    a registered name, ``"package.module:Class"`` or a Problem class. Under mpiexec every
    rank calls this and the samples are spread; re-running resumes."""
    from pde_data import require_fenicsx

    require_fenicsx()
    from pde_data.generate import generate as _generate

    return _generate(problem, n_samples, out, seed, config or {}, progress=progress, force=force)


# --- networks ------------------------------------------------------------------------------
def build_network(data: Dataset, model: ModelConfig | None = None, **kw: Any) -> GrowableNet:
    """A fresh growable network (MLP, CNN or ViT by ``kind``) shaped for ``data``'s inputs
    and targets, as every strategy but layerwise starts it (``kw`` overrides ModelConfig)."""
    m = replace(model, **kw) if model is not None else ModelConfig(**kw)
    return starting_network(m, data)


@dataclass
class TDDecision:
    """One topological-derivative decision: where a new block helps most and how to start it.

    ``scores[l]`` is the largest eigenvalue of Q_l for a block after hidden state l; inserting
    along ``direction`` with size eps changes the loss by about ``-eps**2 / 2 * curvature``.
    """

    scores: list[float]
    position: int
    direction: torch.Tensor  # (width, width + 1): [weights | bias] of the new block
    curvature: float  # phi^T Q phi at the chosen depth
    activation: str
    loss: float  # J before the insertion

    def predicted_change(self, eps: float) -> float:
        return td.predicted_change(self.curvature, eps)

    def insert(self, net: GrowableNet, eps: float) -> torch.nn.Module:
        """Insert the block into ``net`` (in place) at ``position``, started at eps * phi."""
        if not isinstance(eps, int | float) or not math.isfinite(eps):
            raise InputError(f"eps must be a finite number, got {eps!r}")
        block = net.insert_block(self.position, BlockSpec(activation=self.activation, origin="td"))
        td.set_block_params(block, self.direction, eps)
        return block


def td_decision(
    net: GrowableNet,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Any = mse,
    *,
    activation: str = "silu2-tanh",
    mode: str = "within",
    ratio: float = 0.5,
    max_rows: int = 0,
    seed: int = 0,
) -> TDDecision:
    """The topological derivative of ``net`` on (x, y): usable inside any training loop.

    ``activation`` is the new block's (sigma(0) = sigma'(0) = 0); ``mode``/``ratio`` choose
    the direction (``within``: every neuron whose eigenvalue is at least ``ratio`` of the
    largest); ``max_rows`` > 0 estimates Q on a random subset of rows.
    """
    x, y = real_tensor(x, "x"), real_tensor(y, "y")
    act = get_activation(activation)
    rng = torch.Generator().manual_seed(seed)
    sens, loss = td.sensitivity(net, x, y, loss_fn, act.d2_at_zero, max_rows=max_rows, rng=rng)
    phi = td.direction(sens, mode, ratio)
    return TDDecision(
        sens.scores.tolist(), sens.best, phi, td.quadratic_form(sens, phi), activation, loss
    )


# --- training ------------------------------------------------------------------------------
def fit(
    data: Dataset | str | Path,
    config: TrainConfig | None = None,
    *,
    out: str | Path | None = None,
    force: bool = False,
    device: str = "cpu",
    progress: bool = True,
    comm: Any = None,
    **settings: Any,
) -> Predictor:
    """Train one run and return the fitted predictor (``.predict``, ``.save``, ``.final``,
    ``.history``, ``.events``). ``settings`` override top-level TrainConfig fields
    (``strategy="td", epochs=200``). With ``out`` the run directory is written (logs,
    checkpoints, resumable; ``force`` replaces a run this toolkit made, atomically);
    without it everything stays in memory. Everything is checked before anything is written.
    Under mpiexec, ``comm=MPI.COMM_WORLD`` with strategy search makes every rank a worker of
    the one search.
    """
    cfg = lifecycle.train_config(config, settings)
    return lifecycle.fit_run(
        data, cfg, out=out, force=force, device=device, progress=progress, comm=comm
    )


# --- studies -------------------------------------------------------------------------------
@dataclass
class Comparison:
    """What ``compare`` produced: a row per run, the paired statistics and the table."""

    out: Path
    rows: list[dict[str, Any]]
    stats: list[PairedResult]
    table: str  # markdown, as in table.md
    plots: list[Path]
    summary: str = ""  # the few columns a terminal shows (compare); table.md has them all


def compare(
    data: str | Path,
    strategies: Sequence[str] = ("baseline", "td"),
    *,
    out: str | Path,
    seeds: int = 10,
    config: dict[str, Any] | None = None,
    epochs: int | None = None,
    train_sizes: Sequence[int | None] | None = None,
    against: str | None = None,
    all_pairs: bool = False,
    reference_samples: int = 100,
    floor_samples: int = 0,
    mcmc: dict[str, Any] | None = None,
    budgets: Sequence[float] | None = None,
    plots: bool = True,
    comm: Any = None,
) -> Comparison | None:
    """Train every (strategy, seed[, training size]) with paired seeds, add the classical
    references (linear, MAP or POD) and, with ``floor_samples`` > 0 where the file allows it,
    the Bayes floor (posterior means by MCMC, settings ``mcmc``: see ``McmcConfig``); return
    the rows, paired statistics and table (None on ranks other than 0 under MPI). With
    ``budgets`` every strategy is also compared at each compute budget (budgets.csv,
    budget_stats.csv): FLOP counts (1e9), recorded by each run as it passes them, or shares of
    the reference strategy's FLOPs ("0.3x"), read off each run's trajectory. ``out`` is the
    comparison directory; re-running resumes."""
    from sciml_grow.inverse.mcmc import McmcConfig
    from sciml_grow.study.compare import compare as run_compare
    from sciml_grow.study.compare import read_stats

    plan = check_compare(
        data, strategies, out=out, seeds=seeds, config=config, epochs=epochs,
        train_sizes=train_sizes, against=against, reference_samples=reference_samples,
        floor_samples=floor_samples, mcmc=mcmc, budgets=budgets,
    )  # fmt: skip
    rank = comm.rank if comm is not None else 0
    if comm is not None:
        comm.barrier()  # every rank has checked the output before rank 0 locks it
    with removed_if_refused(out, comm):
        lock = lock_on_root(comm, out)
        try:
            rows = run_compare(
                data, plan["strategies"], seeds, out, plan["config"], comm, reference_samples,
                train_sizes=plan["train_sizes"], against=plan["against"], all_pairs=all_pairs,
                budget_shares=plan["budget_shares"],
                floor_samples=floor_samples, mcmc=from_dict(McmcConfig, mcmc or {}, "mcmc."),
            )  # fmt: skip
        finally:
            if lock is not None:
                lock.release()
    if rank != 0:
        return None
    out = Path(out)
    made: list[Path] = []
    if plots:
        from sciml_grow.study.plots import all_plots

        made = all_plots(out, Path(data))
    stats = read_stats(out / "stats.csv") if (out / "stats.csv").exists() else []
    from sciml_grow.inverse.references import read_reference
    from sciml_grow.study.linear import read_linear
    from sciml_grow.study.report import compact

    refs = [read_reference(out), read_reference(out, "floor")]
    summary = compact(rows + read_linear(out), stats, plan["against"], refs)
    text = (out / "table.md").read_text()
    if (out / "budgets.csv").exists():  # the comparison at equal compute, as in table.md
        summary += "\n" + text[text.index("## At equal compute") :]
    return Comparison(out, rows, stats, text, made, summary)


def benchmark(name: str | Path) -> Any:
    """A named benchmark (``sg.benchmark("heat-demo")``) or a user's declaration by the path
    of its TOML file: data, fixed split, protocol, training config, version and ``.card``."""
    from sciml_grow.bench import get_benchmark

    return get_benchmark(name)


def run_benchmark(
    name: str | Path,
    *,
    out: str | Path,
    data: str | Path | None = None,
    strategies: Sequence[str] | None = None,
    seeds: int | None = None,
    train_sizes: Sequence[int | None] | None = None,
    epochs: int | None = None,
    plots: bool = True,
    progress: bool = False,
    comm: Any = None,
) -> Comparison | None:
    """Run benchmark ``name``: generate its data into ``data`` (default ``out/NAME-vV.h5``;
    fixed seed and stored split, resumable, spread over ``comm``'s ranks) unless it is there,
    refuse data that differ from those its card was measured on, then run its comparison
    protocol into ``out/compare`` (strategies, seeds and sizes may be narrowed)."""
    from sciml_grow.bench import check_card, get_benchmark

    bench = get_benchmark(name)
    plan = bench.plan(strategies, seeds, train_sizes, epochs)  # all checked before any data
    out = Path(out)
    path = Path(data) if data is not None else out / f"{bench.name}-v{bench.version}.h5"
    proto = bench.protocol
    from pde_data import problem_name, registered, require_fenicsx

    try:  # a declaration names registered problems, never code
        problem = problem_name(bench.data.problem)
    except InputError:
        raise InputError(
            f"benchmark {bench.source}: data.problem: unknown problem {bench.data.problem!r} "
            f"(registered: {', '.join(sorted(registered()))})"
        ) from None
    try:  # the generator checks a file already there: this benchmark's, or refused
        require_fenicsx()
    except ImportError:
        if not _complete(path):  # without FEniCSx a finished file is used as it is
            raise
    else:
        from pde_data.generate import generate as _generate

        with removed_if_refused(path.parent, comm):  # a refused generation leaves no folder
            if comm is None or comm.rank == 0:
                path.parent.mkdir(parents=True, exist_ok=True)
            if comm is not None:
                comm.barrier()
            d = bench.data
            _generate(problem, d.samples, path, d.seed, d.config, comm=comm, progress=progress,
                      split=(d.split[0], d.split[1]),
                      out_flag=arg("data") if data is not None else arg("out"))  # fmt: skip
    match = check_card(bench, Dataset(path, DataConfig()))  # a changed generator: refused
    if comm is None or comm.rank == 0:  # which benchmark this folder holds
        out.mkdir(parents=True, exist_ok=True)  # --data elsewhere: the folder may be new
        record = {**bench.record(), "data": str(path.resolve()), "data_matches_card": match}
        atomic_write_bytes(out / "benchmark.json", json_text(record).encode())
    return compare(
        path, plan["strategies"], out=out / "compare", seeds=plan["seeds"],
        config=bench.train, epochs=plan["epochs"], train_sizes=plan["train_sizes"],
        reference_samples=proto.reference_samples, floor_samples=proto.floor_samples,
        plots=plots, comm=comm,
    )  # fmt: skip


def _complete(path: Path) -> bool:
    """Whether ``path`` is a finished dataset file (else it is generated or resumed)."""
    try:
        return fmt.read_metadata(path).complete
    except (OSError, fmt.DatasetError):
        return False


def predict_file(
    run: str | Path,
    data: str | Path,
    *,
    out: str | Path | None = None,
    force: bool = False,
    device: str = "cpu",
    split: str = "all",
) -> tuple[np.ndarray, dict[str, Any] | None]:
    """A finished run's predictions for every sample of a dataset file (the arrays the run
    was trained on, ``data.inputs``), or with ``split="test"`` for its test part (the split
    stored in the file, else the run's seeded split of it), and their test summary where the
    file has targets (None where it has none; targets of another kind or shape are refused);
    with ``out`` also written to a new HDF5 file (or, with ``force``, one this toolkit wrote).
    """
    from sciml_grow.data.dataset import split_indices
    from sciml_grow.outputs import atomic_h5, check_file_output, file_sha256
    from sciml_grow.training.evaluation import evaluate_predictions

    if split not in ("all", "test"):
        raise InputError(f"{arg('split')} must be all or test, got {split!r}")
    if out is not None:
        out = check_file_output(out, force=force, inputs=(data, run))
    predictor = Predictor.from_run(run, check_device(device))
    keys = from_dict(DataConfig, RunDir(run).read_json("config.json")["config"]["data"])
    with fmt.open_file(data, require_tag=False, require_targets=False) as f:
        raw = fmt.check_array(f, keys.inputs, data)
        check_memory(16 * raw.size, f"predicting {data} ('{keys.inputs}' {raw.shape})")
        idx = np.arange(len(raw))
        if split == "test":
            idx = split_indices(len(raw), keys, fmt.read_split(f, data))["test"]
        try:
            x = check_inputs(raw[()][idx], predictor.in_dim)
        except InputError as exc:
            raise fmt.DatasetError(f"{data}: '{keys.inputs}': {exc}") from None
        y = None
        if keys.targets in f:
            y = torch.from_numpy(np.asarray(fmt.check_array(f, keys.targets, data)[()][idx]))
    pred = predictor(x.double().to(device)).cpu()
    summary = None
    if y is not None:
        task = "regression" if y.dtype.is_floating_point else "classification"  # as Dataset
        if predictor.task and task != predictor.task:
            what = "class labels" if task == "classification" else "fields"
            raise fmt.DatasetError(
                f"{data}: '{keys.targets}' holds {what}, and {run} is a {predictor.task} run; "
                "predict with a run trained on this kind of target"
            )
        labels = task == "classification"
        truth = y.reshape(-1).long() if labels else y.double().reshape(len(y), -1)
        if len(truth) != len(pred) or (task == "regression" and truth.shape != pred.shape):
            raise fmt.DatasetError(
                f"{data}: '{keys.targets}' has shape {tuple(y.shape)}, the run predicts "
                f"{tuple(pred.shape)}"
            )
        summary = evaluate_predictions(pred, truth, task)
    if out is not None:
        check_disk(pred.numel() * pred.element_size() + 2**20, out)
        with OutputLock(out), atomic_h5(out, "predictions") as f:
            f["predictions"] = pred.numpy()
            if split != "all":
                f["indices"] = idx
            f.attrs["run"] = str(Path(run).resolve())
            f.attrs["data"] = str(Path(data).resolve())  # absolute: export finds it anywhere
            f.attrs["data_sha256"] = file_sha256(data)  # ... and knows it is the same file
            f.attrs["inputs"] = keys.inputs
    return pred.numpy(), summary


def map_estimates(
    data: str | Path,
    *,
    split: str = "test",
    samples: int = 0,
    out: str | Path | None = None,
    force: bool = False,
) -> tuple[Any, torch.Tensor, np.ndarray]:
    """Classical MAP estimates (L-BFGS on the noise-weighted misfit + prior, with the file's
    torch forward operator) of the ``split`` samples (``test`` or ``all``; the first
    ``samples``, 0 for all): the result (fields, timing, iterations), the relative errors
    and the sample indices; with ``out`` also written to a new HDF5 file."""
    from sciml_grow.data.dataset import split_indices
    from sciml_grow.inverse.map import map_for_dataset
    from sciml_grow.outputs import atomic_h5, check_file_output

    if samples < 0:
        raise InputError(f"{arg('samples')} must be >= 0 (0: all), got {samples}")
    if split not in ("test", "all"):
        raise InputError(f"{arg('split')} must be test or all, got {split!r}")
    if out is not None:
        out = check_file_output(out, force=force, inputs=(data,))
    with fmt.open_file(data) as f:
        n, stored = len(f[fmt.INPUTS]), fmt.read_split(f, data)
    idx = split_indices(n, DataConfig(), stored)["test"] if split == "test" else np.arange(n)
    idx = idx[:samples] if samples else idx
    result, rel = map_for_dataset(data, idx)
    if out is not None:
        with OutputLock(out), atomic_h5(out, "map_estimates") as f:
            f["fields"] = result.fields.numpy()
            f["indices"] = idx
            f["rel_l2"] = rel.numpy()
            f.attrs["data"] = str(data)
    return result, rel, idx


def transfer(
    run: str | Path,
    data: str | Path,
    *,
    out: str | Path,
    methods: Sequence[str] = TRANSFER_METHODS,
    sizes: Sequence[int] = (50, 100, 200),
    seeds: int = 3,
    config: dict[str, Any] | None = None,
    epochs: int | None = None,
    plots: bool = True,
    comm: Any = None,
) -> Comparison | None:
    """Fine-tune a finished run on N target samples for every (method, N, seed), beside
    training from scratch, with paired statistics (None on ranks other than 0 under MPI)."""
    from sciml_grow.study.transfer import transfer as run_transfer
    from sciml_grow.study.transfer import transfer_stats

    names = check_transfer(
        run, data, out=out, methods=methods, sizes=sizes, seeds=seeds, config=config,
        epochs=epochs,
    )  # fmt: skip
    base = dict(config or {})
    if epochs is not None:
        base["epochs"] = epochs
    if comm is not None:
        comm.barrier()  # every rank has checked the output before rank 0 locks it
    with removed_if_refused(out, comm):
        lock = lock_on_root(comm, out)
        try:
            rows = run_transfer(run, data, names, list(sizes), seeds, out, base, comm)
        finally:
            if lock is not None:
                lock.release()
    if comm is not None and comm.rank != 0:
        return None
    out = Path(out)
    made: list[Path] = []
    if plots:
        from sciml_grow.study.plots import transfer_curves

        made = [transfer_curves(out)]
    return Comparison(out, rows, transfer_stats(rows), (out / "table.md").read_text(), made)
