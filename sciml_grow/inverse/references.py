"""Classical reconstructions reported beside the networks in a comparison.

Each reference says from the dataset file whether it applies, fits what it needs on the
training split (tuning on the validation split, never the test split) and estimates test
fields from the noisy inputs:

- ``map``: the MAP estimate with the file's forward operator and prior (heat); for
  Navier–Stokes the 4D-Var MAP over the prior's sine coefficients (``VorticityMapReference``).
- ``pod``: linear reconstruction on a POD basis of the training targets (gappy POD), for files
  whose clean observations are a linear (or affine) function of the field the targets sample
  (wind). The modes' sensor signatures come from the training samples' clean observations,
  so no mesh or forward solver is needed.

The first of these that applies runs; ``reference.json`` and ``reference_fields.npy`` in the
comparison directory hold its result. Beside it, on every regression file:

- :class:`Ridge`: the best linear map from the inputs to the targets learned from the same
  training samples as the networks (ridge regression, its weight chosen on the validation
  split): what a network's nonlinearity buys (``linear.json``, see the comparison).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
import json
from pathlib import Path
import time
from typing import Any, ClassVar

import numpy as np
import torch

from sciml_grow import format as fmt
from sciml_grow.data.dataset import Dataset, relative_errors
from sciml_grow.outputs import atomic_write_bytes, json_text


class Reference(ABC):
    """A classical estimator of the targets from the inputs."""

    name: ClassVar[str]
    label: ClassVar[str]  # row title in tables and plots
    short: ClassVar[str]  # in column headers: "error / MAP"
    parallel: ClassVar[bool]  # worth spreading the test samples over MPI ranks

    def __init__(self, data: Dataset):
        self.data = data
        self.details: dict[str, Any] = {}

    @staticmethod
    @abstractmethod
    def applies(path: Path) -> bool:
        """Whether the file holds what this reference needs."""

    @abstractmethod
    def estimate(self, indices: np.ndarray) -> np.ndarray:
        """Estimated targets (len(indices), n) of the samples ``indices``."""


class MapReference(Reference):
    """MAP by L-BFGS with the file's torch forward operator and prior (see mapest)."""

    name, label, short, parallel = "map", "MAP (L-BFGS)", "MAP", True

    @staticmethod
    def applies(path: Path) -> bool:
        from sciml_grow.inverse.forward import load_forward

        return fmt.read_metadata(path).has(fmt.PRIOR_PRECISION) and load_forward(path) is not None

    def estimate(self, indices: np.ndarray) -> np.ndarray:
        from sciml_grow.inverse.map import map_for_dataset

        result, _ = map_for_dataset(self.data.path, indices)
        return result.fields.numpy()


class VorticityMapReference(Reference):
    """4D-Var for Navier–Stokes: the MAP estimate of the initial vorticity, minimizing the
    noise-weighted misfit of w(T) at the sensors plus the prior's norm over the sine-series
    coefficients of w0, which are the prior-whitened coordinates (xi ~ N(0, I)): L-BFGS with
    the torch forward map and its adjoint (:mod:`sciml_grow.inverse.vorticity`), as heat's MAP.
    The estimate on the target grid is the same series at the grid points."""

    name, label, short, parallel = "map", "MAP (4D-Var, L-BFGS)", "MAP", True
    MAX_ITER = 40  # L-BFGS iterations per sample, ~2 s each at 64 x 64 and 250 steps; measured:
    # the error moved from 0.2813 (30) to 0.2812 (86, converged) on a test sample

    @staticmethod
    def applies(path: Path) -> bool:
        from sciml_grow.inverse.vorticity import VorticityForward

        meta = fmt.read_metadata(path)
        return (
            meta.operator_kind == VorticityForward.kind
            and meta.prior.get("kind") == "sine_series_grf"
            and meta.grid is not None
        )

    def estimate(self, indices: np.ndarray) -> np.ndarray:
        from sciml_grow.inverse.forward import load_forward
        from sciml_grow.inverse.map import map_estimate

        forward = load_forward(self.data.path)  # on the grid: GridForward
        y, noise = self.data.x[indices], self.data.noise_std[indices]
        n = forward.to_grid.shape[0]
        result = map_estimate(
            lambda xi: forward.inner.observe(xi @ forward.to_vertices),
            y, noise,
            torch.eye(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64),
            max_iter=self.MAX_ITER, tol=1e-7,
        )  # fmt: skip
        self.details = {"iterations": result.iterations, "max_iter": self.MAX_ITER}
        return (result.fields @ forward.to_grid).numpy()


