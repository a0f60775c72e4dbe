"""Navier–Stokes vorticity solver: exact decay, convergence, enstrophy, and the dataset."""

from __future__ import annotations

import shutil

from mpi4py import MPI  # noqa: F401  (before dolfinx)
from dolfinx import fem
import h5py
import numpy as np
import pytest
import ufl

from pde_data.fem import canonical_permutation, locate_points, to_canonical
from pde_data.generate import generate
from pde_data.navier_stokes import SinePriorConfig, VorticityModel, sine_series
from sciml_grow.format import read_csr

NU, T = 0.05, 0.5


def decay_error(n: int, steps: int) -> tuple[float, np.ndarray, VorticityModel]:
    """Max error against exp(-nu pi^2 (k^2 + l^2) t) for the (1, 2) sine mode, no advection."""
    model = VorticityModel(n, nu=NU, dt=T / steps, steps=steps, forcing=0.0, advection=False)
    x = model.V.tabulate_dof_coordinates()
    w0 = np.sin(np.pi * x[:, 0]) * np.sin(2 * np.pi * x[:, 1])
    wT = model.run(w0)
    return float(np.abs(wT - np.exp(-NU * np.pi**2 * 5 * T) * w0).max()), wT, model


def test_sine_modes_decay_at_the_exact_rate_with_second_order_in_space():
    errors = [decay_error(n, 200)[0] for n in (8, 16, 32)]
    rates = np.log2(np.array(errors[:-1]) / errors[1:])
    assert np.all(rates > 1.9), (errors, rates)


def test_crank_nicolson_is_second_order_in_time():
    sols = [decay_error(16, steps)[1] for steps in (5, 10, 20, 40)]
    diffs = [np.abs(a - b).max() for a, b in zip(sols[:-1], sols[1:], strict=True)]
    rates = np.log2(np.array(diffs[:-1]) / diffs[1:])
    assert np.all(rates > 1.9), (diffs, rates)


def random_w0(model: VorticityModel, scale: float, seed: int = 0) -> np.ndarray:
    cfg = SinePriorConfig(modes=8)
    coeffs = cfg.coefficient_std() * np.random.default_rng(seed).standard_normal((8, 8))
    return scale * sine_series(coeffs, model.V.tabulate_dof_coordinates()[:, :2])


def test_enstrophy_never_increases_without_forcing():
    model = VorticityModel(24, nu=1e-3, dt=0.05, steps=60, forcing=0.0)
    w0 = random_w0(model, scale=20.0)  # strong advection: max |v| of order 1
    mass = fem.form(model.w * model.w * ufl.dx)
    values = [None]

    def record(step: int) -> None:
        values.append(fem.assemble_scalar(mass))

    model.w.x.array[:] = w0
    values[0] = fem.assemble_scalar(mass)
    model.run(w0, on_step=record)
    values = np.array(values)
    assert np.all(np.diff(values) <= 1e-12 * values[0]), np.diff(values).max()
    assert values[-1] < values[0]


