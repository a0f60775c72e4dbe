"""3-D mass-consistent wind: exact cases, conservation, no penetration, the speed-up over a
hill, and the dataset file (rebuilt from its stored operators alone, rank-invariant)."""

from __future__ import annotations

from mpi4py import MPI  # noqa: F401  (before dolfinx)
import h5py
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from pde_data.generate import GenerationError, generate
from pde_data.wind import (
    Ambient,
    WindConfig,
    WindModel,
    terrain_height,
    tet_gradients,
    weak_divergence_matrix,
)
from sciml_grow.config import ConfigError, from_dict
from sciml_grow.format import read_csr

from .conftest import run_cli

STEADY = {"perturbation": 0.0, "direction": [0.0, 0.0], "speed": [10.0, 10.0]}


def model_and_ambient(exponent: float, **cfg: object) -> tuple[WindModel, np.ndarray]:
    """A model and the ambient field at its vertices (wind along +x, no perturbation)."""
    config = from_dict(WindConfig, {"ambient": {**STEADY, "exponent": [exponent] * 2}, **cfg})
    model = WindModel(config)
    ambient = Ambient(config.ambient, config.length, np.random.default_rng(0))
    return model, ambient.velocity(model.coords, model.z_agl)


def node_sets(model: WindModel) -> tuple[np.ndarray, np.ndarray]:
    """Interior vertices and ground vertices (canonical ids; neither on the open boundary)."""
    ground = model.perm[model.ground_dofs]
    fixed = model.perm[model.open_dofs]
    interior = np.setdiff1d(np.arange(len(model.coords)), np.union1d(ground, fixed))
    return interior, ground


def ground_normals(model: WindModel, points: np.ndarray) -> np.ndarray:
    """Unit normals (3, n) of the exact terrain at ``points`` (central differences)."""
    hills, e = model.cfg.hills, 1e-3
    x, y = points[:, 0], points[:, 1]
    hx = (terrain_height(hills, x + e, y) - terrain_height(hills, x - e, y)) / (2 * e)
    hy = (terrain_height(hills, x, y + e) - terrain_height(hills, x, y - e)) / (2 * e)
    n = np.stack([-hx, -hy, np.ones_like(hx)])
    return n / np.linalg.norm(n, axis=0)


def test_flat_ground_and_uniform_wind_need_no_adjustment():
    model, u0 = model_and_ambient(0.0, hills=[], mesh_cells=[8, 8, 4])
    u, lam, _ = model.adjust(u0)
    assert np.abs(lam).max() < 1e-8
    np.testing.assert_allclose(u, u0, atol=1e-9 * 10.0)


def test_adjusted_field_is_weakly_divergence_free_and_tangent_to_the_ground():
    """integral((u0 + T grad lambda) . grad phi_i) = 0 at every vertex off the open boundary,
    with the divergence and stiffness matrices assembled independently of FEniCSx (numpy)."""
    model, u0 = model_and_ambient(0.2, mesh_cells=[16, 16, 6])
    lam, _ = model.solve(u0)
    D = weak_divergence_matrix(model.coords, model.cells)
    grads, vol = tet_gradients(model.coords, model.cells)
    local = np.einsum("c,cid,d,cjd->cij", vol, grads, model.T, grads)
    rows = np.repeat(model.cells, 4, axis=1).ravel()
    cols = np.tile(model.cells, (1, 4)).ravel()
    A = sp.csr_array((local.ravel(), (rows, cols)))
    before = D @ u0.ravel()
    after = before + A @ lam
    for nodes in node_sets(model):
        ratio = np.linalg.norm(after[nodes]) / np.linalg.norm(before[nodes])
        assert ratio < 10 * model.cfg.solver_rtol, ratio


