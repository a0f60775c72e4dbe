"""The Navier–Stokes vorticity time stepping of a dataset file as a torch map, re-run without
FEniCSx.

The file stores the P1 mass M and stiffness K, the assembled forcing, the Dirichlet dofs, nu,
dt and the step count (``operators``, kind ``p1_vorticity_cn``) and the mesh; the scheme
itself (the step, the advection matrix N(s) linear in the streamfunction s) is
:class:`~sciml_grow.operators.vorticity_scheme.VorticityScheme`, the generator's own code. The
map w0 -> w(T) is a polynomial one; its gradient comes from the discrete adjoint, backwards
through the steps with the transposed step matrices (:class:`_Trajectory`), never by
differentiating through the sparse solvers. Each step is one sparse solve (:func:`solve`).
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
from sciml_grow.operators.vorticity_scheme import VorticityScheme


class VorticityForward(nn.Module):
    """w0 at the vertices (B, nv) -> w(T) at the vertices (B, nv) (kind p1_vorticity_cn)."""

    kind = "p1_vorticity_cn"
    cheap = False  # 250 sparse solves per forward (~1 s): MAP yes; MCMC, test-set misfits no

    def __init__(self, ops: h5py.Group, mesh: h5py.Group, observation: np.ndarray):
        super().__init__()
        config = json.loads(ops.file.attrs.get("config", "{}"))  # files before the attribute
        self.scheme = VorticityScheme(
            mesh["coordinates"][()][:, :2],
            mesh["cells"][()],
            fmt.read_csr(ops, "mass"),
            fmt.read_csr(ops, "stiffness"),
            ops["forcing"][()],
            ops["dirichlet_dofs"][()],
            nu=float(ops.attrs["nu"]),
            dt=float(ops.attrs["dt"]),
            steps=int(ops.attrs["steps"]),
            advection=bool(ops.attrs.get("advection", config.get("advection", True))),
        )
        self.free, self.n = self.scheme.free, self.scheme.n
        self.register_buffer("B", torch.from_numpy(observation))

    def on_targets(self, f: h5py.File) -> nn.Module:
        """This map on the file's targets (w0 on the grid): through the prior's sine
        coefficients, which the grid values determine exactly (least squares)."""
        if f[fmt.PRIOR].attrs.get("kind") != "sine_series_grf" or fmt.GRID not in f:
            return self
        std = f[fmt.PRIOR]["coefficient_std"][()]
        grid = sine_modes(f[fmt.GRID]["points"][()][:, :2], std)
        vertices = sine_modes(f[fmt.MESH]["coordinates"][()][:, :2], std)
        return GridForward(self, grid, vertices)

    def run(self, w0: np.ndarray, keep: bool = False) -> tuple[np.ndarray, list]:
        """w(T) (free dofs) from w0 (free dofs); with ``keep`` the states and streamfunctions
        of every step, for the adjoint."""
        return self.scheme.run(w0, solve, keep=keep)

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
        sc = self.scheme
        h = sc.dt / 2
        steps = len(saved)
        g_psi = [np.zeros_like(grad_T) for _ in range(steps + 1)]
        a = grad_T.copy()  # dJ/dw_(n+1), complete but for its streamfunction's share
        states = [st[0] for st in saved] + [wT]
        for n in range(steps - 1, -1, -1):
            a = a + sc.M @ sc.poisson(g_psi[n + 1])  # K, M symmetric
            w_n, s = saved[n]
            A_t = sc.step_matrix(s).T
            lam = solve(A_t, a, a)
            a = 2 * (sc.M @ lam) - A_t @ lam
            gs = -h * sc.advection_adjoint(lam, states[n + 1] + w_n)
            if n == 0:
                g_psi[0] += gs
            else:
                g_psi[n] += 1.5 * gs
                g_psi[n - 1] -= 0.5 * gs
        return a + sc.M @ sc.poisson(g_psi[0])


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
