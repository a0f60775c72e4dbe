"""Physical constraints a predicted field should satisfy, from a dataset file's operators.

Wind (operators kind ``mass_consistent_p1``): the file stores the weak divergence D
(nv x 3 nv), (D u)_i = integral(u_h . grad phi_i) for a P1 velocity u_h, and the open-boundary
(``dirichlet_dofs``) and ground vertices. For a field that is divergence free and does not
cross the ground, (D u)_i = 0 at every vertex off the open boundary: at interior vertices that
is the weak divergence, at ground vertices the weak normal flow through the ground. The
targets live on a terrain-following grid, so a predicted field is first carried to the mesh
vertices by trilinear interpolation in (x, y, height fraction of the column).

The constraint's violation is measured relative to the field's own flux scale,

    r(u) = sum_i (D u)_i^2 / sum_i (|D| |u|)_i^2   over the vertices off the open boundary,

which is 0 for a field satisfying the discrete constraints, at most 1, and independent of
units; :meth:`MassConsistency.report` gives it separately for the interior (divergence) and
the ground (normal flow).
"""

from __future__ import annotations

import copy
import warnings

import h5py
import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from sciml_grow import format as fmt
from sciml_grow.format import DatasetError


def _csr_parts(A: sp.sparray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A CSR matrix's (indptr, indices, data) as dense tensors: buffers that copy and move
    (a torch CSR tensor cannot be deep-copied); :func:`_csr` wraps them for a product."""
    csr = sp.csr_array(A)
    csr.sort_indices()
    return (
        torch.from_numpy(csr.indptr.astype(np.int64)),
        torch.from_numpy(csr.indices.astype(np.int64)),
        torch.from_numpy(csr.data),
    )


def _csr(parts: tuple[torch.Tensor, ...], shape: tuple[int, int], dtype: torch.dtype):
    """A torch CSR matrix (2.7x faster products than COO here, measured on the wind file)."""
    indptr, indices, data = parts
    with warnings.catch_warnings():  # "CSR support is in beta": what is used here works
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(indptr, indices, data.to(dtype), shape)


def grid_to_vertices(
    vertices: np.ndarray, ground: np.ndarray, top: float, grid: np.ndarray, shape: np.ndarray
) -> sp.csr_array:
    """(nv x ng) trilinear interpolation from a terrain-following grid (levels at height
    fractions (k + 1/2) / levels of each column, x fastest, then y, then level) to the mesh
    vertices, clamped at the grid's outer points. The height fraction of a vertex is taken
    in its mesh column, whose lowest vertex is on the ground."""
    levels, ny, nx = (int(s) for s in shape)
    xs = np.unique(grid[:, 0].round(9))
    ys = np.unique(grid[:, 1].round(9))
    if len(xs) != nx or len(ys) != ny:
        raise DatasetError("grid: points are not a tensor grid in x and y")
    # the ground height below every vertex: its column's ground vertex
    key = lambda p: np.round(p[:, 0], 6) * 1e7 + np.round(p[:, 1], 6)  # noqa: E731
    ground_key = key(vertices[ground])
    order = np.argsort(ground_key)
    slot = np.searchsorted(ground_key[order], key(vertices))
    h = vertices[ground][order][np.minimum(slot, len(order) - 1), 2]
    frac = (vertices[:, 2] - h) / np.maximum(top - h, 1e-12)
    zs = (np.arange(levels) + 0.5) / levels
    idx, wts = [], []
    for v, ticks in ((vertices[:, 0], xs), (vertices[:, 1], ys), (frac, zs)):
        if len(ticks) == 1:
            idx.append((np.zeros(len(v), int), np.zeros(len(v), int)))
            wts.append(np.zeros(len(v)))
            continue
        i = np.clip(np.searchsorted(ticks, v) - 1, 0, len(ticks) - 2)
        w = np.clip((v - ticks[i]) / (ticks[i + 1] - ticks[i]), 0.0, 1.0)
        idx.append((i, i + 1))
        wts.append(w)
    rows, cols, vals = [], [], []
    for a in (0, 1):
        for b in (0, 1):
            for c in (0, 1):
                weight = (
                    (wts[0] if a else 1 - wts[0])
                    * (wts[1] if b else 1 - wts[1])
                    * (wts[2] if c else 1 - wts[2])
                )
                col = (idx[2][c] * ny + idx[1][b]) * nx + idx[0][a]
                rows.append(np.arange(len(vertices)))
                cols.append(col)
                vals.append(weight)
    return sp.csr_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(vertices), len(grid)),
    )


class MassConsistency(nn.Module):
    """Weak divergence and ground normal flow of wind fields on the file's target grid."""

    kind = "mass_consistent_p1"

    def __init__(self, f: h5py.File):
        super().__init__()
        ops, mesh, grid = f[fmt.OPERATORS], f[fmt.MESH], f[fmt.GRID]
        coords = mesh["coordinates"][()]
        nv = len(coords)
        fixed = ops["dirichlet_dofs"][()]
        ground = ops["ground_dofs"][()]
        lift = grid_to_vertices(
            coords, ground, float(mesh.attrs["top"]), grid["points"][()], grid["shape"][()]
        )
        lift3 = sp.block_diag([lift] * 3, format="csr")  # component-major (u, v, w)
        D = fmt.read_csr(ops, "divergence")
        free = np.setdiff1d(np.arange(nv), fixed)
        constrained = sp.csr_array(D[free] @ lift3)
        magnitude = sp.csr_array(abs(D[free]) @ abs(lift3))
        self.shape = constrained.shape  # (n_free, 3 ng): t -> (D u) off the open boundary
        for name, matrix in (("A", constrained), ("A_abs", magnitude)):
            for part, values in zip(("indptr", "indices", "data"), _csr_parts(matrix), strict=True):
                self.register_buffer(f"{name}_{part}", values)
        on_ground = np.isin(free, ground)
        self.register_buffer("ground", torch.from_numpy(on_ground))
        self.n_free = free.size

    def residual(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(D u)_i and (|D| |u|)_i at the constrained vertices, (B, n_free) each; the flux
        scale without gradient (it only normalizes)."""
        A, A_abs = (
            _csr(tuple(getattr(self, f"{n}_{p}") for p in ("indptr", "indices", "data")),
                 self.shape, t.dtype)
            for n in ("A", "A_abs")
        )  # fmt: skip
        with torch.no_grad():
            scale = (A_abs @ t.abs().T).T
        return (A @ t.T).T, scale

    def penalty(self, t: torch.Tensor) -> torch.Tensor:
        """Per-sample relative violation r(u) (B,): 0 for a field meeting the constraints
        (its gradient holds the normalization fixed)."""
        res, scale = self.residual(t)
        return res.pow(2).sum(1) / scale.pow(2).sum(1).clamp(min=torch.finfo(t.dtype).tiny)

    def report(self, t: torch.Tensor) -> dict[str, float]:
        """Mean relative violation over the samples t (B, 3 ng): in the interior
        (divergence), at the ground (normal flow) and overall."""
        with torch.no_grad():
            res, scale = self.residual(t)
            out = {}
            for name, rows in (
                ("divergence", ~self.ground),
                ("ground_flow", self.ground),
                ("overall", torch.ones_like(self.ground)),
            ):
                num, den = res[:, rows].pow(2).sum(1), scale[:, rows].pow(2).sum(1)
                out[name] = float((num / den.clamp(min=1e-300)).mean())
        return out


CONSTRAINT_KINDS: dict[str, type[nn.Module]] = {MassConsistency.kind: MassConsistency}


def load_constraint(path: str) -> nn.Module | None:
    """The file's constraint operator on its targets, or None if it stores none we know
    (a copy: a caller may move it to a device)."""
    found = _read_constraint(path)
    return None if found is None else copy.deepcopy(found)


@fmt.cached_per_file
def _read_constraint(path: str) -> nn.Module | None:
    with fmt.open_file(path, require_tag=False) as f:
        if fmt.OPERATORS not in f or fmt.GRID not in f:
            return None
        cls = CONSTRAINT_KINDS.get(str(f[fmt.OPERATORS].attrs.get("kind")))
        return None if cls is None else cls(f)