def test_normal_velocity_at_the_ground_vanishes_at_first_order():
    """Uniform wind over the hills crosses their slopes; the adjusted nodal field does not,
    up to a discretization error that halves with the mesh size."""
    ratios = []
    for n in (10, 20, 40):
        model, u0 = model_and_ambient(0.0, mesh_cells=[n, n, max(2, 3 * n // 10)])
        u, _, _ = model.adjust(u0)
        _, ground = node_sets(model)
        normal = ground_normals(model, model.coords[ground])
        before = np.sqrt(np.mean(np.sum(u0[:, ground] * normal, axis=0) ** 2))
        after = np.sqrt(np.mean(np.sum(u[:, ground] * normal, axis=0) ** 2))
        ratios.append(after / before)
    assert ratios[-1] < 0.2, ratios
    assert ratios[0] / ratios[1] > 1.7 and ratios[1] / ratios[2] > 1.7, ratios


def test_wind_speeds_up_over_the_crest():
    hill = {"x": 1000.0, "y": 1000.0, "height": 150.0, "width": 250.0}
    model, u0 = model_and_ambient(0.2, hills=[hill], mesh_cells=[32, 32, 10])
    u, _, _ = model.adjust(u0)
    from pde_data.fem import locate_points
    from pde_data.observe import point_matrix

    z = 40.0  # metres above ground, upstream and on the crest
    pts = np.array([[150.0, 1000.0, z], [1000.0, 1000.0, 150.0 + z]])
    B = point_matrix(model.coords, model.cells, locate_points(model.mesh, pts), pts)
    speed = np.linalg.norm(B @ u.T, axis=1)
    ambient = np.linalg.norm(B @ u0.T, axis=1)
    assert abs(ambient[1] / ambient[0] - 1) < 0.02  # same profile at the same height
    assert speed[1] / speed[0] > 1.15, speed


SMALL = {
    "mesh_cells": [10, 10, 4],
    "grid": [6, 5, 3],
    "sensors": {"count": 8},
    "hills": [{"x": 900.0, "y": 1100.0, "height": 120.0, "width": 300.0}],
}


@pytest.fixture(scope="module")
def wind_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("wind") / "wind.h5"
    generate("wind", 6, path, seed=4, config=SMALL, progress=False)
    return path


def test_dataset_layout(wind_file):
    with h5py.File(wind_file) as f:
        assert f["inputs"].shape == (6, 24) and f["targets"].shape == (6, 3 * 90)
        assert list(f["grid/shape"][()]) == [3, 5, 6]
        targets = f["targets"][()].reshape(6, 3, 90)
        np.testing.assert_allclose(
            np.linalg.norm(targets, axis=1), f["samples/speed_grid"][()], rtol=1e-12
        )
        amb = f["samples/ambient"][()]
        assert np.all((amb[:, 0] >= 5) & (amb[:, 0] <= 15) & (amb[:, 2] >= 0.1))
        assert np.all(f["samples/iterations"][()] >= 1)
        clean, noisy = f["samples/obs_clean"][()], f["inputs"][()]
    rel = np.abs(noisy - clean).max(axis=1) / np.abs(clean).max(axis=1)
    assert np.all(rel > 0) and np.all(rel < 0.1)


def test_stored_operators_rebuild_the_targets_without_fenicsx(tmp_path):
    """Without the random perturbation a sample is fixed by (U_ref, theta, a): the file's
    terrain, mesh and operators alone (scipy) reproduce its targets and clean observations."""
    path = tmp_path / "steady.h5"
    generate("wind", 3, path, seed=1, config={**SMALL, "ambient": {"perturbation": 0.0}})
    with h5py.File(path) as f:
        ops = f["operators"]
        A, D = read_csr(ops, "stiffness"), read_csr(ops, "divergence")
        P, G, R = (read_csr(ops, k) for k in ("cell_mean", "cell_gradient", "recovery"))
        T, fixed = ops["T"][()], ops["dirichlet_dofs"][()]
        coords, hills = f["mesh/coordinates"][()], f["terrain/hills"][()]
        Bg, B = read_csr(f["grid"], "matrix"), read_csr(f["observation"], "matrix")
        amb, targets = f["samples/ambient"][()], f["targets"][()]
        clean, z_ref = f["samples/obs_clean"][()], f["prior"].attrs["reference_height"]
    h = sum(
        a * np.exp(-((coords[:, 0] - x) ** 2 + (coords[:, 1] - y) ** 2) / (2 * w**2))
        for x, y, a, w in hills
    )
    z_agl = np.maximum(coords[:, 2] - h, 0)
    free = np.setdiff1d(np.arange(len(coords)), fixed)
    nc = P.shape[0]
    for s, (speed, theta, a) in enumerate(amb):
        profile = speed * (z_agl / z_ref) ** a
        t = np.deg2rad(theta)
        u0 = np.stack([profile * np.cos(t), profile * np.sin(t), 0 * profile])
        lam = np.zeros(len(coords))
        lam[free] = spla.spsolve(A[free][:, free].tocsc(), -(D @ u0.ravel())[free])
        grad = (G @ lam).reshape(3, nc)
        u = np.stack([R @ (P @ u0[d] + T[d] * grad[d]) for d in range(3)])
        np.testing.assert_allclose((Bg @ u.T).T.ravel(), targets[s], atol=1e-7 * speed)
        np.testing.assert_allclose((B @ u.T).T.ravel(), clean[s], atol=1e-7 * speed)


@pytest.mark.mpi
def test_wind_file_is_the_same_on_two_ranks(wind_file, tmp_path):
    out = tmp_path / "p2.h5"
    sets = [
        "mesh_cells=[10,10,4]",
        "grid=[6,5,3]",
        "sensors.count=8",
        'hills=[{"x":900,"y":1100,"height":120,"width":300}]',
    ]
    args = ["generate", "wind", "--samples", "6", "--seed", "4", "--no-progress"]
    for s in sets:
        args += ["--set", s]
    r = run_cli(*args, "--out", str(out), ranks=2)
    assert r.returncode == 0, r.stderr
    with h5py.File(wind_file) as a, h5py.File(out) as b:
        for key in ("inputs", "targets", "samples/ambient"):
            assert np.array_equal(a[key][()], b[key][()]), key


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"hills": [{"x": 0, "y": 0, "height": 10, "width": 0}]}, "hills.width"),
        ({"ambient": {"speed": [15, 5]}}, "ambient.speed"),
        ({"mesh_cells": [10, 10]}, "mesh_cells: expected 3 entries"),
    ],
)
def test_bad_wind_configs_are_refused(config, fragment):
    with pytest.raises(ConfigError, match=fragment):
        from_dict(WindConfig, config)


