"""FEniCSx generators of PDE inverse-problem datasets (the only package that imports dolfinx).

Problems are found by name and imported only when asked for, so listing them needs no
FEniCSx: the built-in ones below, those other packages register under the entry-point group
``sciml_grow.problems``, or any :class:`pde_data.problem.Problem` subclass named as
``package.module:Class`` or ``path/to/file.py:Class`` (see ``examples/poisson_source.py``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from pathlib import Path
import sys

from sciml_grow.errors import InputError

PROBLEMS = {
    "heat": "pde_data.heat:HeatProblem",
    "navier_stokes": "pde_data.navier_stokes:NavierStokesProblem",
    "wind": "pde_data.wind:WindProblem",
}
ENTRY_POINT_GROUP = "sciml_grow.problems"


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


def registered() -> dict[str, str]:
    """Every problem known by a short name: built-in, then from installed entry points."""
    found = dict(PROBLEMS)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name.lower().replace("-", "_"), ep.value)
    return found


def problem_name(name: str) -> str:
    """The registered name of a problem, in any case and with hyphens for underscores."""
    key = name.strip().lower().replace("-", "_")
    known = registered()
    if key not in known:
        raise InputError(
            f"unknown problem {name!r} (available: {', '.join(sorted(known))}; or give "
            "your own as package.module:Class or file.py:Class)"
        )
    return key


def get_problem(spec: str | type) -> type:
    """The Problem class for a registered name (see :func:`problem_name`), an import path
    ``package.module:Class`` / ``path/to/file.py:Class``, or a Problem subclass itself."""
    from pde_data.problem import Problem

    if isinstance(spec, type):
        cls = spec
    else:
        target = spec if ":" in spec else registered()[problem_name(spec)]
        cls = _load(target)
    if not (isinstance(cls, type) and issubclass(cls, Problem)):
        raise InputError(f"{spec!r} is not a pde_data.problem.Problem subclass")
    for attr in ("name", "config_class"):
        if not hasattr(cls, attr):
            raise InputError(f"problem {cls.__name__} must set the class attribute {attr!r}")
    return cls


def _load(target: str) -> type:
    """``module:attr`` or ``file.py:attr`` -> the attribute (ValueError naming what failed)."""
    module_name, _, attr = target.rpartition(":")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name).resolve()
            if not path.is_file():
                raise InputError(f"problem file {module_name} does not exist")
            name = f"sciml_grow_user_problem_{path.stem}"
            module = sys.modules.get(name)
            if module is None:
                loader = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(loader)
                sys.modules[name] = module
                loader.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"cannot import the problem module {module_name}: {exc}") from None
    if not hasattr(module, attr):
        raise InputError(f"{module_name} has no {attr!r} (the problem class to generate)")
    return getattr(module, attr)
