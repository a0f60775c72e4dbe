"""Dataset generation speed: samples/s on 1 and 2 ranks, the 2-rank speed-up, and (heat) the
ratio to a plain dolfinx loop that builds the problem afresh for every sample.

All figures come from one run of this script, side by side (machines are noisy). Rates count
the sample loop only (the file's ``runs`` record), not interpreter start-up and setup, which
are reported separately. Targets: heat >= 1,000 samples/s per core (issue 2); 2-rank speed-up
>= 1.8 for every problem.

    .venv/bin/python benchmarks/generation.py [--problem heat] [--samples 40000] [--plain 300]
    .venv/bin/python benchmarks/generation.py --problem navier_stokes --samples 40 --plain 0
    .venv/bin/python benchmarks/generation.py --problem wind --samples 1000

Problems that store ``samples/iterations`` (wind: CG + GAMG) also get their solver iterations
per sample.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import subprocess
import sys
import tempfile
import time

from mpi4py import MPI
from dolfinx import fem, mesh
from dolfinx.fem.petsc import LinearProblem
import h5py
import numpy as np
import ufl

from pde_data.fem import canonical_permutation
from pde_data.heat import HeatConfig, HeatModel
from pde_data.prior import MaternSPDEPrior

BIN = Path(sys.executable).parent


def generated_rate(
    problem: str, ranks: int, samples: int, workdir: Path
) -> tuple[float, float, float, np.ndarray | None]:
    """(loop samples/s, loop seconds, wall seconds, solver iterations per sample or None) of
    one `sciml-grow generate` run."""
    out = workdir / f"{problem}_{ranks}.h5"
    cmd = [
        str(BIN / "mpiexec"),
        "-n",
        str(ranks),
        str(BIN / "sciml-grow"),
        "generate",
        problem,
        "--samples",
        str(samples),
        "--out",
        str(out),
        "--no-progress",
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    with h5py.File(out) as f:
        run = json.loads(f.attrs["runs"])[-1]
        its = f["samples/iterations"][()] if "iterations" in f["samples"] else None
    return samples / run["seconds"], run["seconds"], wall, its


def plain_dolfinx_rate(samples: int) -> float:
    """Samples/s of the obvious loop: new mesh, space, forms, BC and LinearProblem per sample."""
    cfg = HeatConfig()
    ref = HeatModel(cfg.mesh_cells)
    perm = canonical_permutation(ref.V)
    prior = MaternSPDEPrior(ref.V, cfg.prior, perm)
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for i in range(samples):
        msh = mesh.create_unit_square(MPI.COMM_SELF, cfg.mesh_cells, cfg.mesh_cells)
        V = fem.functionspace(msh, ("Lagrange", 1))
        m = fem.Function(V)
        m.x.array[:] = prior.sample(rng.standard_normal(perm.size))[canonical_permutation(V)]
        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        dx = ufl.Measure("dx", metadata={"quadrature_degree": cfg.quadrature_degree})
        walls = mesh.locate_entities_boundary(
            msh, 1, lambda x: np.isclose(x[0], 0) | np.isclose(x[0], 1) | np.isclose(x[1], 0)
        )
        bc = fem.dirichletbc(0.0, fem.locate_dofs_topological(V, 1, walls), V)
        problem = LinearProblem(
            ufl.exp(m) * ufl.inner(ufl.grad(u), ufl.grad(v)) * dx,
            cfg.source * v * dx,
            bcs=[bc],
            petsc_options={"ksp_type": "preonly", "pc_type": "lu"},
            petsc_options_prefix=f"plain{i}_",
        )
        problem.solve()
    return samples / (time.perf_counter() - t0)


def forms_stepping_rate(samples: int) -> tuple[float, float, float]:
    """Navier–Stokes, one rank: (samples/s with the UFL forms assembled every step, the time
    stepping before issue 16; samples/s of the generator's stepping on the same draws, in the
    same process; largest difference of w(T) between the two, relative to max |w(T)|)."""
    from pde_data.fem import to_canonical
    from pde_data.navier_stokes import (
        NavierStokesConfig,
        NavierStokesProblem,
        VorticityModel,
        sine_series,
    )

    cfg = NavierStokesConfig()
    problem = NavierStokesProblem(cfg)
    fast = problem.model
    forms = VorticityModel(
        cfg.mesh_cells, fast.nu, fast.dt, fast.steps, cfg.forcing, cfg.advection, stepping="forms"
    )
    rng = np.random.default_rng(0)
    std = problem.coeff_std
    draws = [std * rng.standard_normal(std.shape) for _ in range(samples)]
    w0s = [sine_series(c, problem.coords) for c in draws]
    rates, finals = [], []
    for model in (forms, fast):
        perm = canonical_permutation(model.V)
        t0 = time.perf_counter()
        finals.append([to_canonical(model.run(w0[perm]), perm) for w0 in w0s])
        rates.append(samples / (time.perf_counter() - t0))
    diff = max(np.abs(a - b).max() / np.abs(a).max() for a, b in zip(*finals, strict=True))
    return rates[0], rates[1], diff


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--problem", default="heat")
    p.add_argument("--samples", type=int, default=40000)
    p.add_argument(
        "--plain",
        type=int,
        default=300,
        help="samples for the comparison loop: heat, a plain dolfinx loop; navier_stokes, the "
        "time stepping with UFL forms assembled every step",
    )
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        r1, s1, w1, its = generated_rate(args.problem, 1, args.samples, Path(tmp))
        r2, s2, w2, _ = generated_rate(args.problem, 2, args.samples, Path(tmp))
    print(
        f"{args.problem}, default config, {args.samples} samples "
        "(loop time; wall time incl. start-up in brackets)"
    )
    print(f"  1 rank : {r1:8.1f} samples/s  ({s1:.2f} s loop, {w1:.2f} s wall)")
    print(
        f"  2 ranks: {r2:8.1f} samples/s  ({s2:.2f} s loop, {w2:.2f} s wall)"
        f"  = {r2 / 2:.1f} samples/s per core"
    )
    print(f"  2-rank speed-up             : {r2 / r1:.2f}x   (target >= 1.8)")
    if its is not None:
        print(
            f"  solver iterations per sample: mean {its.mean():.1f}, "
            f"min {its.min():.0f}, max {its.max():.0f}"
        )
    if args.problem == "heat" and args.plain > 0:
        plain = plain_dolfinx_rate(args.plain)
        print(f"  plain dolfinx loop, 1 rank  : {plain:8.1f} samples/s")
        print(f"  generator / plain loop      : {r1 / plain:.1f}x")
    if args.problem == "navier_stokes" and args.plain > 0:
        forms, fast, diff = forms_stepping_rate(args.plain)
        print(f"  time stepping alone, 1 rank, {args.plain} samples:")
        print(f"    UFL forms each step (before): {forms:8.2f} samples/s")
        print(f"    numpy operators + BiCGSTAB  : {fast:8.2f} samples/s  = {fast / forms:.1f}x")
        print(f"    largest |w(T) difference| / max |w(T)|: {diff:.1e}")
    if args.problem == "navier_stokes":
        print(f"  generator per core, 2 ranks : {r2 / 2:.2f} samples/s   (target >= 5)")


if __name__ == "__main__":
    main()