@pytest.mark.parametrize(
    ("config", "fragment"),
    [({"sensor_height": 600.0}, "above the top"), ({"depth": 100.0}, "below the highest ground")],
)
def test_domain_too_low_is_refused(tmp_path, config, fragment):
    with pytest.raises(GenerationError, match=fragment):
        generate("wind", 2, tmp_path / "x.h5", config={**SMALL, **config})
    assert not (tmp_path / "x.h5").exists()


def test_constraint_term_vanishes_exactly_for_fields_meeting_the_discrete_constraints(tmp_path):
    """Phi_p of wind (weak divergence + flow through the ground, on the target grid): exactly
    zero for uniform horizontal flow over flat ground (divergence free, tangent to the
    ground, and reproduced exactly by the grid-to-mesh interpolation); a vertical flow, which
    crosses the ground, and the same horizontal flow over a hill are penalized."""
    import torch

    from sciml_grow.inverse.constraints import load_constraint

    def uniform(direction: int, n: int) -> torch.Tensor:
        t = torch.zeros(1, 3 * n, dtype=torch.float64)
        t[0, direction * n : (direction + 1) * n] = 7.0
        return t

    flat = tmp_path / "flat.h5"
    generate("wind", 2, flat, seed=1, config={**SMALL, "hills": []}, progress=False)
    c = load_constraint(flat)
    n = c.shape[1] // 3
    assert float(c.penalty(uniform(0, n))[0]) < 1e-26
    assert float(c.penalty(uniform(1, n))[0]) < 1e-26
    vertical = c.report(uniform(2, n))
    assert vertical["ground_flow"] > 0.1 and vertical["divergence"] < 1e-26
    hill = tmp_path / "hill.h5"
    generate("wind", 2, hill, seed=1, config=SMALL, progress=False)
    over_hill = load_constraint(hill).report(uniform(0, n))
    assert over_hill["ground_flow"] > 1e-3 and over_hill["divergence"] < 1e-26


def test_masts_with_two_heights_see_the_shear_exponent(tmp_path):
    """A mast with instruments at two heights measures the power-law exponent a single height
    cannot: on flat ground without perturbation every mast sees the same speed ratio, and it
    grows with the exponent (the nodal fields average cells, so it is not exactly (z2/z1)^a);
    the lower instruments read what single-height masts read."""
    flat = {
        **SMALL,
        "hills": [],
        "vertical_grading": 1.0,
        "mesh_cells": [8, 8, 10],  # levels every 50 m up to 500 m
        "ambient": {"perturbation": 0.0, "exponent": [0.05, 0.45]},
    }
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    for path, heights in ((one, 50.0), (two, [50.0, 100.0])):
        generate("wind", 4, path, seed=2, config={**flat, "sensor_height": heights}, progress=False)
    with h5py.File(one) as a, h5py.File(two) as b:
        masts = len(a["observation/points"])
        points = b["observation/points"][()]
        assert points.shape == (2 * masts, 3)
        np.testing.assert_array_equal(points[masts:, 2] - points[:masts, 2], 50.0)
        np.testing.assert_array_equal(b["observation/height_above_ground"][()], [50, 100])
        assert b["inputs"].shape == (4, 3 * 2 * masts)
        clean = b["samples/obs_clean"][()].reshape(4, 3, 2, masts)
        np.testing.assert_allclose(
            clean[:, :, 0], a["samples/obs_clean"][()].reshape(4, 3, masts), rtol=1e-9, atol=1e-9
        )
        speed = np.linalg.norm(clean, axis=1)  # (sample, height, mast)
        exponent = b["samples/ambient"][()][:, 2]
    log_ratio = np.log(speed[:, 1] / speed[:, 0])
    np.testing.assert_allclose(log_ratio, log_ratio[:, :1].repeat(masts, axis=1), rtol=1e-3)
    order = np.argsort(exponent)
    assert np.all(np.diff(log_ratio[order, 0]) > 0.01)


def test_repeated_sensor_heights_are_refused():
    with pytest.raises(ConfigError, match="sensor_height: must not repeat"):
        from_dict(WindConfig, {"sensor_height": [10.0, 10.0]})
