"""Gaussian random fields with Matérn covariance, sampled through their SPDE.

The field m solves (in the weak sense, P1 elements)

    A (m - m0) = W,     A = gamma (kappa^2 - Laplacian),

with W spatial white noise (Lindgren, Rue & Lindström 2011). With alpha = 2 this is a Matérn
field of smoothness nu = 2 - d/2, range parameter kappa = sqrt(8 nu) / rho (the correlation
drops to about 0.13 at distance rho, the "correlation length"), and marginal variance
Gamma(nu) / ((4 pi)^(d/2) kappa^(2 nu) gamma^2), from which gamma is set to hit ``std``.

Discretely: m = m0 + D A^{-1} M_L^{1/2} w, w ~ N(0, I), with A the FE matrix of the operator
(plus a Robin term gamma kappa / 1.42 on the boundary, the coefficient used by hIPPYlib, which
damps the variance inflation of the natural boundary condition), M_L the lumped mass matrix and
D an optional diagonal that makes the marginal std exactly ``std`` at every vertex. The
precision is R^T R with R = M_L^{-1/2} A D^{-1}, stored in the dataset so that a MAP estimate
uses exactly the prior the samples were drawn from.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gamma as gamma_fn
from math import pi, sqrt
from typing import Literal

from mpi4py import MPI  # noqa: F401  (load the MPI library before dolfinx/petsc4py)
from dolfinx import fem
from dolfinx.fem import petsc as fem_petsc
import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import ufl

from pde_data.fem import petsc_to_csr, to_canonical
from sciml_grow.config import Validated, check
from sciml_grow.errors import InputError

ROBIN_FACTOR = 1.42
MAX_DENSE_NORMALIZE = 8000


@dataclass
class MaternPriorConfig(Validated):
    """Matérn (bi-Laplacian, alpha = 2) prior of the log-parameter field: the full Gaussian
    field (``kind = "spde"``) or its truncated Karhunen–Loève expansion (``kind = "kl"``, the
    ``terms`` largest modes of the same covariance)."""

    kind: Literal["spde", "kl"] = "spde"
    terms: int = 12
    mean: float = 0.0
    std: float = 1.0
    correlation_length: float = 0.3
    robin_boundary: bool = True
    normalize_variance: bool = True

    def validate(self) -> None:
        check(self.terms >= 1, "prior.terms", "must be >= 1")
        check(0 < self.std <= 1e6, "prior.std", "must lie in (0, 1e6]")
        check(abs(self.mean) <= 1e6, "prior.mean", "must lie in [-1e6, 1e6]")
        check(
            1e-6 <= self.correlation_length <= 1e6,
            "prior.correlation_length",
            "must lie in [1e-6, 1e6] (lengths are relative to the unit domain)",
        )


def matern_coefficients(cfg: MaternPriorConfig, dim: int) -> dict[str, float]:
    """SPDE coefficients (nu, kappa, gamma, delta = gamma kappa^2) for the configured prior."""
    nu = 2.0 - dim / 2.0
    kappa = sqrt(8.0 * nu) / cfg.correlation_length
    gamma = sqrt(gamma_fn(nu) / ((4.0 * pi) ** (dim / 2.0) * kappa ** (2.0 * nu))) / cfg.std
    return {"nu": nu, "kappa": kappa, "gamma": gamma, "delta": gamma * kappa**2}


class MaternSPDEPrior:
    """Sampler and precision factor of the Matérn prior on a P1 space (canonical order)."""

    def __init__(self, V: fem.FunctionSpace, cfg: MaternPriorConfig, perm: np.ndarray):
        self.cfg = cfg
        dim = V.mesh.topology.dim
        c = matern_coefficients(cfg, dim)
        self.coefficients = dict(c)
        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        form = (
            c["gamma"] * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx + c["delta"] * u * v * ufl.dx
        )
        robin = c["gamma"] * c["kappa"] / ROBIN_FACTOR if cfg.robin_boundary else 0.0
        if robin:
            form += robin * u * v * ufl.ds
        self.coefficients["robin_coefficient"] = robin
        A_petsc = fem_petsc.assemble_matrix(fem.form(form))
        A_petsc.assemble()
        A = petsc_to_csr(A_petsc, perm).tocsc()
        A_petsc.destroy()
        lumped = to_canonical(fem.assemble_vector(fem.form(v * ufl.dx)).array.copy(), perm)
        self._sqrt_mass = np.sqrt(lumped)
        self._lu = spla.splu(A)
        n = A.shape[0]
        if cfg.normalize_variance:
            if n > MAX_DENSE_NORMALIZE:
                raise InputError(
                    f"prior.normalize_variance: {n} vertices is too many for the exact "
                    f"variance (limit {MAX_DENSE_NORMALIZE}); set it to false"
                )
            G = self._lu.solve(np.diag(self._sqrt_mass))  # A^{-1} M_L^{1/2}
            pointwise_std = np.sqrt(np.einsum("ij,ij->i", G, G))
            self._scale = cfg.std / pointwise_std
        else:
            self._scale = np.ones(n)
        self.mean = np.full(n, cfg.mean)
        self.precision_factor = sp.csr_array(
            sp.diags_array(1.0 / self._sqrt_mass) @ A @ sp.diags_array(1.0 / self._scale)
        )

    def sample(self, white: np.ndarray) -> np.ndarray:
        """One field (canonical vertex order) from a standard normal vector of the same size."""
        return self.mean + self._scale * self._lu.solve(self._sqrt_mass * white)

    def covariance(self) -> np.ndarray:
        """Dense covariance (R^T R)^{-1}, for tests and small problems."""
        R = self.precision_factor.toarray()
        Rinv = sla.inv(R)
        return Rinv @ Rinv.T

    def metadata(self) -> dict:
        """What the dataset file stores about the prior."""
        return {
            "kind": "matern_spde",
            "alpha": 2.0,
            "mean_value": self.cfg.mean,
            "std": self.cfg.std,
            "correlation_length": self.cfg.correlation_length,
            "normalize_variance": self.cfg.normalize_variance,
            "description": "m = mean + R^{-1} w, w ~ N(0, I); precision = R^T R",
            **self.coefficients,
            "mean": self.mean,
            "precision_factor": self.precision_factor,
        }


def fixed_signs(V: np.ndarray) -> np.ndarray:
    """The columns of ``V`` with signs that rounding cannot flip: each column's first entry
    (canonical vertex order) of at least a tenth of its largest magnitude is positive. The
    largest entry itself will not do: on a symmetric mesh an antisymmetric mode has two of
    equal magnitude and opposite sign, and rounding picks one."""
    big = np.abs(V) >= 0.1 * np.abs(V).max(axis=0)
    first = np.argmax(big, axis=0)
    return V * np.sign(V[first, np.arange(V.shape[1])])


class KLPrior:
    """The truncated Karhunen–Loève expansion of a Gaussian prior: m = mean + Phi xi with
    Phi = V_k Lambda_k^(1/2) from the ``terms`` largest eigenpairs of its (vertex) covariance
    and xi ~ N(0, I_k). Its coefficients xi are standard normal, so in coefficient space the
    prior has mean 0 and precision I (what a MAP over xi uses)."""

    def __init__(self, full: MaternSPDEPrior, terms: int):
        n = len(full.mean)
        if terms > n:
            raise InputError(f"prior.terms: {terms} modes asked, the mesh has {n} vertices")
        if n > MAX_DENSE_NORMALIZE:
            raise InputError(
                f"prior.kind = kl: {n} vertices is too many for the dense covariance "
                f"(limit {MAX_DENSE_NORMALIZE})"
            )
        self.cfg = full.cfg
        values, vectors = np.linalg.eigh(full.covariance())
        order = np.argsort(values)[::-1][:terms]
        self.eigenvalues = values[order]
        V = fixed_signs(vectors[:, order])
        self.modes = V * np.sqrt(self.eigenvalues)  # Phi: n x k
        self.mean = full.mean
        self.variance_captured = float(self.eigenvalues.sum() / values.sum())
        self.dim = terms

    def sample(self, xi: np.ndarray) -> np.ndarray:
        """The field of coefficients ``xi`` (k,), canonical vertex order."""
        return self.mean + self.modes @ xi

    def metadata(self) -> dict:
        return {
            "kind": "kl",
            "terms": self.dim,
            "mean_value": self.cfg.mean,
            "std": self.cfg.std,
            "correlation_length": self.cfg.correlation_length,
            "variance_captured": self.variance_captured,
            "description": "m = mean + modes @ xi, xi ~ N(0, I_terms); modes = eigenvectors "
            "of the Matern covariance times the square roots of their eigenvalues",
            "field_mean": self.mean,
            "modes": self.modes,
            "eigenvalues": self.eigenvalues,
        }
