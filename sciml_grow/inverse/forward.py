"""Forward PDE maps rebuilt in torch from a dataset file's operators (no FEniCSx needed).

They are batched and differentiable, so a network's predicted parameter field can be pushed
through the PDE during training (physics-informed loss), its observations re-simulated for
evaluation, and a MAP estimate computed by gradient-based optimization. A file names its
operator kind in ``operators.attrs['kind']``; :func:`load_forward` builds the matching class.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch import nn

from sciml_grow import format as fmt
from sciml_grow.inverse.vorticity import VorticityForward


class HeatForward(nn.Module):
    """m (B, n) -> y (B, n) for -div(exp(m) grad y) = f with P1 elements (kind p1_diffusion_exp).

    K(m) = sum_c (sum_q w_q exp(basis_q . m[cells_c])) G_c + Robin, assembled directly on the
    free (non-Dirichlet) dofs as a dense batch and solved by Cholesky, with the adjoint as
    backward. Without autograd on the CPU (evaluating predictions: the test split's misfit) each
    sample is solved by a banded Cholesky in reverse Cuthill-McKee order instead (5x faster
    for 200 heat samples).
    """

    kind = "p1_diffusion_exp"
    cheap = True  # one batched solve with adjoint: ms per sample (MCMC floor)

    def __init__(self, ops: h5py.Group, mesh: h5py.Group, observation: np.ndarray):
        super().__init__()
        cells = mesh["cells"][()]
        load = ops["load"][()]
        n = load.size
        fixed = ops["dirichlet_dofs"][()]
        free = np.setdiff1d(np.arange(n), fixed)
        pos = np.full(n, -1)
        pos[free] = np.arange(free.size)
        rows = np.repeat(cells, 3, axis=1).reshape(-1, 3, 3)
        cols = np.tile(cells, (1, 3)).reshape(-1, 3, 3)
        keep = (pos[rows] >= 0) & (pos[cols] >= 0)
        nf = free.size
        robin = fmt.read_csr(ops, "robin_matrix").toarray()[np.ix_(free, free)]
        t = torch.from_numpy
        self.n, self.nf = n, nf
        self.register_buffer("cells", t(cells.astype(np.int64)))
        self.register_buffer("basis", t(ops["quadrature_basis"][()]))
        self.register_buffer("weights", t(ops["quadrature_weights"][()]))
        self.register_buffer("G", t(ops["cell_gradient_products"][()]))
        self.register_buffer("keep", t(keep))
        self.register_buffer("flat", t((pos[rows] * nf + pos[cols])[keep]))
        self.register_buffer("robin", t(robin))
        self.register_buffer("load_free", t(load[free]))
        self.register_buffer("free", t(free))
        self.register_buffer("B", t(observation))

    def cell_weights(self, m: torch.Tensor) -> torch.Tensor:
        """(B, n_cells): the quadrature of exp(m) over each cell (without the Jacobian)."""
        return torch.exp(m[:, self.cells] @ self.basis.T) @ self.weights

    def assemble(self, k: torch.Tensor) -> torch.Tensor:
        """(B, nf, nf) stiffness matrices on the free dofs from per-cell weights k (B, n_cells)."""
        vals = (k[:, :, None, None] * self.G)[:, self.keep]  # (B, kept entries)
        K = torch.zeros(len(k), self.nf * self.nf, dtype=k.dtype, device=k.device)
        K.index_add_(1, self.flat, vals)
        return K.view(len(k), self.nf, self.nf) + self.robin

    def stiffness(self, m: torch.Tensor) -> torch.Tensor:
        """(B, nf, nf) stiffness matrices K(m) restricted to the free dofs."""
        return self.assemble(self.cell_weights(m))

    def forward(self, m: torch.Tensor) -> torch.Tensor:
        """States y (B, n), zero on the Dirichlet dofs."""
        if torch.is_grad_enabled() or m.device.type != "cpu":
            y_free = _HeatSolve.apply(self.cell_weights(m), self)
        else:
            y_free = self._solve_banded(self.cell_weights(m))
        y = torch.zeros(len(m), self.n, dtype=m.dtype, device=m.device)
        return y.index_copy(1, self.free, y_free)

    def observe(self, m: torch.Tensor) -> torch.Tensor:
        """Predicted observations B y(m), (B, n_sensors)."""
        return self(m) @ self.B.T

    def _solve_banded(self, k: torch.Tensor) -> torch.Tensor:
        """y_free for per-cell weights k (B, n_cells), without autograd: K is symmetric
        positive definite and, in reverse Cuthill-McKee order, banded, so each sample is one
        banded Cholesky solve (LAPACK pbsv); a K that is not positive definite (exp(m)
        overflowed) gives NaN, as the dense path does."""
        from scipy.linalg import LinAlgError, solveh_banded

        if not hasattr(self, "_banded"):
            self._banded = self._banded_layout()
        perm, width, scatter, robin = self._banded
        vals = (k[:, :, None, None] * self.G)[:, self.keep].numpy()  # (B, cell entries)
        bands = ((scatter @ vals.T).T + robin).reshape(len(k), width, self.nf)
        load = self.load_free.numpy()[perm]
        out = np.empty((len(k), self.nf))
        for b in range(len(k)):
            try:
                out[b, perm] = solveh_banded(bands[b], load, lower=True, check_finite=False)
            except (LinAlgError, ValueError):
                out[b] = np.nan
        return torch.from_numpy(out).to(k.dtype)

    def _banded_layout(self) -> tuple[np.ndarray, int, Any, np.ndarray]:
        """The reverse Cuthill-McKee order of the free dofs, the band width, a matrix taking
        the cell entries to K's lower band (rows: band position, as LAPACK stores it) and
        the Robin term's band."""
        import scipy.sparse as sp
        from scipy.sparse.csgraph import reverse_cuthill_mckee

        nf = self.nf
        rows, cols = np.divmod(self.flat.numpy(), nf)
        robin = sp.coo_array(self.robin.numpy())
        pattern = sp.csr_array((np.ones(len(rows)), (rows, cols)), (nf, nf)) + robin.tocsr()
        perm = np.asarray(reverse_cuthill_mckee(pattern, symmetric_mode=True))
        where = np.empty(nf, dtype=np.int64)
        where[perm] = np.arange(nf)  # position of each dof in the new order

        def band_slots(r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            i, j = where[r], where[c]
            lower = i >= j
            return lower, (i - j)[lower] * nf + j[lower]

        lower, slot = band_slots(rows, cols)
        rlower, rslot = band_slots(robin.row, robin.col)
        width = 1 + int(max(slot.max() // nf, rslot.max(initial=0) // nf))
        size = width * nf
        picks = np.flatnonzero(lower)
        scatter = sp.csr_array((np.ones(len(slot)), (slot, picks)), (size, len(rows)))
        robin_band = np.bincount(rslot, robin.data[rlower], minlength=size)
        return perm, width, scatter, robin_band


class _HeatSolve(torch.autograd.Function):
    """y_free = K(k)^{-1} f from per-cell weights k, with the adjoint as backward:
    dJ/dk_c = -lambda_c^T G_c y_c with K lambda = dJ/dy, never forming dK (B x nf x nf)."""

    @staticmethod
    def forward(ctx, k: torch.Tensor, op: HeatForward) -> torch.Tensor:
        chol, info = torch.linalg.cholesky_ex(op.assemble(k))
        y = torch.cholesky_solve(op.load_free.expand(len(k), -1).unsqueeze(-1), chol)
        y[info > 0] = torch.nan  # exp(m) overflowed: no state (a sampler rejects the point)
        ctx.save_for_backward(chol, y)
        ctx.op = op
        return y.squeeze(-1)

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor) -> tuple[torch.Tensor, None]:
        chol, y = ctx.saved_tensors
        op = ctx.op
        lam = torch.cholesky_solve(grad_y.unsqueeze(-1), chol).squeeze(-1)  # K symmetric
        full = torch.zeros(2, len(y), op.n, dtype=y.dtype, device=y.device)
        full[0].index_copy_(1, op.free, lam)
        full[1].index_copy_(1, op.free, y.squeeze(-1))  # zero on Dirichlet dofs
        lam_c, y_c = full[0][:, op.cells], full[1][:, op.cells]  # (B, n_cells, 3)
        grad_k = -torch.einsum("bci,cij,bcj->bc", lam_c, op.G, y_c)
        return grad_k, None


FORWARD_KINDS: dict[str, type[nn.Module]] = {
    HeatForward.kind: HeatForward,
    VorticityForward.kind: VorticityForward,
}


class MappedForward(nn.Module):
    """A forward operator on targets that parametrize the field affinely, m = offset + A t
    (the coefficients of a truncated KL prior): the same ``forward``/``observe`` on t."""

    def __init__(self, inner: nn.Module, offset: np.ndarray, matrix: np.ndarray):
        super().__init__()
        self.inner = inner
        self.register_buffer("offset", torch.from_numpy(offset))
        self.register_buffer("matrix", torch.from_numpy(matrix))

    @property
    def cheap(self) -> bool:
        return bool(getattr(self.inner, "cheap", False))

    def field(self, t: torch.Tensor) -> torch.Tensor:
        return self.offset + t @ self.matrix.T

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.inner(self.field(t))

    def observe(self, t: torch.Tensor) -> torch.Tensor:
        return self.inner.observe(self.field(t))


def load_forward(path: str | Path) -> nn.Module | None:
    """The file's forward operator on its targets (float64, CPU), or None if it stores none we
    know. Read once per process for each version of the file; each call gets its own copy (a
    caller may move it to a device)."""
    forward = _read_forward(path)
    return None if forward is None else copy.deepcopy(forward)


@fmt.cached_per_file
def _read_forward(path: Path) -> nn.Module | None:
    with fmt.open_file(path, require_tag=False) as f:
        if fmt.OPERATORS not in f:
            return None
        cls = FORWARD_KINDS.get(str(f[fmt.OPERATORS].attrs.get("kind")))
        if cls is None:
            return None
        obs = fmt.read_csr(f[fmt.OBSERVATION], "matrix").toarray()
        forward = cls(f[fmt.OPERATORS], f[fmt.MESH], obs)
        if hasattr(forward, "on_targets"):  # targets that are not the operator's field
            forward = forward.on_targets(f)
        if fmt.PARAMETER_MAP in f:
            pm = f[fmt.PARAMETER_MAP]
            forward = MappedForward(forward, pm["offset"][()], pm["matrix"][()])
        return forward


def noise_weighted_misfit(
    predicted_obs: torch.Tensor, observed: torch.Tensor, noise_std: torch.Tensor
) -> torch.Tensor:
    """Per-sample mean of ((B F(m) - y_obs) / sigma)^2 over the sensors: about 1 at the noise
    level, so a misfit far below 1 means fitting the noise."""
    return (((predicted_obs - observed) / noise_std[:, None]) ** 2).mean(dim=1)
