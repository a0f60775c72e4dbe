"""3-D wind over terrain: recover the wind field on a grid from a few sensor masts.

Mass-consistent (diagnostic) wind model, as in the classical models wind-energy and wildfire
practitioners use (Sherman 1978, MATHEW; WindNinja's conservation-of-mass solver). Given an
ambient wind u0, the adjusted field is the one closest to u0 in the weighted norm
alpha_h^2 (du^2 + dv^2) + alpha_v^2 dw^2 that is divergence free and does not cross the ground.
Its Lagrange multiplier lambda gives

    u = u0 + T grad(lambda),       T = diag(1/(2 alpha_h^2), 1/(2 alpha_h^2), 1/(2 alpha_v^2))
    -div(T grad lambda) = div u0   in the domain
    lambda = 0                     on the open sides and the top (flow passes freely)
    (u0 + T grad lambda) . n = 0   on the ground (natural condition: no penetration)

Weak form with P1 elements on tetrahedra: find lambda (zero on the open boundary) with
integral(T grad lambda . grad q) = -integral(u0 . grad q) for every P1 q vanishing there. The
discrete field then satisfies integral(u . grad q) = 0 for all such q: the weak statement of
"divergence free with no flow through the ground", exact up to the solver tolerance. The matrix
does not depend on the sample, so the conjugate-gradient solver and its algebraic-multigrid
preconditioner (PETSc GAMG; the wheel has no hypre) are set up once per rank.

Domain: a rectangle [0, Lx] x [0, Ly] over terrain z = h(x, y) (a sum of Gaussian hills) up to a
flat top ``depth`` above the lowest ground. The mesh is a structured box of tetrahedra whose
vertical coordinate follows the terrain, z = h + (top - h) zeta^grading, so layers crowd
towards the ground for grading > 1. Nodal velocities (what the sensors and the target grid
sample) are the volume-weighted averages of the cell velocities around each vertex.

Ambient wind per sample: a power law U_ref (z_agl / z_ref)^a in the horizontal direction theta
(the direction the air moves to, counter-clockwise from +x), plus an optional smooth random
perturbation of the horizontal components that scales with the profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import itertools

from mpi4py import MPI
from dolfinx import fem, mesh
from dolfinx.fem import petsc as fem_petsc
import numpy as np
from petsc4py import PETSc
import scipy.sparse as sp
import ufl

from pde_data.fem import (
    canonical_permutation,
    evaluation_matrix,
    mesh_arrays,
    p1_gradients,
    petsc_to_csr,
)
from pde_data.observe import NoiseConfig, SensorConfig, add_noise, sensor_points
from pde_data.problem import Problem
from sciml_grow.config import Validated, check
from sciml_grow.errors import InputError

COMPONENTS = ("u", "v", "w")


@dataclass
class HillConfig(Validated):
    """A Gaussian hill: height * exp(-|x - centre|^2 / (2 width^2)), metres."""

    x: float
    y: float
    height: float
    width: float

    def validate(self) -> None:
        check(self.width > 0, "hills.width", "must be positive")


def _default_hills() -> list[HillConfig]:
    return [HillConfig(750.0, 800.0, 150.0, 220.0), HillConfig(1350.0, 1250.0, 100.0, 180.0)]


@dataclass
class AmbientConfig(Validated):
    """Distribution of the ambient wind: ranges (low, high) sampled uniformly per sample."""

    speed: tuple[float, float] = (5.0, 15.0)  # U_ref at reference_height, m/s
    direction: tuple[float, float] = (0.0, 360.0)  # degrees, counter-clockwise from +x
    exponent: tuple[float, float] = (0.1, 0.3)  # power-law exponent a
    reference_height: float = 10.0
    perturbation: float = 0.05  # relative amplitude of the smooth horizontal perturbation
    perturbation_modes: int = 2  # horizontal wavenumbers 0..K in each direction

    def validate(self) -> None:
        for key in ("speed", "direction", "exponent"):
            low, high = getattr(self, key)
            check(low <= high, f"ambient.{key}", "must be (low, high) with low <= high")
        check(self.speed[0] >= 0, "ambient.speed", "must be >= 0")
        check(self.exponent[0] >= 0, "ambient.exponent", "must be >= 0")
        check(self.reference_height > 0, "ambient.reference_height", "must be positive")
        check(self.perturbation >= 0, "ambient.perturbation", "must be >= 0")
        check(self.perturbation_modes >= 1, "ambient.perturbation_modes", "must be >= 1")


@dataclass
class WindConfig(Validated):
    """Configuration of the 3-D wind-field dataset (lengths in metres)."""

    length: tuple[float, float] = (2000.0, 2000.0)
    depth: float = 500.0  # flat top above the lowest ground
    hills: list[HillConfig] = field(default_factory=_default_hills)
    mesh_cells: tuple[int, int, int] = (40, 40, 12)
    vertical_grading: float = 1.5
    alpha_h: float = 1.0
    alpha_v: float = 1.0
    solver_rtol: float = 1e-10  # relative (unpreconditioned) residual of the lambda solve
    solver_max_iterations: int = 500
    grid: tuple[int, int, int] = (32, 32, 8)  # targets: nx, ny, levels
    sensor_height: float | list[float] = 10.0  # masts: metres above ground (a list: one
    # instrument at each height on every mast, as met masts carry them)
    ambient: AmbientConfig = field(default_factory=AmbientConfig)
    sensors: SensorConfig = field(default_factory=lambda: SensorConfig(count=20))
    noise: NoiseConfig = field(default_factory=lambda: NoiseConfig(relative_level=0.02))

    def validate(self) -> None:
        check(min(self.length) > 0, "length", "must be positive")
        check(self.depth > 0, "depth", "must be positive")
        check(min(self.mesh_cells) >= 1, "mesh_cells", "must be >= 1 in every direction")
        check(self.vertical_grading >= 1, "vertical_grading", "must be >= 1")
        check(self.alpha_h > 0, "alpha_h", "must be positive")
        check(self.alpha_v > 0, "alpha_v", "must be positive")
        check(0 < self.solver_rtol < 1, "solver_rtol", "must lie in (0, 1)")
        check(self.solver_max_iterations > 0, "solver_max_iterations", "must be positive")
        check(min(self.grid) >= 1, "grid", "must be >= 1 in every direction")
        heights = self.sensor_heights
        check(bool(heights) and min(heights) > 0, "sensor_height", "must be positive")
        check(len(set(heights)) == len(heights), "sensor_height", "must not repeat a height")

    @property
    def sensor_heights(self) -> list[float]:
        """The instruments' heights above ground on every mast."""
        h = self.sensor_height
        return [float(h)] if isinstance(h, int | float) else [float(v) for v in h]