class PodReference(Reference):
    """Tikhonov-regularized least squares for the coefficients of a POD basis of the training
    targets, fitted to the observations:

        c = argmin |Psi c - (d - o_mean)|^2 + beta sum_k c_k^2 / var_k,   field = y_mean + Phi c

    with Phi the leading ``rank`` POD modes, var_k their coefficient variances over the
    training set and Psi the modes' clean sensor values. ``rank`` and ``beta`` minimize the
    mean relative error on the validation split.
    """

    name, label, short, parallel = "pod", "POD least squares", "POD", False
    RANKS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    BETAS = tuple(10.0**k for k in range(-6, 3))

    @staticmethod
    def applies(path: Path) -> bool:
        meta = fmt.read_metadata(path)
        return meta.sensors is not None and meta.sensors.linear and meta.has(fmt.OBS_CLEAN)

    def __init__(self, data: Dataset):
        super().__init__(data)
        start = time.perf_counter()
        train = data.splits["train"]
        clean = np.asarray(fmt.read_samples(data.path, fmt.OBS_CLEAN, train), dtype=np.float64)
        Y = data.y[train].numpy()
        self.y_mean, self.o_mean = Y.mean(axis=0), clean.mean(axis=0)
        U, s, Vt = np.linalg.svd(Y - self.y_mean, full_matrices=False)
        keep = s > s[0] * 1e-10
        U, s = U[:, keep], s[keep]
        self.modes = Vt[keep].T  # (n, r) orthonormal columns
        self.signatures = ((clean - self.o_mean).T @ U) / s  # (k, r) sensor values of modes
        self.variances = s**2 / max(1, len(train) - 1)
        val = data.splits["val"]
        x_val, y_val = data.x[val].numpy(), data.y[val]
        best = (np.inf, 1, 1.0)
        for rank in self.candidate_ranks():
            for beta in self.BETAS:
                pred = torch.from_numpy(self._solve(x_val, rank, beta))
                err = float(relative_errors(pred, y_val).mean())
                best = min(best, (err, rank, beta))
        _, self.rank, self.beta = best
        self.details = {
            "rank": self.rank,
            "beta": self.beta,
            "validation_rel_l2": best[0],
            "fit_seconds": time.perf_counter() - start,
        }

    def candidate_ranks(self) -> list[int]:
        """The rank grid below the number of modes, and all the modes."""
        n = len(self.variances)
        return [r for r in self.RANKS if r < n] + [min(n, self.RANKS[-1])]

    def _solve(self, inputs: np.ndarray, rank: int, beta: float) -> np.ndarray:
        Psi = self.signatures[:, :rank]
        lhs = Psi.T @ Psi + beta * np.diag(1.0 / self.variances[:rank])
        coeffs = np.linalg.solve(lhs, Psi.T @ (inputs - self.o_mean).T)  # (rank, S)
        return self.y_mean + (self.modes[:, :rank] @ coeffs).T

    def estimate(self, indices: np.ndarray) -> np.ndarray:
        return self._solve(self.data.x[indices].numpy(), self.rank, self.beta)


@dataclass
class Ridge:
    """Ridge regression inputs -> targets on standardized inputs,

        W = argmin |X W - Y|^2 + lam |W|^2  (X, Y centred on the training means),

    for every ``lam`` of a grid at once from one SVD of X; the ``lam`` with the lowest mean
    relative L2 error on the validation split is kept.
    """

    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: np.ndarray
    weights: np.ndarray  # (k, n)
    lam: float
    validation_rel_l2: float

    GRID: ClassVar[tuple[float, ...]] = tuple(10.0**k for k in range(-10, 3))  # x s_max^2

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray) -> Ridge:
        x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
        x_scale = x.std(axis=0)
        x_scale[x_scale == 0] = 1.0
        U, s, Vt = np.linalg.svd((x - x_mean) / x_scale, full_matrices=False)
        UtY = U.T @ (y - y_mean)  # (r, n)
        XvV = ((x_val - x_mean) / x_scale) @ Vt.T  # validation inputs in the SVD basis
        best = (np.inf, 0.0)
        for lam in (g * s[0] ** 2 for g in cls.GRID):
            pred = y_mean + (XvV * (s / (s**2 + lam))) @ UtY
            err = float(relative_errors(torch.from_numpy(pred), torch.from_numpy(y_val)).mean())
            best = min(best, (err, lam))
        err, lam = best
        weights = Vt.T @ ((s / (s**2 + lam))[:, None] * UtY)
        return cls(x_mean, x_scale, y_mean, weights, lam, err)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.y_mean + ((x - self.x_mean) / self.x_scale) @ self.weights


REFERENCES: tuple[type[Reference], ...] = (MapReference, VorticityMapReference, PodReference)


def reference_for(path: Path) -> type[Reference] | None:
    """The first reference that applies to the dataset file, or None."""
    return next((r for r in REFERENCES if r.applies(path)), None)


