"""Small dataset files written by hand (h5py only): tests of the torch side need no FEniCSx."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import scipy.sparse as sp

from sciml_grow import format as fmt

N, V, K = 12, 9, 4


def write_valid(path: Path, complete: bool = True, n: int = N) -> Path:
    """A small tagged dataset with every metadata group the format names."""
    rng = np.random.default_rng(0)
    coords = np.array([[x, y] for y in range(3) for x in range(3)], dtype=float) / 2
    cells = np.array([[0, 1, 4], [0, 4, 3], [1, 2, 5], [1, 5, 4]], dtype=np.int64)
    with h5py.File(path, "w") as f:
        fmt.write_header(
            f,
            problem="toy",
            n_samples=n,
            seed=3,
            config=json.dumps({"a": 1}),
            versions={"numpy": np.__version__},
            complete=complete,
            description="a toy problem",
        )
        fmt.write_tree(
            f,
            {
                "mesh": {"coordinates": coords, "cells": cells, "cell_type": "triangle"},
                "observation": {
                    "points": coords[:K],
                    "matrix": sp.eye(K, V, format="csr"),
                    "observed": "state",
                    "linear": True,
                },
                "noise": {"kind": "additive_gaussian", "relative_level": 0.01},
                "prior": {"mean": np.zeros(V), "precision_factor": sp.identity(V, format="csr")},
                "operators": {"kind": "toy_operator", "nu": 0.1},
                "grid": {"points": coords, "shape": np.array([3, 3])},
            },
        )
        f[fmt.INPUTS] = rng.normal(size=(n, K))
        # a smooth nonlinear map the networks can learn: targets = tanh(inputs A) + noise
        a = rng.normal(size=(K, V)) / np.sqrt(K)
        f[fmt.TARGETS] = np.tanh(f[fmt.INPUTS][()] @ a) + 0.01 * rng.normal(size=(n, V))
        f[fmt.NOISE_STD] = np.full(n, 0.01)
        f[fmt.OBS_CLEAN] = rng.normal(size=(n, K))
        f[fmt.DONE] = np.ones(n, dtype=np.uint8)
    return path


def h5_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 file by its path, for bitwise comparisons of whole files."""
    out: dict[str, np.ndarray] = {}

    def keep(name: str, obj: h5py.HLObject) -> None:
        if isinstance(obj, h5py.Dataset):
            out[name] = obj[()]

    with h5py.File(path, "r") as f:
        f.visititems(keep)
    return out