def test_nonlinear_problem_self_converges():
    points = np.array([[(i + 1) / 8, (j + 1) / 8] for i in range(7) for j in range(7)])
    pts3 = np.column_stack([points, np.zeros(len(points))])
    finals = []
    for n in (16, 32, 64):
        model = VorticityModel(n, nu=1e-3, dt=0.4 / n, steps=n // 4, forcing=0.1)  # T = 0.1
        model.run(random_w0(model, scale=20.0, seed=3))
        finals.append(model.w.eval(pts3, locate_points(model.mesh, points))[:, 0])
    e1, e2 = np.abs(finals[0] - finals[1]).max(), np.abs(finals[1] - finals[2]).max()
    assert e1 / e2 > 3.0, (e1, e2)


def test_operator_stepping_equals_the_ufl_forms_assembled_every_step():
    """The generator's step (numpy operators, BiCGSTAB, sine-transform Poisson) against the
    independent one (UFL forms assembled each step, GMRES + ILU, LU), with strong advection
    (max |v| of order 1) and the forcing, in canonical vertex order."""
    finals = []
    for stepping in ("operators", "forms"):
        model = VorticityModel(16, nu=1e-3, dt=0.02, steps=40, forcing=0.1, stepping=stepping)
        perm = canonical_permutation(model.V)
        finals.append(to_canonical(model.run(random_w0(model, scale=20.0, seed=1)), perm))
    scale = np.abs(finals[1]).max()
    assert scale > 1.0
    assert np.abs(finals[0] - finals[1]).max() < 1e-10 * scale


def test_grid_poisson_equals_the_sparse_lu_and_is_used_only_on_a_grid():
    from sciml_grow.operators.vorticity_scheme import GridPoisson, SparseLU

    model = VorticityModel(12, steps=1)
    scheme = model.scheme
    assert isinstance(scheme.poisson, GridPoisson)
    r = np.random.default_rng(0).standard_normal(scheme.free.size)
    np.testing.assert_allclose(scheme.poisson(r), SparseLU(scheme.K)(r), rtol=1e-11, atol=1e-13)
    points = model.V.tabulate_dof_coordinates()[scheme.free, :2]
    assert GridPoisson.detect(points, scheme.K) is not None
    moved = points.copy()
    moved[5] += 1e-3  # not a uniform grid
    assert GridPoisson.detect(moved, scheme.K) is None
    other = scheme.K + 1e-3 * scheme.M  # not the 5-point Laplacian
    assert GridPoisson.detect(points, other) is None
    with pytest.raises(ValueError, match="stepping"):
        VorticityModel(4, steps=1, stepping="explicit")


@pytest.fixture(scope="module")
def ns_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ns") / "ns.h5"
    cfg = {"mesh_cells": 16, "grid": 8, "prior": {"modes": 8}, "final_time": 0.5, "time_step": 0.05}
    generate("navier_stokes", 6, path, seed=2, config=cfg, progress=False)
    return path, cfg


def test_dataset_contents_are_consistent(ns_file):
    path, _ = ns_file
    with h5py.File(path) as f:
        assert f["inputs"].shape == (6, 49) and f["targets"].shape == (6, 64)
        w0_vertices = f["samples/w0_vertices"][()]
        coords = f["mesh/coordinates"][()]
        std = f["prior/coefficient_std"][()]
        grid_matrix = read_csr(f["grid"], "matrix")
        clean, noisy = f["samples/obs_clean"][()], f["inputs"][()]
        # targets are the same random field as the vertex values, evaluated on the grid:
        # P1 interpolation of the vertex values approximates it to the mesh's accuracy
        err = np.abs(w0_vertices @ grid_matrix.T - f["targets"][()]).max()
        assert err < 0.05 * np.abs(f["targets"][()]).max()
        assert std.shape == (8, 8)
        assert np.allclose(w0_vertices[:, np.isclose(coords[:, 0], 0)], 0, atol=1e-12)
    rel = np.abs(noisy - clean).max(axis=1) / np.abs(clean).max(axis=1)
    assert np.all(rel < 0.05) and np.all(rel > 0)


@pytest.mark.mpi
def test_navier_stokes_file_is_the_same_on_two_ranks(ns_file, tmp_path):
    from .conftest import run_cli

    path, cfg = ns_file
    args = [
        "generate",
        "navier_stokes",
        "--samples",
        "6",
        "--seed",
        "2",
        "--no-progress",
        "--out",
        str(tmp_path / "p2.h5"),
        "--set",
        "mesh_cells=16",
        "--set",
        "grid=8",
        "--set",
        "prior.modes=8",
        "--set",
        "final_time=0.5",
        "--set",
        "time_step=0.05",
    ]
    r = run_cli(*args, ranks=2)
    assert r.returncode == 0, r.stderr
    with h5py.File(path) as a, h5py.File(tmp_path / "p2.h5") as b:
        for key in ("inputs", "targets", "samples/w0_vertices"):
            assert np.array_equal(a[key][()], b[key][()]), key


def all_datasets(path) -> dict[str, np.ndarray]:
    """Every per-sample array of a file (inputs, targets and everything under samples/)."""
    with h5py.File(path) as f:
        names = ["inputs", "targets", *(f"samples/{k}" for k in f["samples"])]
        return {k: f[k][()] for k in names}


@pytest.mark.mpi
@pytest.mark.slow
def test_default_settings_are_bitwise_the_same_for_any_run_rank_count_and_resume(tmp_path):
    """At the default mesh (64 x 64, 250 steps). (When the step was GMRES with classical
    Gram-Schmidt, one process in three computed w(T) differently in the last bits: its
    multi-dot product; every step is now sequential arithmetic in a fixed order.)"""
    from .conftest import run_cli

    args = ["generate", "navier_stokes", "--samples", "3", "--seed", "5", "--no-progress"]
    paths = {name: tmp_path / f"{name}.h5" for name in ("one", "again", "two")}
    for name, ranks in (("one", None), ("again", None), ("two", 2)):
        r = run_cli(*args, "--out", str(paths[name]), ranks=ranks)
        assert r.returncode == 0, r.stderr
    resumed = tmp_path / "resumed.h5"  # as if killed after sample 0: samples 1, 2 redone
    shutil.copy(paths["one"], resumed)
    with h5py.File(resumed, "r+") as f:
        f["samples/done"][1:] = 0
        f["targets"][1:] = np.nan
        f.attrs["complete"] = False
    r = run_cli(*args, "--out", str(resumed))
    assert r.returncode == 0, r.stderr
    reference = all_datasets(paths["one"])
    assert {"samples/wT_grid", "samples/w0_vertices", "samples/obs_clean"} <= set(reference)
    for other in (paths["again"], paths["two"], resumed):
        data = all_datasets(other)
        assert data.keys() == reference.keys()
        for key, values in reference.items():
            assert np.array_equal(values, data[key]), (other.name, key)


def test_stored_operators_reproduce_the_linear_stokes_map(tmp_path):
    """Without advection the stepper is linear; the file's mass, stiffness and forcing alone
    (scipy) reproduce FEniCSx's w(T) on the grid."""
    import scipy.sparse.linalg as spla

    path = tmp_path / "stokes.h5"
    cfg = {
        "mesh_cells": 8,
        "grid": 4,
        "prior": {"modes": 4},
        "final_time": 0.2,
        "time_step": 0.05,
        "advection": False,
        "nu": 0.05,
    }
    generate("navier_stokes", 2, path, seed=0, config=cfg, progress=False)
    with h5py.File(path) as f:
        ops = f["operators"]
        M, K = read_csr(ops, "mass"), read_csr(ops, "stiffness")
        forcing, fixed = ops["forcing"][()], ops["dirichlet_dofs"][()]
        nu, dt, steps = (ops.attrs[k] for k in ("nu", "dt", "steps"))
        w0, wT_grid = f["samples/w0_vertices"][()], f["samples/wT_grid"][()]
        G = read_csr(f["grid"], "matrix")
    free = np.setdiff1d(np.arange(M.shape[0]), fixed)
    lhs = (M + 0.5 * dt * nu * K)[free][:, free].tocsc()
    rhs = (M - 0.5 * dt * nu * K)[free][:, free]
    for s in range(2):
        w = w0[s][free]
        for _ in range(int(steps)):
            w = spla.spsolve(lhs, rhs @ w + dt * forcing[free])
        full = np.zeros(M.shape[0])
        full[free] = w
        np.testing.assert_allclose(G @ full, wT_grid[s], rtol=1e-9, atol=1e-12)


def test_torch_forward_reproduces_fenicsx_final_vorticity(ns_file):
    """The torch re-run of the stored scheme (no FEniCSx in it) against the generator's w(T),
    from the vertex values and from the grid targets (through the sine coefficients)."""
    import torch

    from sciml_grow.inverse.forward import load_forward

    path, _ = ns_file
    forward = load_forward(path)
    with h5py.File(path) as f:
        w0 = torch.from_numpy(f["samples/w0_vertices"][()])
        targets = torch.from_numpy(f["targets"][()])
        clean, wT_grid = f["samples/obs_clean"][()], f["samples/wT_grid"][()]
        G = read_csr(f["grid"], "matrix")
    with torch.no_grad():
        wT = forward.inner(w0).numpy()
        from_targets = forward.observe(targets).numpy()
    scale = np.abs(wT_grid).max()
    assert np.abs(wT @ G.T - wT_grid).max() < 1e-9 * scale
    assert np.abs(wT @ forward.inner.B.numpy().T - clean).max() < 1e-9 * scale
    assert np.abs(from_targets - clean).max() < 1e-9 * scale


def test_torch_forward_gradient_is_the_discrete_adjoint(ns_file):
    """Directional derivative of J = <c, w(T)> by the adjoint against central differences:
    the difference falls as eps^2 (the map is smooth) down to 1e-9 relative."""
    import torch

    from sciml_grow.inverse.forward import load_forward

    path, _ = ns_file
    inner = load_forward(path).inner
    with h5py.File(path) as f:
        w0 = torch.from_numpy(f["samples/w0_vertices"][:1]) * 20  # strong advection
    rng = np.random.default_rng(0)
    c = torch.from_numpy(rng.standard_normal((1, inner.n)))
    d = torch.zeros(1, inner.n, dtype=torch.float64)
    d[:, inner.free] = torch.from_numpy(rng.standard_normal((1, inner.free.size)))
    x = w0.clone().requires_grad_(True)
    (inner(x) * c).sum().backward()
    exact = float((x.grad * d).sum())

    def fd(eps: float) -> float:
        with torch.no_grad():
            plus, minus = ((inner(w0 + s * eps * d) * c).sum() for s in (1, -1))
        return float(plus - minus) / (2 * eps)

    errors = [abs(fd(eps) - exact) / abs(exact) for eps in (1e-3, 1e-4)]
    assert errors[1] < 1e-8 and errors[0] / errors[1] > 30, errors


def test_vorticity_map_is_an_optimum_and_beats_the_prior_mean(ns_file):
    """4D-Var MAP on a test sample: its objective is no higher than the truth's (it
    minimizes it) and its error is below the prior mean's (zero field: error 1)."""
    import torch

    from sciml_grow.data.dataset import DataConfig, Dataset, relative_errors
    from sciml_grow.inverse.forward import load_forward
    from sciml_grow.inverse.references import VorticityMapReference, reference_for

    path, _ = ns_file
    assert reference_for(path) is VorticityMapReference
    data = Dataset(path, DataConfig(val_fraction=0.2, test_fraction=0.2))
    idx = data.splits["test"][:1]
    ref = VorticityMapReference(data)
    estimate = torch.from_numpy(ref.estimate(idx))
    assert float(relative_errors(estimate, data.y[idx])[0]) < 0.9
    forward = load_forward(path)
    noise = data.noise_std[idx]

    def objective(t: torch.Tensor) -> float:
        xi = t @ forward.to_coefficients
        with torch.no_grad():
            misfit = ((forward.observe(t) - data.x[idx]) / noise[:, None]) ** 2
        return float(0.5 * (misfit.sum() + (xi**2).sum()))

    assert objective(estimate) <= objective(data.y[idx]) + 1e-9
