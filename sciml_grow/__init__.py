"""sciml_grow: networks that grow in depth while training, for PDE inverse problems.

Imports and trains without FEniCSx; datasets come from :mod:`pde_data` through one HDF5 file
(see :mod:`sciml_grow.format`).
"""

__version__ = "0.1.0"
