"""Heat problem: discretization accuracy, and that the file alone reproduces FEniCSx's states."""

from __future__ import annotations

from mpi4py import MPI
from dolfinx import fem
import h5py
from matplotlib.tri import LinearTriInterpolator, Triangulation
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import ufl

from pde_data.heat import HeatModel
from sciml_grow.format import open_file, read_csr


def _manufactured(n: int) -> tuple[float, float]:
    """L2 and H1-seminorm errors for y = sin(pi x) sin(pi y / 2), m = 0.5 sin(2 pi x) cos(pi y).

    y vanishes on x = 0, x = 1, y = 0 and has zero normal derivative on y = 1, as the model's
    boundary conditions require; f = -div(exp(m) grad y) is formed symbolically.
    """

    def exact(msh):
        x = ufl.SpatialCoordinate(msh)
        return ufl.sin(ufl.pi * x[0]) * ufl.sin(ufl.pi * x[1] / 2), 0.5 * ufl.sin(
            2 * ufl.pi * x[0]
        ) * ufl.cos(ufl.pi * x[1])

    def source(msh):
        y, m = exact(msh)
        return -ufl.div(ufl.exp(m) * ufl.grad(y))

    model = HeatModel(n, source=source, quadrature_degree=6)
    y_ex, m_ex = exact(model.mesh)
    expr = fem.Expression(m_ex, model.V.element.interpolation_points)
    m = fem.Function(model.V)
    m.interpolate(expr)
    model.solve(m.x.array)
    dx = ufl.Measure("dx", metadata={"quadrature_degree": 8})
    e = model.y - y_ex
    l2 = fem.assemble_scalar(fem.form(e**2 * dx))
    h1 = fem.assemble_scalar(fem.form(ufl.inner(ufl.grad(e), ufl.grad(e)) * dx))
    return float(np.sqrt(l2)), float(np.sqrt(h1))


def test_manufactured_solution_converges_at_expected_rates():
    sizes = [8, 16, 32, 64]
    errors = np.array([_manufactured(n) for n in sizes])
    rates = np.log2(errors[:-1] / errors[1:])
    assert np.all(rates[:, 0] > 1.9), f"L2 rates {rates[:, 0]}"  # P1: O(h^2) in L2
    assert np.all(rates[:, 1] > 0.95), f"H1 rates {rates[:, 1]}"  # and O(h) in H1
    assert errors[-1, 0] < 1e-3


def rebuild_states(path) -> tuple[np.ndarray, np.ndarray]:
    """Solve the state equation for every stored m from the file's operators alone (scipy)."""
    with open_file(path) as f:
        ops = f["operators"]
        cells = f["mesh/cells"][()]
        basis = ops["quadrature_basis"][()]  # (nq, 3)
        weights = ops["quadrature_weights"][()]
        G = ops["cell_gradient_products"][()]  # (nc, 3, 3)
        load = ops["load"][()]
        robin = read_csr(ops, "robin_matrix")
        fixed = ops["dirichlet_dofs"][()]
        m_all, y_file = f["targets"][()], f["samples/state"][()]
    n = load.size
    free = np.setdiff1d(np.arange(n), fixed)
    rows = np.repeat(cells, 3, axis=1).ravel()
    cols = np.tile(cells, (1, 3)).ravel()
    states = np.zeros_like(y_file)
    for s, m in enumerate(m_all):
        k = np.exp(m[cells] @ basis.T) @ weights  # per-cell integral weight of exp(m)
        K = sp.csr_array(((k[:, None, None] * G).ravel(), (rows, cols)), shape=(n, n)) + robin
        states[s, free] = spla.spsolve(K[free][:, free].tocsc(), load[free])
    return states, y_file


@pytest.mark.parametrize("which", ["heat_file", "heat_robin_file"])
def test_file_alone_reproduces_fenics_states(which, request):
    states, y_file = rebuild_states(request.getfixturevalue(which))
    rel = np.linalg.norm(states - y_file, axis=1) / np.linalg.norm(y_file, axis=1)
    assert rel.max() < 1e-10, rel.max()


def test_robin_condition_lowers_the_temperature(heat_file, heat_robin_file):
    """Robin lets heat leave through the top side: with the same m the state is lower there."""
    with h5py.File(heat_robin_file) as f:
        m = f["targets"][0]
        cfg_n = f["mesh/coordinates"].shape[0]
    neumann = HeatModel(12, top_boundary="neumann")
    robin = HeatModel(12, top_boundary="robin", robin_coefficient=2.5)
    from pde_data.fem import canonical_permutation

    perm = canonical_permutation(neumann.V)
    assert perm.size == cfg_n
    y_n, y_r = neumann.solve(m[perm]), robin.solve(m[perm])
    assert np.all(y_r <= y_n + 1e-12) and (y_n - y_r).max() > 1e-2


def test_observations_are_the_state_at_the_sensors(heat_file):
    with open_file(heat_file) as f:
        B = read_csr(f["observation"], "matrix")
        points = f["observation/points"][()]
        coords, cells = f["mesh/coordinates"][()], f["mesh/cells"][()]
        state, clean = f["samples/state"][()], f["samples/obs_clean"][()]
    np.testing.assert_allclose(state @ B.T, clean, rtol=1e-12, atol=1e-12)
    tri = Triangulation(coords[:, 0], coords[:, 1], cells)  # independent P1 interpolation
    for y, obs in zip(state[:5], clean[:5], strict=True):
        interp = LinearTriInterpolator(tri, y)(points[:, 0], points[:, 1])
        np.testing.assert_allclose(np.asarray(interp), obs, rtol=1e-10, atol=1e-12)
    assert np.all((points > 0) & (points < 1)) and len(points) == 10


def test_noise_has_the_stated_level(heat_file):
    with open_file(heat_file) as f:
        noisy, clean = f["inputs"][()], f["samples/obs_clean"][()]
        std = f["samples/noise_std"][()]
        level = f["noise"].attrs["relative_level"]
    np.testing.assert_allclose(std, level * np.abs(clean).max(axis=1), rtol=1e-12)
    z = ((noisy - clean) / std[:, None]).ravel()  # should be standard normal
    se = 1 / np.sqrt(z.size)
    assert abs(z.mean()) < 4 * se and abs(z.std() - 1) < 4 * se * np.sqrt(0.5) + 0.02


def test_mesh_order_is_the_canonical_lexicographic_one(heat_file):
    with open_file(heat_file) as f:
        coords = f["mesh/coordinates"][()]
    n = 9  # the fixture's 8 x 8 cells
    grid = np.stack(np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n)), -1).reshape(-1, 2)
    np.testing.assert_allclose(coords, grid, atol=1e-14)


def test_model_runs_on_comm_self_only():
    model = HeatModel(4)
    assert model.mesh.comm.size == 1 and MPI.COMM_SELF.size == 1
