"""P1 finite-element pieces in numpy (no FEniCSx), shared by the generators (``pde_data``)
and the forward maps re-run from a file."""

from __future__ import annotations

import numpy as np


def p1_gradients(coords: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of the P1 basis per simplex (n_cells, d + 1, d), constant on each cell, and
    |det J| (n_cells,) of the map from the reference simplex (d! times the cell's measure)."""
    X = coords[cells]  # (nc, d + 1, d)
    d = X.shape[2]
    J = np.stack([X[:, k] - X[:, 0] for k in range(1, d + 1)], axis=2)  # columns: edges
    ref = np.vstack([-np.ones(d), np.eye(d)])  # d phi_k / d xi on the reference simplex
    return ref @ np.linalg.inv(J), np.abs(np.linalg.det(J))
