"""2-D incompressible Navier–Stokes in vorticity–streamfunction form: recover the initial
vorticity w0 from (sparse, noisy) vorticity at time T.

    w_t + v . grad w = nu Laplacian w + f,    -Laplacian psi = w,    v = (psi_y, -psi_x)
    psi = 0 and w = 0 on the walls of the unit square (free slip, no penetration)

Discretization (ours): P1 elements for w and psi on an n x n triangle mesh. Time stepping is
Crank–Nicolson for diffusion *and* advection, with the advecting velocity extrapolated from the
two previous streamfunctions (v* = 3/2 v^n - 1/2 v^(n-1); v^0 on the first step), so each step
is one linear solve and second order in time. Because v* = curl psi_h is exactly
divergence-free with zero normal component on the walls, the Galerkin advection term is
skew-symmetric, and the scheme inherits the continuous enstrophy identity exactly:
|w^(n+1)|^2 - |w^n|^2 = -2 dt nu |grad w^(n+1/2)|^2 when f = 0 (tested). With the default
nu = 1e-3, velocities of order 0.1 and h = 1/64 the cell Péclet number stays below 1, so
no stabilization is added.

Initial vorticity: a Gaussian random field in the sine basis, which vanishes on the walls,

    w0 = sum_{k,l <= K} xi_kl s (pi^2 (k^2 + l^2) + tau^2)^(-alpha/2) 2 sin(k pi x) sin(l pi y)

with alpha = 2.5, tau = 7 and s = tau^((alpha - 1)/2) by default: the covariance
7^(3/2) (-Laplacian + 49)^(-2.5) of the widely used periodic data set, here with the
Dirichlet Laplacian's eigenfunctions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mpi4py import MPI
from dolfinx import fem, mesh
from dolfinx.fem import petsc as fem_petsc
import numpy as np
from petsc4py import PETSc
import scipy.sparse as sp
from scipy.sparse.linalg import splu
import ufl

from pde_data.fem import (
    canonical_permutation,
    evaluation_matrix,
    lu_solver,
    mesh_arrays,
    petsc_to_csr,
    to_canonical,
)
from pde_data.observe import NoiseConfig, SensorConfig, add_noise, sensor_points
from pde_data.problem import Problem
from sciml_grow.config import Validated, check
from sciml_grow.errors import InputError
from sciml_grow.operators.vorticity_scheme import VorticityScheme


@dataclass
class SinePriorConfig(Validated):
    """Gaussian random field in the Dirichlet sine basis."""

    alpha: float = 2.5
    tau: float = 7.0
    scale: float | None = None  # None: tau^((alpha - 1) / 2)
    modes: int = 32

    def validate(self) -> None:
        check(self.alpha > 1, "prior.alpha", "must be > 1")
        check(self.tau >= 0, "prior.tau", "must be >= 0")
        check(self.modes > 0, "prior.modes", "must be positive")
        check(self.scale is None or self.scale > 0, "prior.scale", "must be positive")

    def coefficient_std(self) -> np.ndarray:
        """(modes, modes) standard deviations of the sine coefficients."""
        k = np.arange(1, self.modes + 1)
        lam = np.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2)
        scale = self.tau ** ((self.alpha - 1) / 2) if self.scale is None else self.scale
        return 2.0 * scale * (lam + self.tau**2) ** (-self.alpha / 2)


def sine_series(coeffs: np.ndarray, points: np.ndarray) -> np.ndarray:
    """sum_kl c_kl sin(k pi x) sin(l pi y) at ``points`` (P, 2); coeffs (K, K), k along x."""
    k = np.arange(1, coeffs.shape[0] + 1)
    sx = np.sin(np.pi * np.outer(points[:, 0], k))
    sy = np.sin(np.pi * np.outer(points[:, 1], k))
    return np.einsum("pk,kl,pl->p", sx, coeffs, sy)


class StepSolver:
    """A x = b for step matrices of one sparsity pattern: BiCGSTAB with Jacobi on a PETSc
    matrix whose values are a numpy buffer (copied in, no assembly); about 2 iterations to
    1e-12 from the scheme's extrapolated guess (mass-dominated matrices), a sparse LU if it
    ever fails to converge. All of it sequential and in a fixed order, so a sample's bits do
    not depend on the rank count."""

    def __init__(self, indptr: np.ndarray, indices: np.ndarray):
        n = len(indptr) - 1
        self.values = np.zeros(len(indices))
        csr = (indptr.astype(PETSc.IntType), indices.astype(PETSc.IntType), self.values)
        self.A = PETSc.Mat().createAIJWithArrays((n, n), csr, comm=MPI.COMM_SELF)
        self.ksp = PETSc.KSP().create(MPI.COMM_SELF)
        self.ksp.setType("bcgs")
        self.ksp.getPC().setType("jacobi")
        self.ksp.setTolerances(rtol=1e-12, atol=1e-14)
        self.ksp.setInitialGuessNonzero(True)
        self.b, self.x = self.A.createVecs()

    def __call__(self, A: sp.csr_array, b: np.ndarray, guess: np.ndarray) -> np.ndarray:
        np.copyto(self.values, A.data)
        self.A.assemble()  # the values changed: the preconditioner is rebuilt
        self.ksp.setOperators(self.A)
        self.b.array[:] = b
        self.x.array[:] = guess
        self.ksp.solve(self.b, self.x)
        if self.ksp.getConvergedReason() < 0:
            return splu(sp.csc_array(A)).solve(b)
        return self.x.array.copy()


class VorticityModel:
    """FEniCSx time stepper for one mesh; ``run(w0)`` returns w at the final time."""

    def __init__(
        self,
        n: int = 64,
        nu: float = 1e-3,
        dt: float = 0.02,
        steps: int = 250,
        forcing: float | Callable[[mesh.Mesh], ufl.core.expr.Expr] = 0.1,
        advection: bool = True,
        comm: MPI.Comm = MPI.COMM_SELF,
        stepping: str = "operators",
    ):
        """``stepping``: "operators" (the step from numpy operators and BiCGSTAB,
        :class:`VorticityScheme`) or "forms" (the UFL forms assembled every step: the
        independent reference, 10x slower)."""
        if stepping not in ("operators", "forms"):
            raise InputError(f"stepping: {stepping!r} is not 'operators' or 'forms'")
        self.stepping = stepping
        # the unit square and P1 for the vorticity w and the streamfunction psi
        self.mesh = mesh.create_unit_square(comm, n, n, mesh.CellType.triangle)
        self.V = V = fem.functionspace(self.mesh, ("Lagrange", 1))
        self.nu, self.dt, self.steps, self.advection = nu, dt, steps, advection
        self.w, self.w_old = fem.Function(V), fem.Function(V)
        self.psi, self.psi_prev, self.psi_star = fem.Function(V), fem.Function(V), fem.Function(V)
        u, q = ufl.TrialFunction(V), ufl.TestFunction(V)
        # the forcing f: a given expression, or the smooth default scaled by its amplitude
        x = ufl.SpatialCoordinate(self.mesh)
        if callable(forcing):
            f = forcing(self.mesh)
        else:
            amplitude = fem.Constant(self.mesh, float(forcing))  # keeps the form nonzero
            f = amplitude * (
                ufl.sin(2 * ufl.pi * (x[0] + x[1])) + ufl.cos(2 * ufl.pi * (x[0] + x[1]))
            )
        # Crank-Nicolson step for dw/dt + v . grad w = nu laplace w + f, with the velocity
        # v = curl psi* from the extrapolated streamfunction: one linear solve per step
        vel = ufl.as_vector((self.psi_star.dx(1), -self.psi_star.dx(0))) * float(advection)
        half = 0.5 * dt

        def operator(z):  # nu grad z . grad q + (v* . grad z) q
            return nu * ufl.inner(ufl.grad(z), ufl.grad(q)) + ufl.inner(vel, ufl.grad(z)) * q

        self.a = fem.form((u * q + half * operator(u)) * ufl.dx)
        self.L = fem.form((self.w_old * q - half * operator(self.w_old) + dt * f * q) * ufl.dx)
        # w = 0 on the whole boundary
        walls = mesh.locate_entities_boundary(self.mesh, 1, lambda p: np.full(p.shape[1], True))
        self.bc_dofs = fem.locate_dofs_topological(V, 1, walls)
        self.bcs = [fem.dirichletbc(0.0, self.bc_dofs, V)]
        self.A = fem_petsc.create_matrix(self.a)
        self.b = fem_petsc.create_vector(V)
        # the step matrix changes every step and is mass-dominated: GMRES + ILU(0) needs about
        # 6 iterations and is 1.6x faster than refactoring an LU each step
        self.ksp = PETSc.KSP().create(comm)
        self.ksp.setOperators(self.A)
        self.ksp.setType("gmres")
        self.ksp.getPC().setType("ilu")
        self.ksp.setTolerances(rtol=1e-12, atol=1e-14)
        # Modified Gram-Schmidt: with PETSc's default (classical) one, the multi-dot product
        # over the Krylov basis rounded differently from one process to another, so the same
        # sample differed in the last bits between runs and rank counts (measured: 4 of 14
        # processes); one dot at a time is reproducible and costs the same here
        prefix = f"sciml_ns_{id(self)}_"
        self.ksp.setOptionsPrefix(prefix)
        opts = PETSc.Options(prefix)
        opts["ksp_gmres_modifiedgramschmidt"] = None
        self.ksp.setFromOptions()
        del opts["ksp_gmres_modifiedgramschmidt"]
        # streamfunction: K psi = M w, factorized once
        self.poisson_L = fem.form(self.w * q * ufl.dx)
        K = fem_petsc.assemble_matrix(
            fem.form(ufl.inner(ufl.grad(u), ufl.grad(q)) * ufl.dx), bcs=self.bcs
        )
        K.assemble()
        self.K = K
        self.poisson = lu_solver(K)
        self.pb = fem_petsc.create_vector(V)
        self.mass_form = fem.form(u * q * ufl.dx)
        self.stiffness_form = fem.form(ufl.inner(ufl.grad(u), ufl.grad(q)) * ufl.dx)
        self.forcing_form = fem.form(f * q * ufl.dx)
        if stepping == "operators":
            ident = np.arange(V.dofmap.index_map.size_local)
            mats = []
            for form in (self.mass_form, self.stiffness_form):
                A = fem_petsc.assemble_matrix(form)
                A.assemble()
                mats.append(petsc_to_csr(A, ident))
            self.scheme = VorticityScheme(
                V.tabulate_dof_coordinates()[:, :2],
                V.dofmap.list.astype(np.int64),
                *mats,
                fem_petsc.assemble_vector(self.forcing_form).array.copy(),
                self.bc_dofs,
                nu=nu,
                dt=dt,
                steps=steps,
                advection=advection,
            )
            self.step_solver = StepSolver(self.scheme.indptr, self.scheme.indices)

    def _solve(self, ksp: PETSc.KSP, b: PETSc.Vec, form: fem.Form, target: fem.Function) -> None:
        with b.localForm() as loc:
            loc.set(0.0)
        fem_petsc.assemble_vector(b, form)
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        fem_petsc.set_bc(b, self.bcs)  # the wall values are zero: no lifting needed
        ksp.solve(b, target.x.petsc_vec)
        target.x.scatter_forward()

    def streamfunction(self) -> None:
        """psi from the current w."""
        self._solve(self.poisson, self.pb, self.poisson_L, self.psi)

    def run(self, w0: np.ndarray, on_step: Callable[[int], None] | None = None) -> np.ndarray:
        """Advance w0 (dof order) by ``steps`` steps; returns w(T) in dof order
        (``self.w`` holds each step's field when ``on_step`` is called)."""
        if self.stepping == "operators":
            sc = self.scheme

            def record(step: int, w: np.ndarray) -> None:
                self.w.x.array[sc.free] = w
                on_step(step)

            self.w.x.array[:] = 0.0
            wT, _ = sc.run(w0[sc.free], self.step_solver, on_step=on_step and record)
            self.w.x.array[sc.free] = wT
            return self.w.x.array.copy()
        self.w.x.array[:] = w0
        self.w.x.array[self.bc_dofs] = 0.0
        self.streamfunction()
        self.psi_prev.x.array[:] = self.psi.x.array
        for step in range(self.steps):
            factor = 0.0 if step == 0 else 0.5  # v* = 3/2 v^n - 1/2 v^(n-1)
            self.psi_star.x.array[:] = (1 + factor) * self.psi.x.array - factor * (
                self.psi_prev.x.array
            )
            self.w_old.x.array[:] = self.w.x.array
            self.A.zeroEntries()
            fem_petsc.assemble_matrix(self.A, self.a, bcs=self.bcs)
            self.A.assemble()
            self.ksp.setOperators(self.A)
            self._solve(self.ksp, self.b, self.L, self.w)
            self.psi_prev.x.array[:] = self.psi.x.array
            self.streamfunction()
            if on_step is not None:
                on_step(step)
        return self.w.x.array.copy()


@dataclass
class NavierStokesConfig(Validated):
    """Configuration of the Navier–Stokes initial-vorticity dataset."""

    mesh_cells: int = 64
    nu: float = 1e-3
    forcing: float = 0.1
    final_time: float = 5.0
    time_step: float = 0.02
    grid: int = 64
    store_final_field: bool = True
    advection: bool = True
    prior: SinePriorConfig = field(default_factory=SinePriorConfig)
    sensors: SensorConfig = field(default_factory=lambda: SensorConfig(count=7, layout="grid"))
    noise: NoiseConfig = field(default_factory=NoiseConfig)

    def validate(self) -> None:
        check(self.mesh_cells >= 4, "mesh_cells", "must be >= 4")
        check(self.nu > 0, "nu", "must be positive")
        check(self.final_time > 0, "final_time", "must be positive")
        check(0 < self.time_step <= self.final_time, "time_step", "must lie in (0, final_time]")
        check(self.grid >= 2, "grid", "must be >= 2")
        check(self.prior.modes <= self.mesh_cells, "prior.modes", "must be <= mesh_cells")


def uniform_grid(n: int) -> np.ndarray:
    """Cell-centred points of an n x n grid on the unit square, x fastest."""
    ticks = (np.arange(n) + 0.5) / n
    gx, gy = np.meshgrid(ticks, ticks, indexing="xy")
    return np.column_stack([gx.ravel(), gy.ravel()])


class NavierStokesProblem(Problem):
    """Samples (w0 ~ sine-series GRF, w(T) by the FEniCSx stepper, noisy w(T) at sensors)."""

    name = "navier_stokes"
    config_class = NavierStokesConfig
    nonfinite_hint = "check nu, forcing, time_step and prior.scale (an unstable time step?)"

    @classmethod
    def memory_estimate(cls, config: NavierStokesConfig) -> float:
        """About 5 KB per vertex (measured 4 at 128 x 128) and the grid matrix."""
        return 5e3 * (config.mesh_cells + 1) ** 2 + 100.0 * config.grid**2

    def __init__(self, config: NavierStokesConfig):
        super().__init__(config)
        cfg = config
        steps = max(1, round(cfg.final_time / cfg.time_step))
        self.model = VorticityModel(
            cfg.mesh_cells, cfg.nu, cfg.final_time / steps, steps, cfg.forcing, cfg.advection
        )
        V = self.model.V
        self.perm = canonical_permutation(V)
        self.coords, self.cells = mesh_arrays(V, self.perm)
        self.coeff_std = cfg.prior.coefficient_std()
        self.points = sensor_points(cfg.sensors, np.zeros(2), np.ones(2))
        if np.any(self.points <= 0) or np.any(self.points >= 1):
            raise InputError("sensors.points must lie inside the unit square")
        self.B = evaluation_matrix(self.model.mesh, self.coords, self.cells, self.points)
        self.grid_points = uniform_grid(cfg.grid)
        self.grid_matrix = evaluation_matrix(
            self.model.mesh, self.coords, self.cells, self.grid_points
        )

    def sample_fields(self) -> dict[str, tuple[tuple[int, ...], str]]:
        g, nv, ns = self.config.grid, len(self.coords), len(self.points)
        fields = {
            "inputs": ((ns,), "f8"),
            "targets": ((g * g,), "f8"),
            "obs_clean": ((ns,), "f8"),
            "w0_vertices": ((nv,), "f8"),
            "noise_std": ((), "f8"),
        }
        if self.config.store_final_field:
            fields["wT_grid"] = ((g * g,), "f8")
        return fields

    def sample(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        coeffs = self.coeff_std * rng.standard_normal(self.coeff_std.shape)
        w0 = sine_series(coeffs, self.coords)
        wT = to_canonical(self.model.run(w0[self.perm]), self.perm)
        clean = self.B @ wT
        noisy, std = add_noise(clean, self.config.noise, rng)
        out = {
            "inputs": noisy,
            "targets": sine_series(coeffs, self.grid_points),
            "obs_clean": clean,
            "w0_vertices": w0,
            "noise_std": std,
        }
        if self.config.store_final_field:
            out["wT_grid"] = self.grid_matrix @ wT
        return out

    def metadata(self) -> dict:
        cfg, model = self.config, self.model
        forms = {"mass": model.mass_form, "stiffness": model.stiffness_form}
        mats = {}
        for key, form in forms.items():
            A = fem_petsc.assemble_matrix(form)
            A.assemble()
            mats[key] = petsc_to_csr(A, self.perm)
        forcing = fem_petsc.assemble_vector(model.forcing_form)
        return {
            "description": "Navier-Stokes vorticity: inputs = noisy w(T) at sensors, targets = "
            "w0 on a uniform grid (cell centres, x fastest)",
            "mesh": {"coordinates": self.coords, "cells": self.cells, "cell_type": "triangle"},
            "observation": {"points": self.points, "matrix": self.B, "observed": "w(T)"},
            "grid": {"points": self.grid_points, "matrix": self.grid_matrix, "size": cfg.grid},
            "noise": cfg.noise.metadata(),
            "prior": {
                "kind": "sine_series_grf",
                "description": "w0 = sum_kl xi_kl std_kl sin(k pi x) sin(l pi y), xi ~ N(0, 1)",
                "alpha": cfg.prior.alpha,
                "tau": cfg.prior.tau,
                "modes": cfg.prior.modes,
                "coefficient_std": self.coeff_std,
            },
            "operators": {
                "kind": "p1_vorticity_cn",
                "equation": "Crank-Nicolson step on free dofs: (M + dt (nu K + N(s)) / 2) w' "
                "= (M - dt (nu K + N(s)) / 2) w + dt forcing, N(s) the P1 advection matrix of "
                "the velocity curl s, s = psi (first step) or 3/2 psi - 1/2 psi_prev, K psi = "
                "M w; w = 0 on dirichlet_dofs (advection = 0: the linear Stokes step)",
                "nu": cfg.nu,
                "advection": cfg.advection,
                "dt": model.dt,
                "steps": model.steps,
                "mass": mats["mass"],
                "stiffness": mats["stiffness"],
                "forcing": to_canonical(forcing.array.copy(), self.perm),
                "dirichlet_dofs": np.sort(self.perm[model.bc_dofs]),
            },
        }