def terrain_height(hills: list[HillConfig], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Ground height h(x, y) of a sum of Gaussian hills on z = 0."""
    h = np.zeros(np.broadcast(x, y).shape)
    for hill in hills:
        r2 = (x - hill.x) ** 2 + (y - hill.y) ** 2
        h += hill.height * np.exp(-r2 / (2 * hill.width**2))
    return h


class Ambient:
    """The ambient wind of one sample: power-law profile, direction, smooth perturbation."""

    def __init__(self, cfg: AmbientConfig, length: tuple[float, float], rng: np.random.Generator):
        self.cfg, self.length = cfg, length
        self.speed = rng.uniform(*cfg.speed)
        self.direction = np.deg2rad(rng.uniform(*cfg.direction))
        self.exponent = rng.uniform(*cfg.exponent)
        k = cfg.perturbation_modes
        self.modes = np.array(
            [
                (a, b)
                for a, b in itertools.product(range(k + 1), range(-k, k + 1))
                if (a, b) > (0, 0)
            ]
        )
        self.coeffs = rng.standard_normal((2, 2, len(self.modes)))  # component, cos/sin, mode

    def profile(self, z_agl: np.ndarray) -> np.ndarray:
        """U(z_agl) = U_ref (z_agl / z_ref)^a: zero at the ground for a > 0, uniform for a = 0."""
        z = np.maximum(z_agl, 0.0) / self.cfg.reference_height
        return self.speed * z**self.exponent

    def velocity(self, points: np.ndarray, z_agl: np.ndarray) -> np.ndarray:
        """u0 at ``points`` (n, 3) with heights above ground ``z_agl``: (3, n)."""
        prof = self.profile(z_agl)
        out = np.zeros((3, len(points)))
        out[0] = prof * np.cos(self.direction)
        out[1] = prof * np.sin(self.direction)
        if self.cfg.perturbation > 0:
            phase = (
                2
                * np.pi
                * (
                    np.outer(points[:, 0], self.modes[:, 0] / self.length[0])
                    + np.outer(points[:, 1], self.modes[:, 1] / self.length[1])
                )
            )
            basis = np.stack([np.cos(phase), np.sin(phase)])  # (2, n, modes)
            pert = np.einsum("cjm,jnm->cn", self.coeffs, basis) / np.sqrt(2 * len(self.modes))
            out[:2] += self.cfg.perturbation * prof * pert
        return out

    def parameters(self) -> np.ndarray:
        """(U_ref, direction in degrees, exponent)."""
        return np.array([self.speed, np.rad2deg(self.direction), self.exponent])


def tet_gradients(coords: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of the P1 basis per tetrahedron (nc, 4, 3) and the cell volumes (nc,)."""
    grads, det = p1_gradients(coords, cells)
    return grads, det / 6.0


def recovery_operators(
    coords: np.ndarray, cells: np.ndarray
) -> tuple[sp.csr_array, sp.csr_array, sp.csr_array]:
    """Matrices that turn the finite-element velocity u0_h + T grad(lambda_h) into nodal values:

    - P (nc x nv): mean of a P1 field over each cell (the mean of its four vertex values),
    - G (3 nc x nv): cell gradient of a P1 field, rows d * nc + c for component d,
    - R (nv x nc): volume-weighted average over the cells around each vertex.

    The nodal velocity is R (P u0 + T G lambda) per component. Averaging the whole field,
    not u0 and grad(lambda) separately, keeps the two consistent next to the ground, where
    the power-law u0 varies fastest: the normal velocity there is then small (first order in
    h) instead of O(1).
    """
    grads, vol = tet_gradients(coords, cells)
    nv, nc = len(coords), len(cells)
    owner = np.repeat(np.arange(nc), 4)
    P = sp.csr_array((np.full(4 * nc, 0.25), (owner, cells.ravel())), shape=(nc, nv))
    G = sp.csr_array(
        sp.vstack(
            [
                sp.csr_array((grads[:, :, d].ravel(), (owner, cells.ravel())), shape=(nc, nv))
                for d in range(3)
            ]
        )
    )
    weight = np.bincount(cells.ravel(), np.repeat(vol, 4), minlength=nv)
    R = sp.csr_array(
        (np.repeat(vol, 4) / weight[cells.ravel()], (cells.ravel(), owner)), shape=(nv, nc)
    )
    return P, G, R


def weak_divergence_matrix(coords: np.ndarray, cells: np.ndarray) -> sp.csr_array:
    """D (nv x 3 nv): (D u)_i = integral(u_h . grad phi_i) for a P1 vector field u_h whose
    components are stacked (u, v, w). For a divergence-free field tangent to the ground it
    vanishes at every vertex off the open boundary."""
    grads, vol = tet_gradients(coords, cells)
    nv = len(coords)
    rows = np.repeat(cells, 4, axis=1).ravel()  # i (test) repeated for each j (trial)
    cols = np.tile(cells, (1, 4)).ravel()
    blocks = []
    for d in range(3):
        # integral over a cell of phi_j * d phi_i / dx_d = vol / 4 * d phi_i / dx_d
        vals = (vol[:, None] / 4 * grads[:, :, d])[:, :, None].repeat(4, axis=2).ravel()
        blocks.append(sp.csr_array((vals, (rows, cols)), shape=(nv, nv)))
    return sp.csr_array(sp.hstack(blocks))


class WindModel:
    """Terrain-following mesh, the lambda solver and the recovery of nodal velocities."""

    def __init__(self, cfg: WindConfig, comm: MPI.Comm = MPI.COMM_SELF):
        self.cfg = cfg
        Lx, Ly = cfg.length
        nx, ny, nz = cfg.mesh_cells
        # a box of tetrahedra with unit height, bent to the terrain below
        self.mesh = mesh.create_box(
            comm, [np.zeros(3), np.array([Lx, Ly, 1.0])], [nx, ny, nz], mesh.CellType.tetrahedron
        )
        msh = self.mesh
        fdim = msh.topology.dim - 1

        def open_boundary(p: np.ndarray) -> np.ndarray:  # sides and top, in reference coords
            return (
                np.isclose(p[0], 0)
                | np.isclose(p[0], Lx)
                | np.isclose(p[1], 0)
                | np.isclose(p[1], Ly)
                | np.isclose(p[2], 1.0)
            )

        # air may leave through the sides and the top (lambda = 0), not through the ground
        open_facets = mesh.locate_entities_boundary(msh, fdim, open_boundary)
        ground_facets = mesh.locate_entities_boundary(msh, fdim, lambda p: np.isclose(p[2], 0))
        # terrain-following vertical coordinate
        x = msh.geometry.x
        h = terrain_height(cfg.hills, x[:, 0], x[:, 1])  # ground height below every vertex
        self.top = float(h.min()) + cfg.depth
        if self.top <= h.max():
            raise InputError(
                f"depth {cfg.depth:g} puts the top ({self.top:g} m) below the highest ground "
                f"({h.max():g} m)"
            )
        x[:, 2] = h + (self.top - h) * x[:, 2] ** cfg.vertical_grading

        # P1 for the multiplier lambda, vector P1 for the first-guess wind u0
        self.V = V = fem.functionspace(msh, ("Lagrange", 1))
        self.W = fem.functionspace(msh, ("Lagrange", 1, (3,)))
        self.open_dofs = fem.locate_dofs_topological(V, fdim, open_facets)
        self.ground_dofs = np.setdiff1d(
            fem.locate_dofs_topological(V, fdim, ground_facets), self.open_dofs
        )
        # the mass-consistent model: div(T grad lambda) = -div u0 with T = diag(1 / 2 alpha^2),
        # assembled and its Krylov solver set up once (only u0 changes between samples)
        self.T = np.array([0.5 / cfg.alpha_h**2, 0.5 / cfg.alpha_h**2, 0.5 / cfg.alpha_v**2])
        lam, q = ufl.TrialFunction(V), ufl.TestFunction(V)
        Tm = ufl.as_matrix(np.diag(self.T).tolist())
        self.a = fem.form(ufl.inner(Tm * ufl.grad(lam), ufl.grad(q)) * ufl.dx)
        self.u0 = fem.Function(self.W)
        self.L = fem.form(-ufl.inner(self.u0, ufl.grad(q)) * ufl.dx)
        self.bcs = [fem.dirichletbc(0.0, self.open_dofs, V)]
        self.A = fem_petsc.assemble_matrix(self.a, bcs=self.bcs)
        self.A.assemble()
        self.b = fem_petsc.create_vector(V)
        self.lam = fem.Function(V)
        self.ksp = self._krylov_solver(comm)

        # the canonical vertex order and the operators that recover nodal velocities
        self.perm = canonical_permutation(V)
        self.coords, self.cells = mesh_arrays(V, self.perm)
        self.z_agl = self.coords[:, 2] - terrain_height(cfg.hills, *self.coords[:, :2].T)
        self.cell_mean, self.cell_gradient, self.recovery = recovery_operators(
            self.coords, self.cells
        )

    def _krylov_solver(self, comm: MPI.Comm) -> PETSc.KSP:
        ksp = PETSc.KSP().create(comm)
        ksp.setOperators(self.A)
        ksp.setType("cg")
        ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)  # the stated tolerance is real
        ksp.setTolerances(
            rtol=self.cfg.solver_rtol, atol=0.0, max_it=self.cfg.solver_max_iterations
        )
        pc = ksp.getPC()
        pc.setType("gamg")
        # near-null space of the scalar Laplacian: the constants (GAMG's default for bs = 1)
        ksp.setFromOptions()
        pc.setUp()
        return ksp

    def solve(self, u0_nodes: np.ndarray) -> tuple[np.ndarray, int]:
        """lambda (canonical order) for the ambient field (3, nv) given at the vertices, and
        the number of solver iterations."""
        u0 = self.u0.x.array.reshape(-1, 3)
        u0[:] = u0_nodes[:, self.perm].T
        with self.b.localForm() as loc:
            loc.set(0.0)
        fem_petsc.assemble_vector(self.b, self.L)
        self.b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        fem_petsc.set_bc(self.b, self.bcs)  # lambda = 0 on the open boundary
        self.lam.x.array[:] = 0.0  # same initial guess for every sample: rank-invariant
        self.ksp.solve(self.b, self.lam.x.petsc_vec)
        reason = self.ksp.getConvergedReason()
        if reason <= 0:
            raise RuntimeError(
                f"lambda solve did not converge (PETSc reason {reason}, "
                f"{self.ksp.getIterationNumber()} iterations)"
            )
        lam = np.empty(self.perm.size)
        lam[self.perm] = self.lam.x.array
        return lam, self.ksp.getIterationNumber()

    def adjust(self, u0_nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Mass-consistent velocity at the vertices (3, nv), lambda and the iteration count."""
        lam, its = self.solve(u0_nodes)
        grad = (self.cell_gradient @ lam).reshape(3, -1)
        cell_velocity = self.cell_mean @ u0_nodes.T + self.T * grad.T  # (nc, 3)
        return (self.recovery @ cell_velocity).T, lam, its

    def stiffness_csr(self) -> sp.csr_array:
        """The lambda matrix with the Dirichlet rows/columns replaced by identity (canonical)."""
        return petsc_to_csr(self.A, self.perm)


def terrain_grid(cfg: WindConfig, top: float) -> np.ndarray:
    """Target points (nx * ny * levels, 3): cell-centred horizontally, at cell-centred fractions
    of the column between the ground and the top; x fastest, then y, then level."""
    gx, gy, gz = cfg.grid
    Lx, Ly = cfg.length
    xs, ys = (np.arange(gx) + 0.5) / gx * Lx, (np.arange(gy) + 0.5) / gy * Ly
    zeta = (np.arange(gz) + 0.5) / gz
    Z, Y, X = np.meshgrid(zeta, ys, xs, indexing="ij")
    h = terrain_height(cfg.hills, X, Y)
    return np.column_stack([X.ravel(), Y.ravel(), (h + (top - h) * Z).ravel()])


class WindProblem(Problem):
    """Samples (ambient wind ~ configured ranges, mass-consistent field, noisy sensor values)."""

    name = "wind"
    config_class = WindConfig
    nonfinite_hint = "check ambient.speed, the hills and alpha_h / alpha_v"

    @classmethod
    def memory_estimate(cls, config: WindConfig) -> float:
        """About 10 KB per vertex (measured 9 at 80 x 80 x 24: AMG hierarchy, recovery)."""
        nx, ny, nz = config.mesh_cells
        return 1e4 * (nx + 1) * (ny + 1) * (nz + 1) + 100.0 * float(np.prod(config.grid))

    def __init__(self, config: WindConfig):
        super().__init__(config)
        cfg = config
        self.model = model = WindModel(cfg)
        Lx, Ly = cfg.length
        horizontal = sensor_points(cfg.sensors, np.zeros(2), np.array([Lx, Ly]))
        if np.any(horizontal < 0) or np.any(horizontal > [Lx, Ly]):
            raise InputError("sensors.points must lie inside the horizontal domain")
        ground = terrain_height(cfg.hills, *horizontal.T)
        heights = cfg.sensor_heights
        if np.any(ground + max(heights) >= model.top):
            raise InputError("sensor_height puts a sensor above the top of the domain")
        self.points = np.vstack(  # every mast at the first height, then at the next, ...
            [np.column_stack([horizontal, ground + h]) for h in heights]
        )
        self.B = evaluation_matrix(model.mesh, model.coords, model.cells, self.points)
        self.grid_points = terrain_grid(cfg, model.top)
        self.grid_matrix = evaluation_matrix(
            model.mesh, model.coords, model.cells, self.grid_points
        )

    def sample_fields(self) -> dict[str, tuple[tuple[int, ...], str]]:
        ns, ng = len(self.points), len(self.grid_points)
        return {
            "inputs": ((3 * ns,), "f8"),
            "targets": ((3 * ng,), "f8"),
            "obs_clean": ((3 * ns,), "f8"),
            "speed_grid": ((ng,), "f8"),
            "ambient": ((3,), "f8"),
            "iterations": ((), "f8"),
            "noise_std": ((), "f8"),
        }

    def sample(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        model = self.model
        ambient = Ambient(self.config.ambient, self.config.length, rng)
        u0 = ambient.velocity(model.coords, model.z_agl)
        u, _, its = model.adjust(u0)
        clean = (self.B @ u.T).T.ravel()  # component-major: u at all sensors, then v, then w
        grid = (self.grid_matrix @ u.T).T
        noisy, std = add_noise(clean, self.config.noise, rng)
        return {
            "inputs": noisy,
            "targets": grid.ravel(),
            "obs_clean": clean,
            "speed_grid": np.sqrt((grid**2).sum(axis=0)),
            "ambient": ambient.parameters(),
            "iterations": float(its),
            "noise_std": std,
        }

    def metadata(self) -> dict:
        cfg, model = self.config, self.model
        gx, gy, gz = cfg.grid
        layout = "component-major (u, v, w); each over the points, x fastest, then y, then level"
        return {
            "description": "3-D wind over terrain (mass-consistent model): inputs = noisy "
            "(u, v, w) at sensor masts, targets = (u, v, w) on a terrain-following grid",
            "mesh": {
                "coordinates": model.coords,
                "cells": model.cells,
                "cell_type": "tetrahedron",
                "top": model.top,
                "vertical_grading": cfg.vertical_grading,
            },
            "terrain": {
                "hills": np.array([[h.x, h.y, h.height, h.width] for h in cfg.hills]).reshape(
                    -1, 4
                ),
                "columns": "x, y, height, width (Gaussian std)",
                "length": np.asarray(cfg.length),
            },
            "observation": {
                "points": self.points,
                "matrix": self.B,
                "observed": "velocity",
                "components": ",".join(COMPONENTS),
                "layout": layout,
                "height_above_ground": cfg.sensor_height
                if len(cfg.sensor_heights) == 1
                else np.asarray(cfg.sensor_heights),
                "linear": True,  # clean observations are linear in the field the targets sample
            },
            "grid": {
                "points": self.grid_points,
                "matrix": self.grid_matrix,
                "shape": np.array([gz, gy, gx]),
                "layout": layout,
            },
            "noise": cfg.noise.metadata(),
            "prior": {
                "kind": "power_law_ambient_wind",
                "description": "u0 = U_ref (z_agl / z_ref)^a (cos theta, sin theta, 0) "
                "(1 + smooth perturbation of the horizontal components); U_ref, theta, a "
                "uniform in the ranges; samples/ambient holds (U_ref, theta in degrees, a)",
                "speed": np.asarray(cfg.ambient.speed),
                "direction_degrees": np.asarray(cfg.ambient.direction),
                "exponent": np.asarray(cfg.ambient.exponent),
                "reference_height": cfg.ambient.reference_height,
                "perturbation": cfg.ambient.perturbation,
                "perturbation_modes": cfg.ambient.perturbation_modes,
            },
            "operators": {
                "kind": "mass_consistent_p1",
                "equation": "stiffness lambda = -divergence u0 on free dofs, lambda = 0 on "
                "dirichlet_dofs (u0 at the vertices, components stacked); the field "
                "u0 + T grad lambda then has zero weak divergence off dirichlet_dofs (no flow "
                "through the ground included); nodal velocity per component d: "
                "recovery (cell_mean u0_d + T_d cell_gradient[d] lambda)",
                "T": model.T,
                "alpha_h": cfg.alpha_h,
                "alpha_v": cfg.alpha_v,
                "solver": "cg + gamg",
                "solver_rtol": cfg.solver_rtol,
                "stiffness": model.stiffness_csr(),
                "divergence": weak_divergence_matrix(model.coords, model.cells),
                "cell_mean": model.cell_mean,
                "cell_gradient": model.cell_gradient,
                "recovery": model.recovery,
                "dirichlet_dofs": np.sort(model.perm[model.open_dofs]),
                "ground_dofs": np.sort(model.perm[model.ground_dofs]),
            },
        }
