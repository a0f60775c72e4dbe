"""What every PDE problem provides to the generic writer in :mod:`pde_data.generate`.

A problem is physics only: it builds its solver once per rank (on MPI.COMM_SELF, since
samples, not meshes, are spread over ranks), says which per-sample arrays it produces, hands
over its static metadata, and computes one sample from its index-derived random stream.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np


class Problem(ABC):
    """Base class of the dataset problems (heat, navier_stokes, wind)."""

    name: ClassVar[str]
    config_class: ClassVar[type]

    def __init__(self, config: Any):
        self.config = config

    @abstractmethod
    def sample_fields(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """Per-sample arrays: name -> (shape of one sample, dtype). Must hold ``inputs`` and
        ``targets``; the rest are stored under ``samples/``."""

    @abstractmethod
    def metadata(self) -> dict[str, Any]:
        """Static content of the file (mesh, sensors, noise, prior, operators) as a tree for
        :func:`sciml_grow.format.write_tree`."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Compute one sample; all its randomness comes from ``rng``."""

    # settings that most often make a sample non-finite, named in the error
    nonfinite_hint: ClassVar[str] = "check the problem's physical parameters"

    @classmethod
    def memory_estimate(cls, config: Any) -> float:
        """Rough bytes one rank needs for the solver of ``config`` (checked before setup)."""
        return 0.0

    def versions(self) -> dict[str, str]:
        """Versions of the libraries that produced the data."""
        import dolfinx
        import h5py
        import petsc4py
        import scipy

        from sciml_grow._version import __version__

        return {
            "sciml_grow": __version__,
            "dolfinx": dolfinx.__version__,
            "petsc4py": petsc4py.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "h5py": h5py.__version__,
        }
