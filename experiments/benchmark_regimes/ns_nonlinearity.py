"""How far from linear is the Navier-Stokes map w0 -> w(T)? For a few prior draws, the
response R(w0) = w(T; w0) - w(T; 0) (the forcing's own flow removed) against twice the
response to w0 / 2: |R(w0) - 2 R(w0 / 2)| / |R(w0)| is 0 for a linear map. Also the share of
w(T) that the forcing makes. Used to choose ns-advective's knobs (README.md).

    .venv/bin/python experiments/benchmark_regimes/ns_nonlinearity.py
"""

from __future__ import annotations

from mpi4py import MPI  # noqa: F401  (before dolfinx)
import numpy as np

from pde_data.navier_stokes import (
    NavierStokesConfig,
    NavierStokesProblem,
    SinePriorConfig,
    sine_series,
    to_canonical,
)

SETTINGS = [  # (final_time, prior scale; None: ns-reduced's default, tau^((alpha - 1) / 2))
    (5.0, None),
    (5.0, 43.0),
    (5.0, 100.0),
    (2.0, 100.0),
    (2.0, 200.0),
    (2.0, 300.0),
]


def main(draws: int = 4) -> None:
    for final_time, scale in SETTINGS:
        problem = NavierStokesProblem(
            NavierStokesConfig(final_time=final_time, prior=SinePriorConfig(scale=scale))
        )
        perm = problem.perm

        def run(w0: np.ndarray, p: NavierStokesProblem = problem) -> np.ndarray:
            return to_canonical(p.model.run(w0[p.perm]), p.perm)

        rng = np.random.default_rng(0)
        forced = run(np.zeros(len(perm)))
        departure, forcing_share = [], []
        for _ in range(draws):
            w0 = sine_series(problem.coeff_std * rng.standard_normal(problem.coeff_std.shape),
                             problem.coords)  # fmt: skip
            response = run(w0) - forced
            half = run(0.5 * w0) - forced
            departure.append(np.linalg.norm(response - 2 * half) / np.linalg.norm(response))
            forcing_share.append(np.linalg.norm(forced) / np.linalg.norm(response))
        print(
            f"T = {final_time}, prior scale {scale or 'default'}: departure from linear "
            f"{np.mean(departure):.3f}, |forced flow| / |response| {np.mean(forcing_share):.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