def run_reference(data: Dataset, out: Path, n: int, comm: Any = None) -> None:
    """The file's reference on the first ``n`` test samples -> reference.json and
    reference_fields.npy in ``out`` (skipped if done, if ``n`` is 0 or if none applies)."""
    cls = reference_for(data.path)
    if n <= 0 or cls is None or (out / "reference.json").exists():
        return
    if not data.inputs_are_observations:  # references estimate from the observations
        return
    if not cls.parallel and comm is not None and comm.rank != 0:
        return  # fitted and run on rank 0 alone
    ref = cls(data)
    done = _spread(data, n, comm, lambda mine: (ref.estimate(mine), {}), cls.parallel)
    if done is not None:
        info = {"name": cls.name, "label": cls.label, "short": cls.short}
        _write_summary(data, out, "reference", info, *done[:3], details=ref.details)


FLOOR = {"name": "floor", "label": "posterior mean (MCMC)", "short": "floor"}


def floor_applies(path: Path) -> bool:
    """Whether the Bayes floor can be sampled: a prior, and a forward operator cheap enough
    for the ~10^5 solves with adjoint per sample a converged chain takes."""
    from sciml_grow.inverse.forward import load_forward

    if not MapReference.applies(path):
        return False
    return bool(getattr(load_forward(path), "cheap", False))


def run_floor(data: Dataset, out: Path, n: int, comm: Any = None, cfg: Any = None) -> None:
    """The Bayes floor on the first ``n`` test samples: posterior means by MCMC (see
    :mod:`sciml_grow.inverse.mcmc`) -> floor.json (errors and, per sample, the convergence
    diagnostics) and floor_fields.npy (skipped if done, if ``n`` is 0 or if it does not
    apply). Samples are spread over the ranks."""
    if n <= 0 or (out / "floor.json").exists() or not data.inputs_are_observations:
        return
    if not floor_applies(data.path):
        return
    from dataclasses import asdict

    from sciml_grow.inverse.map import InverseProblem
    from sciml_grow.inverse.mcmc import McmcConfig, sample_posterior_means

    cfg = cfg or McmcConfig()

    def estimate(mine: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        problem = InverseProblem.read(data.path, mine)
        start = problem.map().fields
        post = sample_posterior_means(
            problem.forward.observe, problem.y, problem.noise_std,
            problem.precision_factor, problem.prior_mean, start, cfg,
        )  # fmt: skip
        return post.mean.numpy(), {"indices": mine.tolist(), **post.diagnostics()}

    done = _spread(data, n, comm, estimate, parallel=True)
    if done is None:
        return
    diagnostics = done[-1]
    converged = all(c for d in diagnostics for c in d["converged"])
    details = {"mcmc": asdict(cfg), "all_converged": converged, "per_rank": diagnostics}
    _write_summary(data, out, "floor", FLOOR, *done[:3], details=details)


def _spread(
    data: Dataset, n: int, comm: Any, estimate: Any, parallel: bool
) -> tuple[np.ndarray, np.ndarray, float, list[dict[str, Any]]] | None:
    """Run ``estimate`` on the first ``n`` test samples, spread over the ranks when
    ``parallel`` (else on rank 0); on rank 0 the sorted indices, their fields, the seconds
    per sample and each part's extra output; None on the other ranks."""
    rank, size = (comm.rank, comm.size) if comm is not None else (0, 1)
    if not parallel and rank != 0:
        return None
    idx = data.splits["test"][:n]
    mine = idx[rank::size] if parallel else idx
    start = time.perf_counter()
    fields, extra = estimate(mine)
    seconds = (time.perf_counter() - start) / max(1, len(mine))
    part = (mine, fields, seconds, extra)
    parts = comm.gather(part, root=0) if comm is not None and parallel else [part]
    if rank != 0:
        return None
    order = np.concatenate([p[0] for p in parts])
    fields = np.concatenate([p[1] for p in parts])[np.argsort(order)]
    seconds = float(np.mean([p[2] for p in parts]))
    return np.sort(order), fields, seconds, [p[3] for p in parts]


def _write_summary(
    data: Dataset,
    out: Path,
    stem: str,
    info: dict[str, str],
    order: np.ndarray,
    fields: np.ndarray,
    seconds: float,
    details: dict[str, Any] | None = None,
) -> None:
    """``<stem>.json`` (errors on the samples ``order``) and ``<stem>_fields.npy``."""
    errors = relative_errors(torch.from_numpy(fields), data.y[order]).numpy()
    np.save(out / f"{stem}_fields.npy", fields)
    summary = {
        **info,
        "indices": order.tolist(),
        "rel_l2_mean": float(errors.mean()),
        "rel_l2_std": float(errors.std()),
        "rel_l2_median": float(np.median(errors)),
        "rel_l2": errors.tolist(),  # per sample, in the order of indices
        "seconds_per_sample": seconds,
        "details": details or {},
    }
    atomic_write_bytes(out / f"{stem}.json", json_text(summary).encode())


def read_reference(out: Path, stem: str = "reference") -> dict[str, Any] | None:
    """A comparison's reference.json (``stem="floor"``: floor.json), or None."""
    path = out / f"{stem}.json"
    return json.loads(path.read_text()) if path.exists() else None
