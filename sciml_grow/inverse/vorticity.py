"""The Navier–Stokes vorticity time stepping of a dataset file, re-run without FEniCSx.

The file stores the P1 mass M and stiffness K, the assembled forcing, the Dirichlet dofs, nu,
dt and the step count (``operators``, kind ``p1_vorticity_cn``) and the mesh. On the free dofs,
with h = dt / 2, one step of the generator's scheme is

    psi_n = K^{-1} M w_n,     s_n = psi_0 (n = 0),  3/2 psi_n - 1/2 psi_(n-1) (n > 0)
    (M + h (nu K + N(s_n))) w_(n+1) = (M - h (nu K + N(s_n))) w_n + dt f

where N(s)_ij = integral((curl s . grad phi_j) phi_i) is the advection matrix of the P1
velocity curl s, constant per cell, so N(s)_ij = |c| / 3 curl s_c . grad phi_j on cell c
(assembled here from the mesh, exactly as FEniCSx's quadrature does). N is linear in s, so
the whole map w0 -> w(T) is a polynomial one; its gradient comes from the discrete adjoint,
backwards through the steps with the transposed step matrices (:class:`_Trajectory`), never
by differentiating through the sparse solvers. Each step is one sparse solve (:func:`solve`).
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, bicgstab, splu
import torch
from torch import nn

from sciml_grow import format as fmt


class VorticityForward(nn.Module):
    """w0 at the vertices (B, nv) -> w(T) at the vertices (B, nv) (kind p1_vorticity_cn)."""

    kind = "p1_vorticity_cn"
    cheap = False  # 250 sparse solves per forward (~1 s): MAP yes; MCMC, test-set misfits no

    def __init__(self, ops: h5py.Group, mesh: h5py.Group, observation: np.ndarray):
        super().__init__()
        coords, cells = mesh["coordinates"][()][:, :2], mesh["cells"][()]
        n = len(coords)
        self.nu, self.dt = float(ops.attrs["nu"]), float(ops.attrs["dt"])
        self.steps = int(ops.attrs["steps"])
        config = json.loads(ops.file.attrs.get("config", "{}"))  # files before the attribute
        self.advection = bool(ops.attrs.get("advection", config.get("advection", True)))
        fixed = ops["dirichlet_dofs"][()]
        self.free = np.setdiff1d(np.arange(n), fixed)
        pos = np.full(n, -1)
        pos[self.free] = np.arange(self.free.size)
        self.n, nf = n, self.free.size
        M = fmt.read_csr(ops, "mass")[self.free][:, self.free]
        K = fmt.read_csr(ops, "stiffness")[self.free][:, self.free]
        self.M, self.f = sp.csc_array(M), ops["forcing"][()][self.free]
        self.K, self._poisson = sp.csc_array(K), None
        # per-cell P1 gradients (nc, 3, 2) and areas, from the vertex coordinates
        x = coords[cells]  # (nc, 3, 2)
        jac = np.stack([x[:, 1] - x[:, 0], x[:, 2] - x[:, 0]], axis=1)  # rows: edge vectors
        inv = np.linalg.inv(jac)  # columns: gradients of the barycentric coords 1 and 2
        g12 = inv.transpose(0, 2, 1)
        self.grads = np.concatenate([-g12.sum(axis=1, keepdims=True), g12], axis=1)
        self.area = np.abs(np.linalg.det(jac)) / 2
        self.cells = cells
        # the step matrix's pattern on the free dofs, in CSC order: every (row, col) of a cell
        rows = np.repeat(cells, 3, axis=1).reshape(-1)  # i of (c, i, j)
        cols = np.tile(cells, (1, 3)).reshape(-1)  # j of (c, i, j)
        keep = (pos[rows] >= 0) & (pos[cols] >= 0)
        keys = pos[cols[keep]] * nf + pos[rows[keep]]
        self.pattern = np.unique(keys)
        self.cell_slot = np.full(rows.size, -1)
        self.cell_slot[keep] = np.searchsorted(self.pattern, keys)
        self.indices = (self.pattern % nf).astype(np.int32)
        self.indptr = np.searchsorted(self.pattern // nf, np.arange(nf + 1)).astype(np.int32)
        h = self.dt / 2
        self.base = self._on_pattern(M) + h * self.nu * self._on_pattern(K)
        self.register_buffer("B", torch.from_numpy(observation))

    @property
    def poisson(self) -> object:
        """K's sparse LU on the free dofs, factorized on first use (not copied or pickled)."""
        if self._poisson is None:
            self._poisson = splu(self.K)
        return self._poisson

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "_poisson": None}

    def on_targets(self, f: h5py.File) -> nn.Module:
        """This map on the file's targets (w0 on the grid): through the prior's sine
        coefficients, which the grid values determine exactly (least squares)."""
        if f[fmt.PRIOR].attrs.get("kind") != "sine_series_grf" or fmt.GRID not in f:
            return self
        std = f[fmt.PRIOR]["coefficient_std"][()]
        grid = sine_modes(f[fmt.GRID]["points"][()][:, :2], std)
        vertices = sine_modes(f[fmt.MESH]["coordinates"][()][:, :2], std)
        return GridForward(self, grid, vertices)

    def _on_pattern(self, A: sp.sparray) -> np.ndarray:
        """A's entries (free x free) at the pattern's slots (A must lie within the pattern)."""
        coo = sp.coo_array(A)
        keys = coo.col.astype(np.int64) * self.free.size + coo.row
        slots = np.searchsorted(self.pattern, keys)
        if np.any(self.pattern[np.minimum(slots, self.pattern.size - 1)] != keys):
            raise ValueError("operators: a matrix entry lies outside the mesh's P1 pattern")
        return np.bincount(slots, coo.data, minlength=self.pattern.size)

    def full(self, v: np.ndarray) -> np.ndarray:
        """A free-dof vector extended by zeros on the Dirichlet dofs."""
        out = np.zeros(self.n)
        out[self.free] = v
        return out

    def velocity(self, s: np.ndarray) -> np.ndarray:
        """(nc, 2) curl of the P1 streamfunction s (free dofs): (ds/dy, -ds/dx) per cell."""
        g = np.einsum("cj,cjd->cd", self.full(s)[self.cells], self.grads)
        return np.stack([g[:, 1], -g[:, 0]], axis=1) * float(self.advection)

    def step_matrix(self, s: np.ndarray) -> sp.csc_array:
        """M + h (nu K + N(s)) on the free dofs."""
        # N_c[i, j] = |c| / 3 v_c . grad phi_j, the same for each i of the cell
        vg = np.einsum("cd,cjd->cj", self.velocity(s), self.grads) * (self.area / 3)[:, None]
        vals = np.repeat(vg[:, None, :], 3, axis=1).reshape(-1)
        sel = self.cell_slot >= 0
        n_part = np.bincount(self.cell_slot[sel], vals[sel], minlength=self.pattern.size)
        data = self.base + self.dt / 2 * n_part
        nf = self.free.size
        return sp.csc_array((data, self.indices, self.indptr), shape=(nf, nf))

    def advection_adjoint(self, lam: np.ndarray, z: np.ndarray) -> np.ndarray:
        """d/ds of lam^T N(s) z (N is linear in s: this does not depend on s), free dofs."""
        lam_sum = self.full(lam)[self.cells].sum(axis=1) * self.area / 3  # (nc,)
        gz = np.einsum("cj,cjd->cd", self.full(z)[self.cells], self.grads)
        # lam^T N(s) z = sum_c lam_sum_c (s_y z_x - s_x z_y) = sum_c lam_sum_c grad s . (-z_y, z_x)
        w = np.stack([-gz[:, 1], gz[:, 0]], axis=1) * lam_sum[:, None] * float(self.advection)
        per_vertex = np.einsum("cjd,cd->cj", self.grads, w)
        out = np.bincount(self.cells.ravel(), per_vertex.ravel(), minlength=self.n)
        return out[self.free]

    def streamfunction(self, w: np.ndarray) -> np.ndarray:
        return self.poisson.solve(self.M @ w)

    def run(self, w0: np.ndarray, keep: bool = False) -> tuple[np.ndarray, list]:
        """w(T) (free dofs) from w0 (free dofs); with ``keep`` the states and streamfunctions
        of every step, for the adjoint."""
        w, psi = w0, self.streamfunction(w0)
        psi_prev, saved = psi, []
        for n in range(self.steps):
            s = psi if n == 0 else 1.5 * psi - 0.5 * psi_prev
            A = self.step_matrix(s)
            rhs = 2 * (self.M @ w) - A @ w + self.dt * self.f  # (M - h(nu K + N)) w + dt f
            w_new = solve(A, rhs, w)
            if keep:
                saved.append((w, s))
            w = w_new
            psi_prev, psi = psi, self.streamfunction(w)
        return w, saved

    def forward(self, w0: torch.Tensor) -> torch.Tensor:
        """w(T) at the vertices (zero on the walls) from w0 at the vertices (B, nv)."""
        free = torch.from_numpy(self.free)
        wT = _Trajectory.apply(w0[:, free], self)
        out = torch.zeros(len(w0), self.n, dtype=w0.dtype, device=w0.device)
        return out.index_copy(1, free, wT)

    def observe(self, w0: torch.Tensor) -> torch.Tensor:
        """Predicted observations B w(T), (B, n_sensors)."""
        return self(w0) @ self.B.T

    def adjoint(self, saved: list, wT: np.ndarray, grad_T: np.ndarray) -> np.ndarray:
        """dJ/dw0 (free dofs) from dJ/dw(T), backwards through the saved steps."""
        h = self.dt / 2
        steps = len(saved)
        g_psi = [np.zeros_like(grad_T) for _ in range(steps + 1)]
        a = grad_T.copy()  # dJ/dw_(n+1), complete but for its streamfunction's share
        states = [st[0] for st in saved] + [wT]
        for n in range(steps - 1, -1, -1):
            a = a + self.M @ self.poisson.solve(g_psi[n + 1])  # K, M symmetric
            w_n, s = saved[n]
            A_t = self.step_matrix(s).T
            lam = solve(A_t, a, a)
            a = 2 * (self.M @ lam) - A_t @ lam
            gs = -h * self.advection_adjoint(lam, states[n + 1] + w_n)
            if n == 0:
                g_psi[0] += gs
            else:
                g_psi[n] += 1.5 * gs
                g_psi[n - 1] -= 0.5 * gs
        return a + self.M @ self.poisson.solve(g_psi[0])


