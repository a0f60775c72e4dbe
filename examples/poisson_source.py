"""Bring your own PDE: a Poisson source-inversion problem defined outside the package.

    -laplace(u) = f  in the unit square,  u = 0 on the boundary,

with the source f unknown: a random sine series. The inputs are noisy values of u at sensors,
the targets f at the mesh vertices. This file is all a user writes; the toolkit's writer gives
it MPI spreading, rank invariance, resume, progress and bad-input handling:

    mpiexec -n 2 sciml-grow generate examples/poisson_source.py:PoissonSource \\
        --samples 200 --out poisson.h5 --set mesh_cells=24
    sciml-grow generate my_package.my_module:PoissonSource ...   # from an importable module

or register it for a short name in the user's own ``pyproject.toml``::

    [project.entry-points."sciml_grow.problems"]
    poisson_source = "my_package.my_module:PoissonSource"

A problem is physics only (see :class:`pde_data.problem.Problem`): a validated config
dataclass, the per-sample arrays it produces, its static metadata and one sample from its
random stream. The solver is built once per rank on MPI.COMM_SELF.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mpi4py import MPI  # before dolfinx
from dolfinx import fem, mesh
from dolfinx.fem import petsc as fem_petsc
import numpy as np
from petsc4py import PETSc
import ufl

from pde_data.fem import (
    canonical_permutation,
    evaluation_matrix,
    lu_solver,
    mesh_arrays,
    to_canonical,
)
from pde_data.observe import NoiseConfig, SensorConfig, add_noise, sensor_points
from pde_data.problem import Problem
from sciml_grow.config import Validated, check


@dataclass
class PoissonSourceConfig(Validated):
    """What a user may set with --set key=value (checked when built)."""

    mesh_cells: int = 16  # cells per side (2 triangles each)
    modes: int = 4  # f = sum_{k,l <= modes} xi_kl sin(k pi x) sin(l pi y) / (k^2 + l^2)
    sensors: SensorConfig = field(default_factory=lambda: SensorConfig(count=16))
    noise: NoiseConfig = field(default_factory=lambda: NoiseConfig(relative_level=0.01))

    def validate(self) -> None:
        check(2 <= self.mesh_cells <= 512, "mesh_cells", "must lie in 2..512")
        check(1 <= self.modes <= 32, "modes", "must lie in 1..32")


class PoissonSource(Problem):
    """Samples (f ~ random sine series, u = solution, noisy u at sensors)."""

    name = "poisson_source"
    config_class = PoissonSourceConfig

    def __init__(self, config: PoissonSourceConfig):
        super().__init__(config)
        # the mesh and P1 space, on this rank alone: samples, not meshes, are spread
        msh = mesh.create_unit_square(MPI.COMM_SELF, config.mesh_cells, config.mesh_cells)
        self.V = fem.functionspace(msh, ("Lagrange", 1))
        # vertex order fixed by the mesh, not by dolfinx's dof numbering
        self.perm = canonical_permutation(self.V)
        self.coords, self.cells = mesh_arrays(self.V, self.perm)
        # u = 0 on the whole boundary
        facets = mesh.locate_entities_boundary(msh, 1, lambda x: np.full(x.shape[1], True))
        dofs = fem.locate_dofs_topological(self.V, 1, facets)
        self.bcs = [fem.dirichletbc(0.0, dofs, self.V)]
        # the stiffness matrix does not depend on the sample: factorize it once
        u, v = ufl.TrialFunction(self.V), ufl.TestFunction(self.V)
        self.f = fem.Function(self.V)
        self.a = fem.form(ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx)
        self.L = fem.form(self.f * v * ufl.dx)
        A = fem_petsc.assemble_matrix(self.a, bcs=self.bcs)
        A.assemble()
        self.ksp = lu_solver(A)
        self.u = fem.Function(self.V)
        # sensors and the P1 point-evaluation matrix B (canonical vertex order)
        self.points = sensor_points(config.sensors, np.zeros(2), np.ones(2))
        self.B = evaluation_matrix(msh, self.coords, self.cells, self.points)
        # the source's sine modes at the vertices, and their prior scales
        k = np.arange(1, config.modes + 1)
        x, y = self.coords[:, 0], self.coords[:, 1]
        self.modes = np.einsum("kn,ln->kln", np.sin(np.pi * k[:, None] * x), np.sin(
            np.pi * k[:, None] * y
        )).reshape(-1, len(x))  # fmt: skip
        self.scales = (1.0 / (k[:, None] ** 2 + k[None, :] ** 2)).reshape(-1)

    def sample_fields(self) -> dict[str, tuple[tuple[int, ...], str]]:
        nv, ns = len(self.coords), len(self.points)
        return {
            "inputs": ((ns,), "f8"),
            "targets": ((nv,), "f8"),
            "obs_clean": ((ns,), "f8"),
            "state": ((nv,), "f8"),
            "noise_std": ((), "f8"),
        }

    def sample(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        f = (rng.standard_normal(len(self.scales)) * self.scales) @ self.modes
        self.f.x.array[:] = f[self.perm]  # canonical vertex order -> dof order
        b = fem_petsc.assemble_vector(self.L)
        fem_petsc.apply_lifting(b, [self.a], [self.bcs])
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        fem_petsc.set_bc(b, self.bcs)
        self.ksp.solve(b, self.u.x.petsc_vec)
        b.destroy()
        state = to_canonical(self.u.x.array, self.perm)
        clean = self.B @ state
        noisy, std = add_noise(clean, self.config.noise, rng)
        return {"inputs": noisy, "targets": f, "obs_clean": clean, "state": state, "noise_std": std}

    def metadata(self) -> dict:
        return {
            "description": "Poisson source inversion: -laplace(u) = f, u = 0 on the boundary; "
            "inputs = noisy u at sensors, targets = f at mesh vertices",
            "mesh": {"coordinates": self.coords, "cells": self.cells, "cell_type": "triangle"},
            "observation": {
                "points": self.points,
                "matrix": self.B,
                "observed": "state",
                "linear": True,  # u is linear in f: the POD least-squares reference applies
            },
            "noise": self.config.noise.metadata(),
            "prior": {
                "kind": "sine_series",
                "description": "f = sum xi_kl sin(k pi x) sin(l pi y) / (k^2 + l^2)",
                "modes": self.config.modes,
            },
        }
