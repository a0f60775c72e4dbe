"""FEniCSx generators of PDE inverse-problem datasets (the only package that imports dolfinx).

Problems register here by name and are imported only when asked for, so listing them needs
no FEniCSx.
"""

from __future__ import annotations

import importlib

PROBLEMS = {
    "heat": "pde_data.heat:HeatProblem",
    "navier_stokes": "pde_data.navier_stokes:NavierStokesProblem",
    "wind": "pde_data.wind:WindProblem",
}


def require_fenicsx() -> str:
    """dolfinx's version, or ImportError saying how to get FEniCSx."""
    try:
        from mpi4py import MPI  # noqa: F401  (before dolfinx: loads the MPI library)
        import dolfinx
    except ImportError as exc:
        raise ImportError(
            f"generating data needs FEniCSx (dolfinx >= 0.10), which is not importable here "
            f"({exc}); run 'make setup'"
        ) from None
    return dolfinx.__version__


def problem_name(name: str) -> str:
    """The registered name of a problem, in any case and with hyphens for underscores."""
    key = name.strip().lower().replace("-", "_")
    if key not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r} (available: {', '.join(sorted(PROBLEMS))})")
    return key


def get_problem(name: str) -> type:
    """The Problem class registered as ``name`` (see :func:`problem_name`)."""
    module, _, cls = PROBLEMS[problem_name(name)].partition(":")
    return getattr(importlib.import_module(module), cls)