class GridForward(nn.Module):
    """A vertex-field forward map on grid targets t: w0 = V (G^+ t), V and G the prior's sine
    modes at the vertices and the grid points (coefficients xi -> grid fields: xi G^T)."""

    cheap = False

    def __init__(self, inner: VorticityForward, grid_modes: np.ndarray, vertex_modes: np.ndarray):
        super().__init__()
        self.inner = inner
        self.register_buffer("to_coefficients", torch.from_numpy(np.linalg.pinv(grid_modes).T))
        self.register_buffer("to_vertices", torch.from_numpy(vertex_modes.T.copy()))
        self.register_buffer("to_grid", torch.from_numpy(grid_modes.T.copy()))

    def field(self, t: torch.Tensor) -> torch.Tensor:
        return t @ self.to_coefficients @ self.to_vertices

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.inner(self.field(t))

    def observe(self, t: torch.Tensor) -> torch.Tensor:
        return self.inner.observe(self.field(t))


def sine_modes(points: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(P, K^2): column (k, l) is std_kl sin(k pi x) sin(l pi y) at ``points`` (P, 2), so
    fields = modes @ xi with xi ~ N(0, I) are the prior's draws (the generator's sine series,
    coefficient (k, l) with k along x)."""
    k = np.arange(1, std.shape[0] + 1)
    sx = np.sin(np.pi * np.outer(points[:, 0], k))
    sy = np.sin(np.pi * np.outer(points[:, 1], k))
    return (sx[:, :, None] * sy[:, None, :] * std).reshape(len(points), -1)


def solve(A: sp.sparray, b: np.ndarray, guess: np.ndarray) -> np.ndarray:
    """A x = b for a step matrix (or its transpose): mass-dominated and well conditioned, so
    Jacobi-preconditioned BiCGSTAB reaches 1e-14 in a few iterations, 10x faster than a
    sparse LU per step (measured at 64 x 64); LU if it ever fails to converge."""
    inv_diag = 1.0 / A.diagonal()
    jacobi = LinearOperator(A.shape, matvec=lambda v: inv_diag * v, dtype=np.float64)
    x, info = bicgstab(A, b, x0=guess, rtol=1e-14, atol=0.0, M=jacobi)
    return x if info == 0 else splu(sp.csc_array(A)).solve(b)


class _Trajectory(torch.autograd.Function):
    """w(T) from w0 (free dofs, per sample), with the discrete adjoint as backward."""

    @staticmethod
    def forward(ctx, w0: torch.Tensor, op: VorticityForward) -> torch.Tensor:
        need = w0.requires_grad
        outs, runs = [], []
        for w in w0.detach().cpu().double().numpy():
            wT, saved = op.run(w, keep=need)
            outs.append(wT)
            runs.append(saved)
        ctx.op, ctx.runs, ctx.outs = op, runs, outs
        return torch.from_numpy(np.stack(outs)).to(w0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        g = grad.detach().cpu().double().numpy()
        out = [ctx.op.adjoint(r, wT, gi) for r, wT, gi in zip(ctx.runs, ctx.outs, g, strict=True)]
        return torch.from_numpy(np.stack(out)).to(grad), None
