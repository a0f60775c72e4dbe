"""Heat-conductivity inversion: recover the log-conductivity m from a few temperature readings.

State equation on the unit square (Krishnanunni, Bui-Thanh & Dawson's benchmark):

    -div(exp(m) grad y) = f                 in (0, 1)^2,   f = 20
                      y = 0                 on x = 0, x = 1, y = 0
      exp(m) grad y . n = 0  (or = -r y)    on the top side y = 1 (no flux, or Robin)

P1 elements on an n x n mesh of right triangles (default 16 x 16: 289 vertices). The coefficient
exp(m) of a P1 field m is integrated with a fixed quadrature degree, so the same integral can be
redone outside FEniCSx: the file stores the reference quadrature rule, the P1 basis at its points
and, per cell, |det J| grad(phi_i) . grad(phi_j), from which

    K(m) = sum_c [ sum_q w_q exp(sum_k phi_k(xi_q) m_{c_k}) ] G_c  (+ Robin matrix)

reproduces FEniCSx's stiffness matrix to rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from mpi4py import MPI
import basix
from dolfinx import fem, mesh
from dolfinx.fem import petsc as fem_petsc
import numpy as np
from petsc4py import PETSc
import scipy.sparse as sp
import ufl

from pde_data.fem import (
    canonical_permutation,
    locate_points,
    lu_solver,
    mesh_arrays,
    p1_gradients,
    petsc_to_csr,
    to_canonical,
)
from pde_data.observe import NoiseConfig, SensorConfig, add_noise, point_matrix, sensor_points
from pde_data.prior import KLPrior, MaternPriorConfig, MaternSPDEPrior
from pde_data.problem import Problem
from sciml_grow.config import Validated, check
from sciml_grow.errors import InputError

Source = float | Callable[[mesh.Mesh], ufl.core.expr.Expr]


@dataclass
class HeatConfig(Validated):
    """Configuration of the heat-conductivity dataset (defaults: the papers' setting)."""

    mesh_cells: int = 16
    source: float = 20.0
    top_boundary: Literal["neumann", "robin"] = "neumann"
    robin_coefficient: float = 1.0
    quadrature_degree: int = 4
    targets: Literal["field", "coefficients"] = "field"  # coefficients: of a KL prior
    prior: MaternPriorConfig = field(default_factory=MaternPriorConfig)
    sensors: SensorConfig = field(default_factory=SensorConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)

    def validate(self) -> None:
        check(self.mesh_cells >= 2, "mesh_cells", "must be >= 2")
        check(1 <= self.quadrature_degree <= 30, "quadrature_degree", "must lie in 1..30")
        check(self.robin_coefficient >= 0, "robin_coefficient", "must be >= 0")
        check(
            self.targets == "field" or self.prior.kind == "kl",
            "targets",
            "coefficients are those of a KL prior: set prior.kind = kl",
        )


class HeatModel:
    """FEniCSx solver of the state equation for many coefficient fields on one mesh.

    Forms are compiled, the matrix allocated and the LU's symbolic factorization done once;
    a solve re-assembles into the same matrix and refactors numerically.
    """

    def __init__(
        self,
        n: int,
        source: Source = 20.0,
        top_boundary: str = "neumann",
        robin_coefficient: float = 1.0,
        quadrature_degree: int = 4,
        comm: MPI.Comm = MPI.COMM_SELF,
    ):
        # the unit square, n x n cells of two triangles, and continuous P1 for m and y
        self.mesh = mesh.create_unit_square(comm, n, n, mesh.CellType.triangle)
        self.V = fem.functionspace(self.mesh, ("Lagrange", 1))
        self.m = fem.Function(self.V, name="m")
        self.y = fem.Function(self.V, name="y")
        # the weak form: integral(exp(m) grad y . grad v) = integral(f v), exp(m) integrated
        # exactly enough by a fixed quadrature degree (the torch operator uses the same rule)
        u, v = ufl.TrialFunction(self.V), ufl.TestFunction(self.V)
        dx = ufl.Measure("dx", metadata={"quadrature_degree": quadrature_degree})
        f = source(self.mesh) if callable(source) else fem.Constant(self.mesh, float(source))
        a = ufl.exp(self.m) * ufl.inner(ufl.grad(u), ufl.grad(v)) * dx
        # the top side: insulated (natural condition), or Robin exchange dy/dn + k y = 0
        self.robin = float(robin_coefficient) if top_boundary == "robin" else 0.0
        self.top_facets = mesh.locate_entities_boundary(
            self.mesh, 1, lambda x: np.isclose(x[1], 1.0)
        )
        if self.robin:
            tags = mesh.meshtags(self.mesh, 1, self.top_facets, np.ones_like(self.top_facets))
            ds_top = ufl.Measure("ds", domain=self.mesh, subdomain_data=tags, subdomain_id=1)
            self.robin_form = fem.form(self.robin * u * v * ds_top)
            a += self.robin * u * v * ds_top
        else:
            self.robin_form = None
        self.a = fem.form(a)
        self.L = fem.form(f * v * dx)
        # y = 0 on the left, right and bottom sides
        walls = mesh.locate_entities_boundary(
            self.mesh,
            1,
            lambda x: np.isclose(x[0], 0.0) | np.isclose(x[0], 1.0) | np.isclose(x[1], 0.0),
        )
        self.dirichlet_dofs = fem.locate_dofs_topological(self.V, 1, walls)
        self.bcs = [fem.dirichletbc(0.0, self.dirichlet_dofs, self.V)]
        # the matrix's sparsity is fixed: created once, refilled for each m
        self.A = fem_petsc.create_matrix(self.a)
        # The load does not depend on m and the boundary value is 0: assemble b once.
        self.b = fem_petsc.assemble_vector(self.L)
        fem_petsc.apply_lifting(self.b, [self.a], [self.bcs])
        self.b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        fem_petsc.set_bc(self.b, self.bcs)
        self.ksp = lu_solver(self.A)
        self.quadrature_degree = quadrature_degree

    def solve(self, m_dofs: np.ndarray) -> np.ndarray:
        """State y (dof order) for the log-conductivity ``m_dofs`` (dof order)."""
        self.m.x.array[:] = m_dofs
        self.A.zeroEntries()
        fem_petsc.assemble_matrix(self.A, self.a, bcs=self.bcs)
        self.A.assemble()
        self.ksp.setOperators(self.A)
        self.ksp.solve(self.b, self.y.x.petsc_vec)
        self.y.x.scatter_forward()
        return self.y.x.array.copy()


def p1_cell_gradient_products(coords: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Per cell, |det J| grad(phi_i) . grad(phi_j) for the P1 basis (shape (n_cells, 3, 3))."""
    grads, det = p1_gradients(coords, cells)  # (nc, 3, 2): rows are grad phi_k in x
    return det[:, None, None] * grads @ grads.transpose(0, 2, 1)


class HeatProblem(Problem):
    """Samples (m ~ Matérn prior, y = solution, noisy y at sensors)."""

    name = "heat"
    config_class = HeatConfig
    nonfinite_hint = "check source, prior.mean and prior.std (exp(m) overflows for large m)"

    @classmethod
    def memory_estimate(cls, config: HeatConfig) -> float:
        """About 5 KB per vertex (measured 4.3 at 256 x 256), plus three dense n x n
        matrices for the exact prior variance."""
        n = (config.mesh_cells + 1) ** 2
        dense = config.prior.normalize_variance or config.prior.kind == "kl"
        return 5e3 * n + (24.0 * n * n if dense else 0.0)

    def __init__(self, config: HeatConfig):
        super().__init__(config)
        cfg = config
        self.model = HeatModel(
            cfg.mesh_cells,
            cfg.source,
            cfg.top_boundary,
            cfg.robin_coefficient,
            cfg.quadrature_degree,
        )
        V = self.model.V
        self.perm = canonical_permutation(V)
        self.coords, self.cells = mesh_arrays(V, self.perm)
        self.prior = MaternSPDEPrior(V, cfg.prior, self.perm)
        if cfg.prior.kind == "kl":
            self.prior = KLPrior(self.prior, cfg.prior.terms)
        self.points = sensor_points(cfg.sensors, np.zeros(2), np.ones(2))
        if np.any(self.points < 0) or np.any(self.points > 1):
            raise InputError("sensors.points must lie in the unit square")
        self.point_cells = locate_points(self.model.mesh, self.points)
        self.B = point_matrix(self.coords, self.cells, self.point_cells, self.points)
        self._points_3d = np.column_stack([self.points, np.zeros(len(self.points))])

    def sample_fields(self) -> dict[str, tuple[tuple[int, ...], str]]:
        nv, ns = len(self.coords), len(self.points)
        fields = {
            "inputs": ((ns,), "f8"),
            "targets": ((nv,), "f8"),
            "obs_clean": ((ns,), "f8"),
            "state": ((nv,), "f8"),
            "noise_std": ((), "f8"),
        }
        if self.config.targets == "coefficients":  # the field is kept beside them
            fields.update(targets=((self.prior.dim,), "f8"), field=((nv,), "f8"))
        return fields

    def sample(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        xi = rng.standard_normal(getattr(self.prior, "dim", len(self.coords)))
        m = self.prior.sample(xi)
        y = to_canonical(self.model.solve(m[self.perm]), self.perm)
        clean = self.model.y.eval(self._points_3d, self.point_cells).reshape(len(self.points))
        noisy, std = add_noise(clean, self.config.noise, rng)
        out = {"inputs": noisy, "targets": m, "obs_clean": clean, "state": y, "noise_std": std}
        if self.config.targets == "coefficients":
            out.update(targets=xi, field=m)
        return out

    def metadata(self) -> dict:
        model, cfg = self.model, self.config
        pts, wts = basix.make_quadrature(basix.CellType.triangle, model.quadrature_degree)
        basis = np.column_stack([1.0 - pts[:, 0] - pts[:, 1], pts[:, 0], pts[:, 1]])
        u, v = ufl.TrialFunction(model.V), ufl.TestFunction(model.V)
        mass = fem_petsc.assemble_matrix(fem.form(u * v * ufl.dx))
        mass.assemble()
        load = fem_petsc.assemble_vector(model.L)
        if model.robin_form is not None:
            robin = fem_petsc.assemble_matrix(model.robin_form)
            robin.assemble()
            robin_csr = petsc_to_csr(robin, self.perm)
        else:
            robin_csr = sp.csr_array((len(self.coords), len(self.coords)))
        coefficients = cfg.targets == "coefficients"
        prior = self.prior.metadata()
        if coefficients:  # the prior in the targets' space: xi ~ N(0, I)
            k = self.prior.dim
            prior.update(mean=np.zeros(k), precision_factor=sp.identity(k, format="csr"))
        meta = {
            "description": "heat conductivity: -div(exp(m) grad y) = f; inputs = noisy y at "
            + (
                "sensors, targets = the KL coefficients xi of m = field_mean + modes @ xi"
                if coefficients
                else "sensors, targets = m at mesh vertices"
            ),
            "mesh": {"coordinates": self.coords, "cells": self.cells, "cell_type": "triangle"},
            "observation": {
                "points": self.points,
                "cells": self.point_cells.astype(np.int64),
                "matrix": self.B,
                "observed": "state",
            },
            "noise": cfg.noise.metadata(),
            "prior": prior,
            "operators": {
                "kind": "p1_diffusion_exp",
                "equation": "K(m) y = load on free dofs, y = 0 on dirichlet_dofs; "
                "K(m) = sum_c (sum_q w_q exp(basis_q . m[cells_c])) G_c + robin_matrix",
                "source": cfg.source,
                "top_boundary": cfg.top_boundary,
                "robin_coefficient": model.robin,
                "quadrature_degree": model.quadrature_degree,
                "quadrature_points": pts,
                "quadrature_weights": wts,
                "quadrature_basis": basis,
                "cell_gradient_products": p1_cell_gradient_products(self.coords, self.cells),
                "load": to_canonical(load.array.copy(), self.perm),
                "robin_matrix": robin_csr,
                "dirichlet_dofs": np.sort(self.perm[model.dirichlet_dofs]),
                "mass": petsc_to_csr(mass, self.perm),
            },
        }
        if coefficients:  # how the forward operator gets m from the targets
            meta["operators"]["parameter_map"] = {
                "description": "m = offset + matrix @ targets",
                "offset": self.prior.mean,
                "matrix": self.prior.modes,
            }
        return meta
