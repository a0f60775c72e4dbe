"""Sparse point observations: sensor layouts, the observation matrix B and the noise model.

No dolfinx here: B is built from the mesh arrays and the containing cells, so the same code
serves every problem and every dimension."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from sciml_grow.config import Validated, check
from sciml_grow.errors import InputError

_PRIMES = (2, 3, 5, 7, 11, 13)


@dataclass
class SensorConfig(Validated):
    """Sensor layout: explicit ``points``, ``count`` Halton points inside the domain margin, or
    (``layout = "grid"``) a regular grid of ``count`` points per side strictly inside."""

    count: int = 10
    points: list[list[float]] | None = None
    margin: float = 0.1
    layout: Literal["halton", "grid"] = "halton"

    def validate(self) -> None:
        check(self.count > 0, "sensors.count", "must be positive")
        check(0.0 <= self.margin < 0.5, "sensors.margin", "must lie in [0, 0.5)")
        if self.points is not None:
            check(len(self.points) > 0, "sensors.points", "must not be empty")
            dims = {len(p) for p in self.points}
            check(len(dims) == 1, "sensors.points", "all points need the same dimension")


@dataclass
class NoiseConfig(Validated):
    """Additive Gaussian noise with std = relative_level * a per-sample scale of the clean
    observations: their largest magnitude (``reference = "max_abs"``) or their standard
    deviation over the sensors (``"std"``, the layerwise paper's choice)."""

    relative_level: float = 0.01
    reference: Literal["max_abs", "std"] = "max_abs"

    def validate(self) -> None:
        check(self.relative_level >= 0.0, "noise.relative_level", "must be >= 0")

    def metadata(self) -> dict:
        """What the dataset file says about the noise model (attrs of ``/noise``)."""
        return {
            "kind": "additive_gaussian",
            "relative_level": self.relative_level,
            "reference": f"{self.reference}_clean_observation_per_sample",
            "per_sample_std": "samples/noise_std",
        }

    def scale(self, clean: np.ndarray) -> float:
        """The per-sample scale the relative level multiplies."""
        return float(np.std(clean) if self.reference == "std" else np.max(np.abs(clean)))


def halton(n: int, dim: int) -> np.ndarray:
    """First ``n`` points (skipping the origin) of the Halton sequence in [0, 1)^dim."""
    out = np.empty((n, dim))
    for d in range(dim):
        base = _PRIMES[d]
        for i in range(n):
            k, f, x = i + 1, 1.0, 0.0
            while k > 0:
                f /= base
                x += f * (k % base)
                k //= base
            out[i, d] = x
    return out


def sensor_points(cfg: SensorConfig, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Sensor coordinates: the configured points, or Halton points in the shrunken box."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    if cfg.points is not None:
        pts = np.asarray(cfg.points, dtype=float)
        if pts.shape[1] != lower.size:
            raise InputError(f"sensors.points: expected {lower.size} coordinates per point")
        return pts
    span = upper - lower
    if cfg.layout == "grid":
        ticks = np.arange(1, cfg.count + 1) / (cfg.count + 1)
        mesh = np.meshgrid(*([ticks] * lower.size), indexing="xy")
        return lower + span * np.column_stack([m.ravel() for m in mesh])
    return lower + span * (cfg.margin + (1 - 2 * cfg.margin) * halton(cfg.count, lower.size))


def point_matrix(
    coords: np.ndarray, cells: np.ndarray, cell_of_point: np.ndarray, points: np.ndarray
) -> sp.csr_array:
    """P1 point-evaluation matrix B (n_points x n_vertices) from barycentric coordinates."""
    n, k = len(points), cells.shape[1]
    rows = np.repeat(np.arange(n), k)
    cols = cells[cell_of_point].ravel()
    vals = np.empty((n, k))
    for i, (c, p) in enumerate(zip(cell_of_point, points, strict=True)):
        X = coords[cells[c]]  # (k, dim) vertices of a simplex
        T = np.vstack([X.T, np.ones(k)])
        vals[i] = np.linalg.solve(T, np.append(p, 1.0))
    if vals.min() < -1e-10:
        raise InputError("a sensor point lies outside the cell reported to contain it")
    return sp.csr_array((vals.ravel(), (rows, cols)), shape=(n, len(coords)))


def add_noise(
    clean: np.ndarray, cfg: NoiseConfig, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """Noisy copy of one sample's observations and the noise std used."""
    std = cfg.relative_level * cfg.scale(clean)
    return clean + std * rng.standard_normal(clean.shape), std
